//! The rollout governor: a shift opens no pull request beyond
//! `landing.max_open_pull_requests` open at once or `landing.pull_requests_per_hour` in
//! any hour. It counts from the store's job rows — each pull request this shift opened,
//! with when — so a shift resumed after `kill -9` counts what it opened before; whether
//! one is still open is asked of the forge (a person may have merged or closed it). A
//! job waiting for room is `queued_for_landing`.

use std::sync::Arc;
use std::time::Duration;

use nightshift_clock::now_ms;
use nightshift_forge::PullState as ForgePull;
use nightshift_store::{Event, JobState, PullState, StateChange};
use tokio::sync::OwnedMutexGuard;

use super::state::Loop;
use crate::error::FactoryError;
use crate::rules::Stop;

const HOUR_MS: i64 = 3_600_000;

/// Wait until one more pull request fits under the limits; the guard is held until the
/// caller has recorded the one it opens, so two jobs never take the same room.
pub(crate) async fn wait_for_room(
    l: &mut Loop,
    stop: &Stop,
) -> Result<OwnedMutexGuard<()>, FactoryError> {
    let gate = Arc::clone(&l.shift.landing_gate);
    let spec = l.shift.spec.landing.clone();
    let mut queued = false;
    loop {
        let guard = gate.clone().lock_owned().await;
        let (open, last_hour) = count(l).await?;
        let open_full = spec.max_open_pull_requests.is_some_and(|m| open >= m);
        let hour_full = spec.pull_requests_per_hour.is_some_and(|m| last_hour >= m);
        if !open_full && !hour_full {
            return Ok(guard);
        }
        drop(guard);
        if !queued {
            queued = true;
            let reason = if open_full {
                format!(
                    "{open} pull requests of this shift are open (landing.max_open_pull_requests = {})",
                    spec.max_open_pull_requests.unwrap_or(0)
                )
            } else {
                format!(
                    "{last_hour} pull requests opened in the last hour (landing.pull_requests_per_hour = {})",
                    spec.pull_requests_per_hour.unwrap_or(0)
                )
            };
            tracing::info!(job = %l.spec.name, %reason, "Waiting to open a pull request.");
            l.row.state = JobState::QueuedForLanding;
            l.row.stop_reason = Some(stop.reason);
            l.row.stop_detail = Some(stop.detail.clone());
            l.record(
                Event::LandingQueued { reason },
                &[StateChange::Job(l.row.clone())],
            )
            .await?;
        }
        tokio::time::sleep(Duration::from_millis(spec.ci_poll_ms.max(200))).await;
    }
}

/// This shift's pull requests open now, and those it opened in the last hour (other
/// jobs' only: this job has none open, or it would not be opening one).
async fn count(l: &Loop) -> Result<(u32, u32), FactoryError> {
    let rows = l.shift.store.jobs(&l.shift.spec.name).await?;
    let since = now_ms() - HOUR_MS;
    let (mut open, mut last_hour) = (0u32, 0u32);
    for row in rows.iter().filter(|r| r.name != l.spec.name) {
        let Some(pull) = &row.pull else { continue };
        if pull.opened_ms.is_some_and(|at| at > since) {
            last_hour += 1;
        }
        if pull.state != PullState::Open {
            continue;
        }
        // The row says open; the forge knows whether a person has merged or closed it.
        let still_open = match l.shift.landers.get(&row.name) {
            Some(lander) => {
                let number = u64::try_from(pull.number).unwrap_or(0);
                match lander.forge.pull(&lander.repo, number).await {
                    Ok(p) => p.state == ForgePull::Open,
                    Err(e) => {
                        tracing::debug!(job = %row.name, error = %e, "Counting a pull request as open.");
                        true
                    }
                }
            }
            None => true,
        };
        if still_open {
            open += 1;
        }
    }
    Ok((open, last_hour))
}
