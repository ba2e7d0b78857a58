//! Running a shift: the in-process gateway, the shift's token, and the scheduler.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use nightshift_gateway::GatewayState;
use nightshift_meter::Price;
use nightshift_spec::{Config, ShiftSpec};
use nightshift_store::{JobRow, ShiftRow, StateChange, Store};

use crate::error::FactoryError;
use crate::job::{self, JobCtx};
use crate::layout::Layout;
use crate::report::{ShiftReport, report};

/// Everything the factory needs from a store: the gateway's domains and its own.
pub trait FactoryStore: Store + nightshift_store::FactoryStore {}
impl<T: Store + nightshift_store::FactoryStore> FactoryStore for T {}

/// What a job is doing, for a live display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Working,
    Gating,
    Accepted,
    Rejected,
    Finished { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub job: String,
    pub iteration: u32,
    pub max_iterations: u32,
    pub phase: Phase,
    pub accepted: u32,
    pub defects: u32,
    pub spent_nanos: i64,
}

pub struct Options {
    pub layout: Layout,
    /// Live progress, if someone is watching.
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
    /// A running `nightshift gateway` on the same store to use (e.g.
    /// `http://127.0.0.1:8787`); `None` starts one in-process for the shift.
    pub gateway_url: Option<String>,
}

/// Shared by every job of a running shift.
pub(crate) struct ShiftCtx {
    pub spec: ShiftSpec,
    pub store: Arc<dyn FactoryStore>,
    /// The in-process gateway, or `None` when a running one is used.
    pub gateway: Option<Arc<GatewayState>>,
    pub gateway_v1: String,
    pub shift_token_id: String,
    pub layout: Layout,
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
    pub min_call_nanos: i64,
}

impl ShiftCtx {
    pub fn report(&self, p: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(p);
        }
    }

    /// What a job's token has spent, and what it may still spend: the least of its own
    /// budget and the shift's. From the in-process gateway's budgets (reservations in
    /// flight included) or, with a running gateway, from the ledger.
    pub async fn budget(
        &self,
        token_id: &str,
        token_budget: i64,
    ) -> Result<(i64, i64), FactoryError> {
        if let Some(g) = &self.gateway {
            // The job's token is a child of the shift's: its view's `left` is the least of
            // the two budgets.
            return Ok(g.budget_of(token_id).map_or((0, 0), |b| (b.spent, b.left)));
        }
        // Read for every progress report: the store's reads copy in only what the running
        // gateway has journalled since the last read, so this stays cheap.
        let by_token: std::collections::HashMap<String, i64> =
            self.store.spent_by_token().await?.into_iter().collect();
        let spent = by_token.get(token_id).copied().unwrap_or(0);
        let shift_spent: i64 = self
            .store
            .spend_by_job(&self.spec.name)
            .await?
            .iter()
            .map(|j| j.settled_nanos)
            .sum();
        Ok((
            spent,
            (token_budget - spent).min(self.spec.shift_nanos - shift_spent),
        ))
    }
}

pub(crate) use nightshift_clock::now_ms;

/// Check the spec against the configuration before anything runs.
fn preflight(config: &Config, spec: &ShiftSpec) -> Result<i64, FactoryError> {
    let book = nightshift_meter::PriceBook::builtin();
    let date = nightshift_clock::today();
    let mut min_call = 0;
    for job in &spec.jobs {
        if let Some(cli) = crate::worker::cli(job.worker) {
            crate::external::resolve(cli).map_err(|e| {
                FactoryError::Invalid(format!("{}: job `{}`: {e}", spec.file.display(), job.name))
            })?;
        }
        let Some(model) = config.model(&job.model) else {
            let names: Vec<_> = config.models.iter().map(|m| m.name.as_str()).collect();
            return Err(FactoryError::Invalid(format!(
                "{}: job `{}` asks for model `{}`, which {} does not configure (configured: {})",
                spec.file.display(),
                job.name,
                job.model,
                config.file.display(),
                names.join(", ")
            )));
        };
        let price = book
            .resolve(model, &date)
            .map_err(|e| FactoryError::Invalid(e.to_string()))?;
        // The smallest call an iteration makes: the system prompt and a little context.
        let tokens = u64::from(config.gateway.input_overhead_tokens) + 4096;
        let cost = Price::tokens_cost(tokens, price.price.worst_input())
            + Price::tokens_cost(1, price.price.worst_output());
        min_call = min_call.max(cost);
    }
    Ok(min_call)
}

/// Run (or resume) a shift to the end and return its report.
pub async fn run_shift(
    config: &Config,
    spec: ShiftSpec,
    store: Arc<dyn FactoryStore>,
    options: Options,
) -> Result<ShiftReport, FactoryError> {
    let name = spec.name.clone();
    if let Some(existing) = store.shift(&name).await?
        && existing.state == "finished"
    {
        tracing::info!(shift = %name, "Shift already finished; reporting it.");
        return report(store.as_ref(), &name).await;
    }
    let min_call_nanos = preflight(config, &spec)?;
    let progress = options.progress;
    let layout = options.layout;
    if let Some(url) = options.gateway_url {
        // A running gateway on the same store: it picks up the tokens minted here on
        // their first call; this process never touches its calls in flight.
        let base = url.trim_end_matches('/');
        let v1 = if base.ends_with("/v1") {
            base.to_string()
        } else {
            format!("{base}/v1")
        };
        let link = GatewayLink { state: None, v1 };
        run_jobs(spec, store.clone(), link, layout, progress, min_call_nanos).await?;
        return report(store.as_ref(), &name).await;
    }
    let gateway = nightshift_gateway::build(config, store.clone() as Arc<dyn Store>)
        .await
        .map_err(|e| FactoryError::Gateway(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| FactoryError::Gateway(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| FactoryError::Gateway(e.to_string()))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let serving = {
        let g = gateway.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "the in-process gateway serves until the shift ends; awaited below"
        )]
        tokio::spawn(nightshift_gateway::serve(g, listener, async {
            let _ = stop_rx.await;
        }))
    };
    let link = GatewayLink {
        state: Some(gateway),
        v1: format!("http://{addr}/v1"),
    };
    let result = run_jobs(spec, store.clone(), link, layout, progress, min_call_nanos).await;
    let _ = stop_tx.send(());
    match serving.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "The in-process gateway stopped with an error."),
        Err(e) => tracing::warn!(error = %e, "The in-process gateway task failed."),
    }
    result?;
    report(store.as_ref(), &name).await
}

/// The gateway a shift's agents call: this process's own, or a running one.
struct GatewayLink {
    state: Option<Arc<GatewayState>>,
    v1: String,
}

async fn run_jobs(
    spec: ShiftSpec,
    store: Arc<dyn FactoryStore>,
    link: GatewayLink,
    layout: Layout,
    progress: Option<mpsc::UnboundedSender<Progress>>,
    min_call_nanos: i64,
) -> Result<(), FactoryError> {
    let name = spec.name.clone();
    let existing = store.shift(&name).await?;
    let spec_json = serde_json::to_string(&spec).unwrap_or_default();
    let shift_token_id = match existing.as_ref().and_then(|s| s.token_id.clone()) {
        Some(id) => id,
        None => {
            let minted = nightshift_gateway::mint(
                store.as_ref(),
                &name,
                spec.shift_nanos,
                None,
                None,
                now_ms(),
            )
            .await?;
            if let Some(g) = &link.state {
                g.register(&minted.record);
            }
            let row = ShiftRow {
                name: name.clone(),
                spec_path: spec.file.display().to_string(),
                spec_json: spec_json.clone(),
                token_id: Some(minted.record.id.clone()),
                state: "running".into(),
                created_ms: now_ms(),
                finished_ms: None,
            };
            let mut changes = vec![StateChange::Shift(row)];
            for j in &spec.jobs {
                changes.push(StateChange::Job(JobRow {
                    shift: name.clone(),
                    name: j.name.clone(),
                    source: j.source.clone(),
                    branch: spec.branch_for(&j.name),
                    worktree: None,
                    state: "pending".into(),
                    stop_reason: None,
                    stop_detail: None,
                    iterations: 0,
                    accepted: 0,
                    defects: 0,
                    base_sha: None,
                    head_sha: None,
                    started_ms: None,
                    finished_ms: None,
                    landing: None,
                }));
            }
            let data = json!({"jobs": spec.jobs.len(), "budget_nanos": spec.shift_nanos, "concurrency": spec.concurrency});
            store
                .record(&name, None, "shift_started", &data, now_ms(), &changes)
                .await?;
            minted.record.id
        }
    };
    if existing.is_some() {
        store
            .record(&name, None, "shift_resumed", &json!({}), now_ms(), &[])
            .await?;
    }
    let ctx = Arc::new(ShiftCtx {
        spec,
        store: store.clone(),
        gateway: link.state,
        gateway_v1: link.v1,
        shift_token_id,
        layout,
        progress,
        min_call_nanos,
    });

    let permits = Arc::new(Semaphore::new(ctx.spec.concurrency));
    let rows = store.jobs(&name).await?;
    let mut set = JoinSet::new();
    for job in ctx.spec.jobs.clone() {
        let Some(row) = rows.iter().find(|r| r.name == job.name).cloned() else {
            continue;
        };
        if row.state == "finished" {
            continue;
        }
        ctx.report(Progress {
            job: job.name.clone(),
            iteration: row.iterations as u32,
            max_iterations: job.max_iterations,
            phase: Phase::Waiting,
            accepted: row.accepted as u32,
            defects: row.defects as u32,
            spent_nanos: 0,
        });
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| FactoryError::Invalid(e.to_string()))?;
        let job_ctx = JobCtx {
            shift: ctx.clone(),
            spec: job,
            row,
        };
        set.spawn(async move {
            let out = job::run(job_ctx).await;
            drop(permit);
            out
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "A job failed outside its loop."),
            Err(e) => tracing::error!(error = %e, "A job task panicked."),
        }
    }
    let all_done = store
        .jobs(&name)
        .await?
        .iter()
        .all(|j| j.state == "finished");
    if all_done && let Some(mut row) = store.shift(&name).await? {
        row.state = "finished".into();
        row.finished_ms = Some(now_ms());
        store
            .record(
                &name,
                None,
                "shift_finished",
                &json!({}),
                now_ms(),
                &[StateChange::Shift(row)],
            )
            .await?;
    }
    Ok(())
}
