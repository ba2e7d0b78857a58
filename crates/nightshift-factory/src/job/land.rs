//! The land stage: a stopped job's accepted work goes back to its source repository, the
//! job is recorded as finished, and its worktree goes (the work is on its branch and refs).

use nightshift_clock::now_ms;
use nightshift_store::{Event, JobState, Landing, LandingKind, PullState, StateChange};

use super::state::Loop;
use crate::ctx::Phase;
use crate::error::FactoryError;
use crate::rules::Stop;

pub(crate) async fn finish(mut l: Loop, stop: Stop) -> Result<(), FactoryError> {
    let disk = l.wt.disk_usage().await.unwrap_or(0);
    // The branch goes back to the source repository, fast-forward only. A refusal is
    // reported as such; the work stays on the mirror's branch and refs.
    let lander = l.shift.landers.get(&l.spec.name).cloned();
    let landing = match (l.row.accepted, lander) {
        (0, _) => Landing::Nothing,
        (_, Some(lander)) => super::pull::land(&mut l, &lander, &stop).await?,
        (_, None) => match l.mirror.push_branch(&l.row.branch).await {
            Ok(()) => Landing::Pushed,
            Err(e) => {
                tracing::warn!(job = %l.spec.name, error = %e, "Landing failed.");
                Landing::Failed {
                    reason: e.to_string(),
                }
            }
        },
    };
    let row = &mut l.row;
    if let Some(pull) = &mut row.pull {
        match landing.kind() {
            LandingKind::Merged => pull.state = PullState::Merged,
            LandingKind::Closed => pull.state = PullState::Closed,
            _ => {}
        }
    }
    row.landing = Some(landing.clone());
    row.state = JobState::Finished;
    row.stop_reason = Some(stop.reason);
    row.stop_detail = Some(stop.detail.clone());
    row.finished_ms = Some(now_ms());
    let event = Event::JobFinished {
        reason: stop.reason,
        detail: stop.detail,
        worktree_bytes: Some(disk),
        landing: Some(landing.clone()),
    };
    let changes = [StateChange::Job(l.row.clone())];
    let failed = matches!(
        landing.kind(),
        LandingKind::Failed | LandingKind::CiFailed | LandingKind::Conflict
    );
    l.record(event, &changes).await?;
    if failed {
        l.shift.line.landing_failed().await?;
    }
    l.progress(
        u32::try_from(l.row.iterations).unwrap_or(u32::MAX),
        Phase::Finished {
            reason: stop.reason,
        },
    )
    .await;
    // Everything the worker made is committed before gating, so what is left untracked
    // now came from the gates (build output, caches): clear it. The branch and the
    // iteration refs hold all the work; the worktree can go. If it cannot go safely, it
    // stays and says why.
    if let Ok(head) = l.wt.head().await
        && let Err(e) = l.wt.reset_to(&head).await
    {
        tracing::warn!(job = %l.spec.name, error = %e, "Could not clear gate output from the worktree.");
    }
    if let Err(e) = l.wt.remove().await {
        tracing::warn!(job = %l.spec.name, error = %e, "Worktree kept.");
    }
    Ok(())
}
