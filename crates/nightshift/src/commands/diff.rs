//! `nightshift diff SHIFT JOB`: what a job's branch changed.

use std::sync::Arc;

use crate::cli::DiffArgs;

pub async fn run(a: DiffArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.work.config.config)?;
    let store = super::open_store(&config).await?;
    let layout = super::run::layout(&config, &a.work);
    let store: Arc<dyn nightshift_store::Backend> = store;
    let diff = nightshift_factory::job_diff(store.as_ref(), &layout, &a.shift, &a.job).await?;
    if a.work.json {
        println!(
            "{}",
            serde_json::json!({"shift": a.shift, "job": a.job, "diff": diff})
        );
    } else {
        print!("{diff}");
    }
    Ok(())
}
