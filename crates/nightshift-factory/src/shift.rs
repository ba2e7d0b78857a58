//! Running a shift: preflight, the in-process gateway, the shift's token, the scheduler.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use nightshift_clock::now_ms;
use nightshift_meter::Price;
use nightshift_spec::{Config, ShiftSpec};
use nightshift_store::{
    Backend, Controls, Event, JobRow, JobState, ShiftRow, ShiftState, StateChange, Store,
};

use crate::ctx::{GatewayLink, Phase, Progress, ShiftCtx};
use crate::error::FactoryError;
use crate::job::{self, JobCtx};
use crate::layout::Layout;
use crate::report::{ShiftReport, report};
use crate::sandbox::Host;
use crate::spec_diff::differences;

pub struct Options {
    pub layout: Layout,
    /// Live progress, if someone is watching.
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
    /// A running `nightshift gateway` on the same store to use (e.g.
    /// `http://127.0.0.1:8787`); `None` starts one in-process for the shift.
    pub gateway_url: Option<String>,
    /// The binary that is the sandbox's init (`BINARY __sandbox-init …`): the running one.
    pub sandbox_init: std::path::PathBuf,
}

/// Check the spec against the configuration before anything runs; returns about what an
/// iteration's first call costs (the budget stop rule's threshold).
fn preflight(config: &Config, spec: &ShiftSpec) -> Result<i64, FactoryError> {
    spec.check_models(config)?;
    let book = nightshift_meter::PriceBook::builtin();
    let date = nightshift_clock::today();
    let mut min_call = 0;
    for job in &spec.jobs {
        crate::guards::secret_rules(&job.gates.secrets).map_err(|e| {
            FactoryError::Invalid(format!("{}: job `{}`: {e}", spec.file.display(), job.name))
        })?;
        for r in &job.gates.review {
            let Some(model) = config.model(&r.model) else {
                return Err(FactoryError::Invalid(format!(
                    "{}: gates.review `{}` asks for model `{}`, which {} does not configure: add a [[model]] named `{}` there or name one it has",
                    spec.file.display(),
                    r.name,
                    r.model,
                    config.file.display(),
                    r.model
                )));
            };
            book.resolve(model, &date)
                .map_err(|e| FactoryError::Invalid(e.to_string()))?;
        }
        if let Some(cli) = crate::worker::cli(job.worker) {
            crate::external::resolve(cli).map_err(|e| {
                FactoryError::Invalid(format!("{}: job `{}`: {e}", spec.file.display(), job.name))
            })?;
        }
        // `check_models` has refused a model the configuration does not name.
        let Some(model) = config.model(&job.model) else {
            continue;
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

/// A spec run under the name of a shift already in the store must be the spec that shift
/// was started with: anything else would be silently ignored.
fn same_spec(existing: &ShiftRow, spec: &ShiftSpec) -> Result<(), FactoryError> {
    let stored: serde_json::Value =
        serde_json::from_str(&existing.spec_json).unwrap_or(serde_json::Value::Null);
    let new = serde_json::to_value(spec).unwrap_or(serde_json::Value::Null);
    let differ = differences(&stored, &new);
    if differ.is_empty() {
        return Ok(());
    }
    Err(FactoryError::Invalid(format!(
        "{}: shift `{}` is already in this store (started from {}), and this spec differs from the one it was started with: {}. To resume it, put the spec back as it was; to run the changed spec, give it another `name`",
        spec.file.display(),
        spec.name,
        existing.spec_path,
        differ.join(", ")
    )))
}

/// Run (or resume) a shift to the end and return its report.
pub async fn run_shift(
    config: &Config,
    spec: ShiftSpec,
    store: Arc<dyn Backend>,
    options: Options,
) -> Result<ShiftReport, FactoryError> {
    let name = spec.name.clone();
    if let Some(existing) = store.shift(&name).await? {
        same_spec(&existing, &spec)?;
        // Finished, unless a job was requeued as it finished: then it runs again.
        let unfinished = store
            .jobs(&name)
            .await?
            .iter()
            .any(|j| j.state != JobState::Finished);
        if existing.state == ShiftState::Finished && !unfinished {
            tracing::info!(shift = %name, "Shift already finished; reporting it.");
            return report(store.as_ref(), &name).await;
        }
    }
    let min_call_nanos = preflight(config, &spec)?;
    let landers = crate::landing::resolve(config, &spec)?;
    let Options {
        layout,
        progress,
        gateway_url,
        sandbox_init,
    } = options;
    let sandbox = Host::check(&spec, config, &sandbox_init).await?;
    if let Some(url) = gateway_url {
        // A running gateway on the same store: it picks up the tokens minted here on
        // their first call; this process never touches its calls in flight.
        let base = url.trim_end_matches('/');
        let v1 = if base.ends_with("/v1") {
            base.to_string()
        } else {
            format!("{base}/v1")
        };
        let link = GatewayLink::Running { v1 };
        run_jobs(
            spec,
            store.clone(),
            link,
            layout,
            progress,
            (min_call_nanos, sandbox, landers),
        )
        .await?;
        return report(store.as_ref(), &name).await;
    }
    let gateway = nightshift_gateway::build(config, store.clone() as Arc<dyn Store>)
        .await
        .map_err(|e| match e {
            // A store another gateway holds is the user's to sort out (`--gateway`).
            nightshift_gateway::StartError::Store(s) => FactoryError::Store(s),
            other => FactoryError::Gateway(other.to_string()),
        })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| FactoryError::Gateway(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| FactoryError::Gateway(e.to_string()))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    #[expect(
        clippy::disallowed_methods,
        reason = "the in-process gateway serves until the shift ends; awaited below"
    )]
    let serving = tokio::spawn(nightshift_gateway::serve(
        gateway.clone(),
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));
    let link = GatewayLink::InProcess {
        state: gateway,
        v1: format!("http://{addr}/v1"),
    };
    let result = run_jobs(
        spec,
        store.clone(),
        link,
        layout,
        progress,
        (min_call_nanos, sandbox, landers),
    )
    .await;
    let _ = stop_tx.send(());
    match serving.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "The in-process gateway stopped with an error."),
        Err(e) => tracing::warn!(error = %e, "The in-process gateway task failed."),
    }
    result?;
    report(store.as_ref(), &name).await
}

/// The shift's token: minted with the shift's first run (which records the shift and its
/// pending jobs), or the one it was started with.
async fn open_shift(
    spec: &ShiftSpec,
    store: &dyn Backend,
    link: &GatewayLink,
) -> Result<String, FactoryError> {
    let name = &spec.name;
    if let Some(existing) = store.shift(name).await? {
        // A finished shift runs again only for a job requeued as it finished.
        let mut running = existing.clone();
        running.state = ShiftState::Running;
        running.finished_ms = None;
        store
            .record(
                name,
                None,
                &Event::ShiftResumed,
                now_ms(),
                &[StateChange::Shift(running)],
            )
            .await?;
        if let Some(id) = existing.token_id {
            return Ok(id);
        }
    }
    let minted =
        nightshift_gateway::mint(store, name, spec.shift_nanos, None, None, now_ms()).await?;
    link.register(&minted.record);
    let row = ShiftRow {
        name: name.clone(),
        // Absolute, so that `nightshift resume` finds it from any folder.
        spec_path: std::path::absolute(&spec.file)
            .unwrap_or_else(|_| spec.file.clone())
            .display()
            .to_string(),
        spec_json: serde_json::to_string(spec).unwrap_or_default(),
        token_id: Some(minted.record.id.clone()),
        state: ShiftState::Running,
        created_ms: now_ms(),
        finished_ms: None,
    };
    let mut changes = vec![StateChange::Shift(row)];
    changes.extend(spec.jobs.iter().map(|j| {
        StateChange::Job(JobRow::pending(
            name,
            &j.name,
            &j.source,
            &spec.branch_for(&j.name),
        ))
    }));
    let started = Event::ShiftStarted {
        jobs: u32::try_from(spec.jobs.len()).unwrap_or(u32::MAX),
        budget_nanos: spec.shift_nanos,
        concurrency: u32::try_from(spec.concurrency).unwrap_or(u32::MAX),
    };
    store
        .record(name, None, &started, now_ms(), &changes)
        .await?;
    Ok(minted.record.id)
}

/// The sequence number of the last requeue of `job`.
fn requeued(controls: &Controls, job: &str) -> Option<i64> {
    controls.job(job).and_then(|j| j.requeued)
}

/// Wait until the shift is not paused and a slot is free, then make the job's task: its
/// spec with what its requeues added.
async fn launch(
    ctx: &Arc<ShiftCtx>,
    permits: &Arc<Semaphore>,
    rx: &mut tokio::sync::watch::Receiver<Controls>,
    mut job: nightshift_spec::JobSpec,
    row: JobRow,
) -> Result<
    (
        String,
        impl std::future::Future<Output = Result<(), FactoryError>> + Send + 'static,
    ),
    FactoryError,
> {
    let permit = loop {
        crate::control::until(rx, |c| c.paused.is_none().then_some(())).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| FactoryError::Gateway(e.to_string()))?;
        // Paused while it waited for a slot: wait again, holding none.
        if ctx.line.now().paused.is_none() {
            break permit;
        }
    };
    if let Some(extra) = ctx.line.now().job(&job.name) {
        job.max_iterations = job.max_iterations.saturating_add(extra.extra_iterations);
        job.job_nanos = job.job_nanos.saturating_add(extra.extra_nanos);
    }
    let job_name = job.name.clone();
    let job_ctx = JobCtx {
        shift: ctx.clone(),
        spec: job,
        row,
    };
    Ok((job_name, async move {
        let out = job::run(job_ctx).await;
        drop(permit);
        out
    }))
}

async fn run_jobs(
    spec: ShiftSpec,
    store: Arc<dyn Backend>,
    link: GatewayLink,
    layout: Layout,
    progress: Option<mpsc::UnboundedSender<Progress>>,
    (min_call_nanos, sandbox, landers): (i64, Option<Host>, crate::landing::Landers),
) -> Result<(), FactoryError> {
    let name = spec.name.clone();
    let shift_token_id = open_shift(&spec, store.as_ref(), &link).await?;
    let line = crate::control::Line::open(store.clone(), &name, spec.line).await?;
    let _poller = line.watch();
    let ctx = Arc::new(ShiftCtx {
        line,
        spec,
        store: store.clone(),
        gateway: link,
        shift_token_id,
        layout,
        progress,
        min_call_nanos,
        sandbox,
        landers,
        landing_gate: Arc::new(tokio::sync::Mutex::new(())),
    });

    let permits = Arc::new(Semaphore::new(ctx.spec.concurrency));
    let mut rx = ctx.line.subscribe();
    let mut names = std::collections::HashMap::new();
    // The last requeue each job was started after: a newer one restarts it.
    let mut requeues: std::collections::HashMap<String, Option<i64>> = ctx
        .spec
        .jobs
        .iter()
        .map(|j| (j.name.clone(), requeued(&ctx.line.now(), &j.name)))
        .collect();
    let rows = store.jobs(&name).await?;
    let mut set = JoinSet::new();
    for job in ctx.spec.jobs.clone() {
        let Some(row) = rows.iter().find(|r| r.name == job.name).cloned() else {
            continue;
        };
        if row.state == JobState::Finished {
            continue;
        }
        ctx.report(Progress {
            job: job.name.clone(),
            iteration: u32::try_from(row.iterations).unwrap_or(0),
            max_iterations: job.max_iterations,
            phase: Phase::Waiting,
            accepted: u32::try_from(row.accepted).unwrap_or(0),
            defects: u32::try_from(row.defects).unwrap_or(0),
            spent_nanos: 0,
        });
        let (job_name, task) = launch(&ctx, &permits, &mut rx, job, row).await?;
        names.insert(set.spawn(task).id(), job_name);
    }
    // A job whose task panicked (a bug), or that could not even record its failure, is
    // finished as failed here: no job is left running when the run ends. A job requeued
    // while the shift runs starts again here.
    while !set.is_empty() {
        let joined = tokio::select! {
            joined = set.join_next_with_id() => joined,
            changed = rx.changed() => {
                if changed.is_err() {
                    continue;
                }
                let controls = ctx.line.now();
                let running: std::collections::HashSet<&String> = names.values().collect();
                let again: Vec<String> = requeues
                    .iter()
                    .filter(|(job, seen)| !running.contains(job) && requeued(&controls, job) > **seen)
                    .map(|(job, _)| job.clone())
                    .collect();
                for job_name in again {
                    requeues.insert(job_name.clone(), requeued(&controls, &job_name));
                    let rows = store.jobs(&name).await?;
                    let (Some(row), Some(job)) = (
                        rows.into_iter().find(|r| r.name == job_name && r.state != JobState::Finished),
                        ctx.spec.jobs.iter().find(|j| j.name == job_name).cloned(),
                    ) else {
                        continue;
                    };
                    tracing::info!(job = %job_name, "Job requeued; starting it again.");
                    let (job_name, task) = launch(&ctx, &permits, &mut rx, job, row).await?;
                    names.insert(set.spawn(task).id(), job_name);
                }
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (id, why) = match joined {
            Ok((id, Ok(()))) => {
                names.remove(&id);
                continue;
            }
            Ok((id, Err(e))) => (id, e.to_string()),
            Err(e) => (
                e.id(),
                format!("the job's task panicked (a bug; see the log): {e}"),
            ),
        };
        let Some(job) = names.remove(&id) else {
            continue;
        };
        tracing::error!(job = %job, error = %why, "A job ended outside its loop.");
        if let Err(e) = job::record_failure(&ctx, &job, &FactoryError::Internal(why)).await {
            tracing::error!(job = %job, error = %e, "Could not record the job as failed.");
        }
    }
    let all_done = store
        .jobs(&name)
        .await?
        .iter()
        .all(|j| j.state == JobState::Finished);
    if all_done && let Some(mut row) = store.shift(&name).await? {
        row.state = ShiftState::Finished;
        row.finished_ms = Some(now_ms());
        store
            .record(
                &name,
                None,
                &Event::ShiftFinished,
                now_ms(),
                &[StateChange::Shift(row)],
            )
            .await?;
    }
    Ok(())
}
