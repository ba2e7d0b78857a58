//! `nightshift token create | list | revoke`.

use std::collections::HashMap;

use nightshift_meter::{format_usd, parse_usd};
use nightshift_store::{FloorTokenStore, LedgerStore, TokenStore};
use serde_json::json;

use crate::BadInput;
use crate::cli::{TokenCreateArgs, TokenListArgs, TokenRevokeArgs};

pub async fn create(a: TokenCreateArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.config.config)?;
    if let Some(role) = a.floor {
        return create_floor(&config, role, &a.label, a.json).await;
    }
    let budget_text = a.budget_usd.as_deref().unwrap_or_default();
    let budget = parse_usd(budget_text).map_err(|e| BadInput(format!("--budget-usd: {e}")))?;
    if budget < 0 {
        return Err(BadInput("--budget-usd: a budget cannot be negative".into()).into());
    }
    if a.label.trim().is_empty() {
        return Err(
            BadInput("--label: give the token a label saying what it is for".into()).into(),
        );
    }
    let store = super::open_store(&config).await?;
    let now = nightshift_clock::now_ms();
    let expires = a.expires_in_secs.map(|s| now + (s as i64) * 1000);
    let minted = nightshift_gateway::mint(
        store.as_ref(),
        &a.label,
        budget,
        a.parent.as_deref(),
        expires,
        now,
    )
    .await
    .map_err(|e| match e {
        nightshift_store::StoreError::Invalid(m) => {
            anyhow::Error::new(BadInput(format!("--parent: {m}")))
        }
        other => other.into(),
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&minted)?);
    } else {
        println!("{}", minted.token);
        eprintln!(
            "token {} ({}) with a budget of {}; the secret above is shown only once",
            minted.record.id,
            minted.record.label,
            format_usd(budget)
        );
    }
    Ok(())
}

async fn create_floor(
    config: &nightshift_spec::Config,
    role: crate::cli::FloorRoleArg,
    label: &str,
    json: bool,
) -> anyhow::Result<()> {
    if label.trim().is_empty() {
        return Err(BadInput("--label: say whose floor token this is".into()).into());
    }
    let role = match role {
        crate::cli::FloorRoleArg::Viewer => nightshift_store::FloorRole::Viewer,
        crate::cli::FloorRoleArg::Operator => nightshift_store::FloorRole::Operator,
    };
    let store = super::open_store(config).await?;
    let minted =
        nightshift_floor::mint_floor_token(store.as_ref(), role, label, nightshift_clock::now_ms())
            .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&minted)?);
    } else {
        println!("{}", minted.token);
        eprintln!(
            "floor token {} ({}, {role}); the secret above is shown only once",
            minted.record.id, minted.record.label
        );
    }
    Ok(())
}

pub async fn list(a: TokenListArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.config.config)?;
    let store = super::open_store(&config).await?;
    let tokens = store.tokens().await?;
    let spent: HashMap<String, i64> = store.spent_by_token().await?.into_iter().collect();
    if a.json {
        let rows: Vec<_> = tokens
            .iter()
            .map(|t| {
                let s = spent.get(&t.id).copied().unwrap_or(0);
                json!({
                    "id": t.id, "label": t.label, "parent_id": t.parent_id,
                    "budget_nanos": t.budget_nanos, "own_spent_nanos": s,
                    "expires_ms": t.expires_ms, "revoked_ms": t.revoked_ms,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "tokens": rows }))?
        );
        return Ok(());
    }
    println!(
        "{:<22} {:<24} {:<22} {:>14} {:>14}  state",
        "id", "label", "parent", "budget", "own spend"
    );
    for t in &tokens {
        let state = if t.revoked_ms.is_some() {
            "revoked"
        } else {
            "active"
        };
        println!(
            "{:<22} {:<24} {:<22} {:>14} {:>14}  {state}",
            t.id,
            t.label,
            t.parent_id.as_deref().unwrap_or("-"),
            format_usd(t.budget_nanos),
            format_usd(spent.get(&t.id).copied().unwrap_or(0)),
        );
    }
    Ok(())
}

pub async fn revoke(a: TokenRevokeArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.config.config)?;
    let store = super::open_store(&config).await?;
    let now = nightshift_clock::now_ms();
    let floor = store.floor_tokens().await?.iter().any(|t| t.id == a.id);
    if !floor && store.token(&a.id).await?.is_none() {
        return Err(BadInput(format!(
            "no token with id `{}` (see `nightshift token list`)",
            a.id
        ))
        .into());
    }
    let changed = if floor {
        store.revoke_floor_token(&a.id, now).await?
    } else {
        store.revoke_token(&a.id, now).await?
    };
    if a.json {
        println!(
            "{}",
            json!({"id": a.id, "revoked": true, "already_revoked": !changed})
        );
    } else if changed {
        println!("revoked {}", a.id);
    } else {
        println!("{} was already revoked", a.id);
    }
    Ok(())
}
