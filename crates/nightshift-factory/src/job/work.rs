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

/// The event that started this job's previous iteration (0 for none).
async fn previous_start(l: &Loop) -> Result<i64, FactoryError> {
    if let Some(seq) = l.started_seq {
        return Ok(seq);
    }
    // This run has not started an iteration yet: the last one before it did. Read only
    // when the job has notes at all (as the log says now).
    l.shift.line.refresh().await?;
    let has_notes = l
        .shift
        .line
        .now()
        .job(&l.spec.name)
        .is_some_and(|j| !j.steers.is_empty());
    if !has_notes {
        return Ok(0);
    }
    Ok(l.shift
        .store
        .events_of(&l.shift.spec.name, "iteration_started")
        .await?
        .iter()
        .filter(|e| e.job.as_deref() == Some(l.spec.name.as_str()))
        .map(|e| e.seq)
        .max()
        .unwrap_or(0))
}

/// The supervisor's notes for the iteration started by event `started` (those recorded
/// since the previous one started), as the worker's notes carry them.
fn steer_notes(l: &Loop, previous: i64, started: i64) -> Option<String> {
    let controls = l.shift.line.now();
    let job = controls.job(&l.spec.name)?;
    let notes: Vec<String> = job
        .notes_after(previous)
        .filter(|s| s.seq < started)
        .map(|s| format!("- {} (from {})", s.note, s.by))
        .collect();
    if notes.is_empty() {
        return None;
    }
    Some(format!(
        "A supervisor's notes for this iteration:\n{}",
        notes.join("\n")
    ))
}

/// Start the next iteration (recorded before the worker runs, so a crash mid-work is
/// resumed as such) and run its worker.
pub(crate) async fn work(l: &mut Loop) -> Result<(IterationRow, Worked), FactoryError> {
    let n = u32::try_from(l.row.iterations + 1).unwrap_or(u32::MAX);
    let base = l.head.clone();
    let row = l.iteration_row(n, IterationState::Running, &base);
    let previous = previous_start(l).await?;
    let started = l
        .record(
            Event::IterationStarted {
                n,
                base: base.clone(),
            },
            &[StateChange::Iteration(row.clone())],
        )
        .await?;
    l.started_seq = Some(started);
    // Read the controls now, not at the last poll: this iteration is given every note
    // recorded before its start, as the floor says it was.
    l.shift.line.refresh().await?;
    let steer = steer_notes(l, previous, started);
    let notes = match steer {
        Some(steer) if l.notes.is_empty() => steer,
        Some(steer) => format!("{}\n\n{steer}", l.notes),
        None => l.notes.clone(),
    };
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
    let mut rx = shift.line.subscribe();
    let job = l.spec.name.clone();
    let mut on_event = |e| {
        if events.len() < MAX_EVENTS {
            events.push(e);
        }
    };
    let running = worker::run(
        IterationInput {
            job: &l.spec,
            worktree: l.wt.path(),
            gateway_v1: shift.gateway.v1(),
            token: &l.token,
            notes: &notes,
            repo_map: l.repo_map.as_deref(),
            n,
            time_limit: l.time_limit(),
            scratch: &scratch,
            kit: l.kit.as_ref(),
        },
        &mut on_event,
        &mut report,
    );
    let killed = crate::control::until(&mut rx, |c| {
        c.job(&job)
            .and_then(|j| j.killed.as_ref())
            .map(|k| k.by.clone())
    });
    let mut end = tokio::select! {
        end = running => end,
        by = killed => {
            // The worker's future is gone, and with it its processes; anything of theirs
            // that slipped out of their group goes too.
            crate::gating::reap_orphans(l.wt.path()).await;
            tracing::warn!(job = %job, n, by = %by, "Iteration killed by a supervisor.");
            WorkerEnd::Failed {
                message: format!("killed by {by}: the iteration was ended; its work so far is kept and gated"),
            }
        }
    };
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
