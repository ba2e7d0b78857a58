//! `nightshift status [SHIFT]`.

use nightshift_store::FactoryStore;
use serde_json::json;

use crate::cli::StatusArgs;

pub async fn run(a: StatusArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.config.config)?;
    let store = super::open_store(&config).await?;
    match a.shift {
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
