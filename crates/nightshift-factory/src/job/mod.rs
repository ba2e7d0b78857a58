//! One job's loop, as stages: **prepare** (mirror, worktree, token), then iterations —
//! **work** (the worker in the worktree), **commit** (kept under the iteration's ref),
//! **gate** and **judge** (the verdict and the stop rules) — until a stop rule fires, then
//! **land** (the branch pushed, the job finished, the worktree removed). A job picked up
//! after a stop or a crash resumes where its history says ([`crate::resume`]).
//!
//! Each stage is a module of its own over the [`state::Loop`] they share; none of them
//! knows another, only this one knows their order.

mod commit;
mod evidence;
mod governor;
mod judge;
mod land;
mod prepare;
mod pull;
mod review;

pub(crate) use review::ReviewFigures;
mod state;
mod work;

use std::sync::Arc;

use nightshift_clock::now_ms;
use nightshift_spec::JobSpec;
use nightshift_store::{Event, JobRow, JobState, StateChange, StopReason};

use crate::ctx::{Phase, ShiftCtx};
use crate::error::FactoryError;
use crate::resume::Plan;
use crate::rules::{self, Standing, Stop};
use crate::worker::WorkerEnd;
use state::Loop;

pub(crate) struct JobCtx {
    pub shift: Arc<ShiftCtx>,
    pub spec: JobSpec,
    pub row: JobRow,
}

/// Run a job to its end. A job that cannot go on is finished as `failed`, with the reason
/// kept; only a failure to record even that is an error here.
pub(crate) async fn run(ctx: JobCtx) -> Result<(), FactoryError> {
    let job = ctx.spec.name.clone();
    let shift = ctx.shift.clone();
    match stages(ctx).await {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!(job = %job, error = %e, "Job failed.");
            record_failure(&shift, &job, &e).await
        }
    }
}

async fn stages(ctx: JobCtx) -> Result<(), FactoryError> {
    // A job stopped while it landed (queued under the rollout limits, or watching its
    // pull request, or killed between its stop and its first landing record) goes
    // straight back to landing: its stop is recorded, so its iterations are over.
    let landing = match (ctx.row.state, ctx.row.stop_reason) {
        (state, Some(reason)) if state != JobState::Finished => Some(Stop::new(
            reason,
            ctx.row.stop_detail.clone().unwrap_or_default(),
        )),
        _ => None,
    };
    let (mut l, plan) = prepare::prepare(ctx).await?;
    let resumed = resume(&mut l, plan).await?;
    let stop = match (landing, resumed) {
        (Some(stop), _) | (None, Some(stop)) => stop,
        (None, None) => iterate(&mut l).await?,
    };
    land::finish(l, stop).await
}

/// Carry out the resume plan; an interrupted iteration's verdict may already stop the job.
async fn resume(l: &mut Loop, plan: Plan) -> Result<Option<Stop>, FactoryError> {
    match plan {
        Plan::Fresh => {}
        Plan::ResetTo(commit) => l.wt.reset_to(&commit).await.map_err(|e| l.git(e))?,
        Plan::CommitAndJudge(row) => {
            let end = WorkerEnd::Failed {
                message:
                    "the factory stopped during this iteration; its work so far is kept and gated"
                        .into(),
            };
            let row = commit::commit(l, row, &end, Vec::new()).await?;
            if let Some(stop) = judge::judge(l, row, Some(end)).await? {
                return Ok(Some(stop));
            }
        }
        Plan::Judge(row) => {
            // Stopped mid-gate: the worktree may hold what a gate changed (the original
            // tests put back in place of the new ones, say). The commit holds everything
            // the worker made; gate that.
            if let Some(commit) = &row.commit_sha {
                l.wt.reset_to(commit).await.map_err(|e| l.git(e))?;
            }
            if let Some(stop) = judge::judge(l, row, None).await? {
                return Ok(Some(stop));
            }
        }
    }
    l.head = l.wt.head().await.map_err(|e| l.git(e))?;
    Ok(None)
}

/// Iterations until a stop rule fires.
async fn iterate(l: &mut Loop) -> Result<Stop, FactoryError> {
    loop {
        if let Some(stop) = before_iteration(l).await? {
            return Ok(stop);
        }
        let (row, worked) = work::work(l).await?;
        let row = commit::commit(l, row, &worked.end, worked.events).await?;
        if let Some(stop) = judge::judge(l, row, Some(worked.end)).await? {
            return Ok(stop);
        }
    }
}

async fn before_iteration(l: &Loop) -> Result<Option<Stop>, FactoryError> {
    // Paused (the job or its shift): no new iteration until resumed. Killed: stopped.
    let mut rx = l.shift.line.subscribe();
    let job = l.spec.name.clone();
    let mut told = false;
    loop {
        let controls = rx.borrow_and_update().clone();
        if let Some(kill) = controls.job(&job).and_then(|j| j.killed.as_ref()) {
            return Ok(Some(Stop::new(
                StopReason::Killed,
                format!("killed by {}", kill.by),
            )));
        }
        if controls.may_start(&job) {
            break;
        }
        if !told {
            told = true;
            l.progress(u32::try_from(l.row.iterations).unwrap_or(0), Phase::Paused)
                .await;
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
    let (_, left) = l.shift.budget(&l.token_id, l.token_budget).await?;
    let rules_spec = &l.shift.spec.stop;
    Ok(rules::before_iteration(&Standing {
        iterations: l.row.iterations,
        max_iterations: l.spec.max_iterations,
        elapsed_ms: l.row.started_ms.map(|s| now_ms() - s),
        wall_clock_ms: rules_spec.wall_clock_ms,
        stall: l.stall,
        stall_iterations: rules_spec.stall_iterations,
        budget_left: left,
        min_call_nanos: l.shift.min_call_nanos,
    }))
}

/// Finish a job as failed, with why.
pub(crate) async fn record_failure(
    shift: &ShiftCtx,
    job: &str,
    e: &FactoryError,
) -> Result<(), FactoryError> {
    let mut row = shift
        .store
        .jobs(&shift.spec.name)
        .await?
        .into_iter()
        .find(|r| r.name == job)
        .ok_or_else(|| FactoryError::Internal(format!("job `{job}` vanished from the store")))?;
    row.state = JobState::Finished;
    row.stop_reason = Some(StopReason::Failed);
    row.stop_detail = Some(e.to_string());
    row.finished_ms = Some(now_ms());
    let event = Event::JobFinished {
        reason: StopReason::Failed,
        detail: e.to_string(),
        worktree_bytes: None,
        landing: None,
    };
    shift
        .store
        .record(
            &shift.spec.name,
            Some(job),
            &event,
            now_ms(),
            &[StateChange::Job(row)],
        )
        .await?;
    Ok(())
}
