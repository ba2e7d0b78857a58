//! The work stage: an iteration begins and its worker runs in the worktree.

use nightshift_clock::now_ms;
use nightshift_spec::WorkerKind;
use nightshift_store::{Event, IterationRow, IterationState, StateChange};

use super::state::Loop;
use crate::ctx::Phase;
use crate::error::FactoryError;
use crate::worker::{self, IterationInput, WorkerEnd, WorkerReport};

/// The most worker events kept with an iteration.
const MAX_EVENTS: usize = 200;

/// How the worker's part of an iteration went.
pub(crate) struct Worked {
    pub end: WorkerEnd,
    /// The worker's own events (tool calls, an agent CLI's event lines).
    pub events: Vec<String>,
}

/// Start the next iteration (recorded before the worker runs, so a crash mid-work is
/// resumed as such) and run its worker.
pub(crate) async fn work(l: &mut Loop) -> Result<(IterationRow, Worked), FactoryError> {
    let n = u32::try_from(l.row.iterations + 1).unwrap_or(u32::MAX);
    let base = l.head.clone();
    let row = l.iteration_row(n, IterationState::Running, &base);
    l.record(
        Event::IterationStarted {
            n,
            base: base.clone(),
        },
        &[StateChange::Iteration(row.clone())],
    )
    .await?;
    l.progress(n, Phase::Working).await;

    let shift = l.shift.clone();
    if l.repo_map.is_none() && l.spec.worker == WorkerKind::Builtin {
        let dir = l.wt.path().to_path_buf();
        l.repo_map = tokio::task::spawn_blocking(move || nightshift_agent::first_message_map(&dir))
            .await
            .ok();
    }
    let mut events: Vec<String> = Vec::new();
    let mut report = WorkerReport::default();
    let scratch = shift.layout.scratch(&shift.spec.name, &l.spec.name);
    if let Some(kit) = &l.kit {
        // Private homes for this iteration's commands and for its gates; what the last
        // one left there goes.
        kit.commands(true)?;
        kit.gates(true)?;
    }
    let started_ms = now_ms();
    let mut end = worker::run(
        IterationInput {
            job: &l.spec,
            worktree: l.wt.path(),
            gateway_v1: shift.gateway.v1(),
            token: &l.token,
            notes: &l.notes,
            repo_map: l.repo_map.as_deref(),
            n,
            time_limit: l.time_limit(),
            scratch: &scratch,
            kit: l.kit.as_ref(),
        },
        &mut |e| {
            if events.len() < MAX_EVENTS {
                events.push(e);
            }
        },
        &mut report,
    )
    .await;
    if worker::cli(l.spec.worker).is_some() {
        end = crate::external::reconcile_usage(
            &shift,
            &l.token_id,
            (&l.spec.name, n),
            started_ms,
            end,
            &report,
            &mut events,
        )
        .await?;
    }
    Ok((row, Worked { end, events }))
}
