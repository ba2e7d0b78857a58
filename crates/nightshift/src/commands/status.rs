//! `nightshift status [SHIFT]`.

use nightshift_store::FactoryStore;
use serde_json::json;

use crate::cli::StatusArgs;

pub async fn run(a: StatusArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.config.config)?;
    let store = super::open_store(&config).await?;
    match a.shift {
        Some(shift) if a.watch => watch(store.as_ref(), &shift, a.json).await,
        Some(shift) => {
            let report = nightshift_factory::report(store.as_ref(), &shift).await?;
            super::run::print_report(&report, a.json)
        }
        None => {
            let shifts = store.shifts().await?;
            if a.json {
                let rows: Vec<_> = shifts.iter().map(|s| json!({"shift": s.name, "state": s.state, "spec": s.spec_path, "created_ms": s.created_ms, "finished_ms": s.finished_ms})).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"shifts": rows}))?
                );
            } else {
                println!("{:<24} {:<10} spec", "shift", "state");
                for s in shifts {
                    println!("{:<24} {:<10} {}", s.name, s.state, s.spec_path);
                }
            }
            Ok(())
        }
    }
}

/// `nightshift status SHIFT --watch`: the shift's jobs as the floor shows them, every second,
/// until the shift finishes or Ctrl-C.
async fn watch(
    store: &dyn nightshift_store::Backend,
    shift: &str,
    json: bool,
) -> anyhow::Result<()> {
    use nightshift_meter::format_usd;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = super::shutdown_signal() => return Ok(()),
        }
        let Some(row) = store.shift(shift).await? else {
            return Err(crate::BadInput(format!(
                "no shift named `{shift}` in this store (see `nightshift status`)"
            ))
            .into());
        };
        let finished = row.state == nightshift_store::ShiftState::Finished;
        let d = nightshift_floor::shift_detail(store, row, 0, 1000).await?;
        if json {
            println!("{}", serde_json::to_string(&d)?);
        } else {
            // Clear the screen and draw from the top.
            print!("\x1b[2J\x1b[H");
            let paused = d
                .shift
                .paused
                .as_ref()
                .map(|p| format!(" · PAUSED by {}", p.by))
                .unwrap_or_default();
            println!(
                "shift {} ({}{paused}) · {} jobs · {} iterations · {} accepted · {} defects · {} of {}",
                d.shift.name,
                d.shift.state,
                d.shift.jobs_total,
                d.shift.iterations,
                d.shift.accepted,
                d.shift.defects,
                format_usd(d.shift.spent_nanos),
                format_usd(d.shift.budget_nanos)
            );
            println!(
                "{:<24} {:<18} {:>5} {:>8} {:>7} {:>10}  stop",
                "job", "state", "iter", "accepted", "defects", "dollars"
            );
            for j in &d.jobs_page {
                let state = match (&j.paused, &j.killed, j.state) {
                    (_, _, nightshift_store::JobState::Finished) => j.state.to_string(),
                    (_, Some(_), _) => "killing".to_string(),
                    (Some(_), _, _) => "paused".to_string(),
                    _ => j.state.to_string(),
                };
                println!(
                    "{:<24} {:<18} {:>5} {:>8} {:>7} {:>10}  {}",
                    j.name,
                    state,
                    j.iteration,
                    j.accepted,
                    j.defects,
                    format_usd(j.spent_nanos),
                    j.stop_reason.map(|r| r.to_string()).unwrap_or_default()
                );
            }
            for a in d.needs_attention.iter().take(10) {
                println!("! {} {}: {}", a.job, a.kind, a.reason);
            }
        }
        if finished {
            return Ok(());
        }
    }
}
