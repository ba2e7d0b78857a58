//! `nightshift ledger`: totals of the ledger, grouped.

use nightshift_meter::format_usd;
use nightshift_store::{FactoryStore, GroupBy, LedgerStore, SqliteStore, TotalRow};
use serde_json::json;

use crate::cli::{By, LedgerArgs};

pub async fn run(a: LedgerArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.config.config)?;
    let store = super::open_store(&config).await?;
    let by = match a.by {
        By::Job => {
            let Some(shift) = a.shift.as_deref() else {
                return Err(crate::BadInput("--by job needs --shift SHIFT".into()).into());
            };
            return by_job(&store, shift, a.json).await;
        }
        _ if a.shift.is_some() => {
            return Err(crate::BadInput("--shift goes with --by job".into()).into());
        }
        By::Token => GroupBy::Token,
        By::Model => GroupBy::Model,
        By::Label => GroupBy::Label,
        By::Outcome => GroupBy::Outcome,
    };
    let rows = store.totals(by).await?;
    let total = rows.iter().fold(TotalRow::zero("total"), |mut t, r| {
        t.add(r);
        t
    });
    if a.json {
        let with_usd = |r: &TotalRow| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["settled_usd"] = json!(format_usd(r.settled_nanos));
            v
        };
        let out = json!({
            "by": by,
            "rows": rows.iter().map(with_usd).collect::<Vec<_>>(),
            "total": with_usd(&total),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let head = format!("{by:?}").to_lowercase();
    println!(
        "{:<32} {:>6} {:>10} {:>9} {:>9} {:>9} {:>9} {:>14}",
        head, "calls", "input", "cached", "c.write", "output", "reason.", "dollars"
    );
    for r in rows.iter().chain(std::iter::once(&total)) {
        println!(
            "{:<32} {:>6} {:>10} {:>9} {:>9} {:>9} {:>9} {:>14}",
            r.key,
            r.calls,
            r.input_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.output_tokens,
            r.reasoning_tokens,
            format_usd(r.settled_nanos)
        );
    }
    Ok(())
}

async fn by_job(store: &SqliteStore, shift: &str, json: bool) -> anyhow::Result<()> {
    if store.shift(shift).await?.is_none() {
        return Err(crate::BadInput(format!(
            "no shift named `{shift}` in this store (see `nightshift status`)"
        ))
        .into());
    }
    let rows = store.spend_by_job(shift).await?;
    let total: i64 = rows.iter().map(|r| r.settled_nanos).sum();
    if json {
        let out = json!({
            "shift": shift,
            "by": "job",
            "rows": rows.iter().map(|r| json!({
                "key": r.job, "calls": r.calls, "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens, "settled_nanos": r.settled_nanos,
                "settled_usd": format_usd(r.settled_nanos),
            })).collect::<Vec<_>>(),
            "total": {"settled_nanos": total, "settled_usd": format_usd(total)},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<32} {:>6} {:>10} {:>9} {:>14}",
        "job", "calls", "input", "output", "dollars"
    );
    for r in &rows {
        println!(
            "{:<32} {:>6} {:>10} {:>9} {:>14}",
            r.job,
            r.calls,
            r.input_tokens,
            r.output_tokens,
            format_usd(r.settled_nanos)
        );
    }
    println!(
        "{:<32} {:>6} {:>10} {:>9} {:>14}",
        "total",
        rows.iter().map(|r| r.calls).sum::<i64>(),
        rows.iter().map(|r| r.input_tokens).sum::<i64>(),
        rows.iter().map(|r| r.output_tokens).sum::<i64>(),
        format_usd(total)
    );
    Ok(())
}
