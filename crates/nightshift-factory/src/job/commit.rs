//! The commit stage: whatever the worker left is committed and kept under the iteration's
//! ref before anything judges it, so nothing a worker made can be lost.

use nightshift_git::iteration_ref;
use nightshift_store::{Event, IterationRow, IterationState, StateChange};

use super::state::Loop;
use crate::error::FactoryError;
use crate::worker::WorkerEnd;

/// A worktree grown past `sandbox.disk_mb` is refused: the attempt goes into the
/// iteration's evidence (which makes it a defect) and the untracked files go, so that the
/// commit holds the edits to tracked files but not gigabytes of filler.
async fn over_disk(l: &Loop) -> Result<(), FactoryError> {
    let Some(kit) = &l.kit else {
        return Ok(());
    };
    let limit = l.shift.spec.sandbox.disk_mb * 1024 * 1024;
    let bytes = l.wt.disk_usage().await.map_err(|e| l.git(e))?;
    if bytes <= limit {
        return Ok(());
    }
    kit.evidence().record(
        "the worktree",
        nightshift_process::sandbox::Blocked::Disk { bytes, limit },
    );
    l.wt.remove_untracked().await.map_err(|e| l.git(e))
}

pub(crate) async fn commit(
    l: &mut Loop,
    mut row: IterationRow,
    end: &WorkerEnd,
    events: Vec<String>,
) -> Result<IterationRow, FactoryError> {
    let n = u32::try_from(row.n).unwrap_or(u32::MAX);
    // What the worker did goes into the log: any secret in it (a key it wrote into a file,
    // a token it printed) masked first, whatever the gates then say.
    let rules = &l.secret_rules;
    let events: Vec<String> = events.iter().map(|e| rules.redact(e)).collect();
    let (summary, claims_done, notes) = match end {
        WorkerEnd::Finished {
            summary,
            claims_done,
            notes,
        } => (summary.clone(), *claims_done, notes.clone()),
        WorkerEnd::Budget { message }
        | WorkerEnd::Failed { message }
        | WorkerEnd::Thrashing { message } => (message.clone(), false, None),
    };
    let message = format!(
        "nightshift: {} / {} iteration {n}\n\n{}",
        l.shift.spec.name,
        l.spec.name,
        summary.trim()
    );
    over_disk(l).await?;
    let keep = iteration_ref(&l.shift.spec.name, &l.spec.name, n);
    let commit =
        l.wt.commit_and_keep(&message, Some(&keep))
            .await
            .map_err(|e| l.git(e))?;
    row.state = IterationState::Committed;
    row.commit_sha = Some(commit.clone());
    row.worker_stop = Some(end.stop());
    row.claims_done = claims_done;
    row.summary = Some(rules.redact(&summary));
    row.notes = notes.as_deref().map(|t| rules.redact(t));
    l.record(
        Event::IterationCommitted {
            n,
            commit,
            worker: end.stop(),
            events,
        },
        &[StateChange::Iteration(row.clone())],
    )
    .await?;
    if let Some(n) = notes {
        l.notes = n;
    }
    Ok(row)
}
