//! Landing through a pull request: the factory's branch pushed (with a lease, and only
//! ours), the pull request found or opened (under the shift's rollout limits) and its
//! title and body made from the work, its checks watched until they settle, and failing
//! checks — and, when the recipe allows, a review asking for changes — answered by fix
//! iterations given what the forge said. Ends in one of the pull-request [`Landing`]s.

use std::time::{Duration, Instant};

use nightshift_clock::now_ms;
use nightshift_forge::{ForgeError, NewPull, Pull, PullState as ForgePull};
use nightshift_store::{
    CheckOutcome, CheckSeen, Event, FeedbackSource, JobState, Landing, LandingKind, PullRef,
    PullState, StateChange,
};

use super::state::Loop;
use super::{commit, judge, work};
use crate::error::FactoryError;
use crate::landing::{self, Lander, Watch};
use crate::rules::Stop;

fn pull_landing(kind: LandingKind, detail: impl Into<String>) -> Landing {
    Landing::Pull {
        kind,
        detail: detail.into(),
    }
}

fn failed(e: impl std::fmt::Display) -> Landing {
    Landing::Failed {
        reason: e.to_string(),
    }
}

/// Land the job's accepted work through its pull request. Forge and push failures end
/// the landing as `failed` with what to do; only the store's failures are errors.
pub(crate) async fn land(
    l: &mut Loop,
    lander: &Lander,
    stop: &Stop,
) -> Result<Landing, FactoryError> {
    let spec = l.shift.spec.landing.clone();
    let (mut ci_fixes, mut review_fixes) = (0u32, 0u32);
    loop {
        let pull = match publish(l, lander, stop).await? {
            Ok(p) => p,
            Err(landing) => return Ok(landing),
        };
        match pull.state {
            ForgePull::Closed => {
                return Ok(pull_landing(
                    LandingKind::Closed,
                    format!(
                        "#{} was closed by a person; it is left closed and the branch is not pushed again",
                        pull.number
                    ),
                ));
            }
            ForgePull::Merged => {
                return Ok(pull_landing(
                    LandingKind::Merged,
                    format!("#{} is merged", pull.number),
                ));
            }
            ForgePull::Open => {}
        }
        let head = l.row.head_sha.clone().unwrap_or_default();
        let watch = match watch(l, lander, pull.number, &head).await? {
            Ok(w) => w,
            Err(landing) => return Ok(landing),
        };
        let number = pull.number;
        match watch {
            Watch::Green | Watch::NoCi => {
                let items = match lander.forge.feedback(&lander.repo, number).await {
                    Ok(items) => items,
                    Err(e) => return Ok(failed(e)),
                };
                let Some(text) = landing::review_feedback(number, &items) else {
                    let how = if watch == Watch::NoCi {
                        "no check ran within the grace (the repository has no CI)"
                    } else {
                        "every check passed"
                    };
                    return Ok(pull_landing(
                        LandingKind::CiGreen,
                        format!("#{number}: {how}"),
                    ));
                };
                if review_fixes >= spec.review_fix_iterations {
                    return Ok(pull_landing(
                        LandingKind::ChangesRequested,
                        format!(
                            "#{number}: a reviewer asked for changes (landing.review_fix_iterations = {})",
                            spec.review_fix_iterations
                        ),
                    ));
                }
                review_fixes += 1;
                if !fix(l, FeedbackSource::Review, text).await? {
                    return Ok(pull_landing(
                        LandingKind::ChangesRequested,
                        format!(
                            "#{number}: a reviewer asked for changes and the fix was not accepted"
                        ),
                    ));
                }
            }
            Watch::Red(checks) => {
                let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
                let names = names.join(", ");
                if ci_fixes >= spec.ci_fix_iterations {
                    return Ok(pull_landing(
                        LandingKind::CiFailed,
                        format!(
                            "#{number}: {names} failed after {ci_fixes} fix iterations (landing.ci_fix_iterations = {})",
                            spec.ci_fix_iterations
                        ),
                    ));
                }
                ci_fixes += 1;
                let text = landing::ci_feedback(number, &checks);
                // A rejected fix leaves nothing new to push: the next fix (if any) tries
                // again from the same head.
                while !fix(l, FeedbackSource::Ci, text.clone()).await? {
                    if ci_fixes >= spec.ci_fix_iterations {
                        return Ok(pull_landing(
                            LandingKind::CiFailed,
                            format!(
                                "#{number}: {names} failed; {ci_fixes} fix iterations made no accepted change"
                            ),
                        ));
                    }
                    ci_fixes += 1;
                }
            }
            Watch::TimedOut => {
                return Ok(pull_landing(
                    LandingKind::CiPending,
                    format!(
                        "#{number}: checks still running after {} minutes (landing.ci_timeout_minutes)",
                        spec.ci_timeout_ms / 60_000
                    ),
                ));
            }
            // `watch` returns only once the checks have settled.
            Watch::Waiting => continue,
        }
    }
}

/// Find the branch's pull request and bring its title and body up to date, or open one
/// when the rollout limits leave room. `Err(landing)`: the forge refused.
async fn publish(
    l: &mut Loop,
    lander: &Lander,
    stop: &Stop,
) -> Result<Result<Pull, Landing>, FactoryError> {
    let (title, body) = describe(l).await?;
    let branch = l.row.branch.clone();
    let found = match lander.forge.find_pull(&lander.repo, &branch).await {
        Ok(found) => found,
        Err(e) => return Ok(Err(failed(e))),
    };
    if let Some(p) = found.as_ref().filter(|p| p.state != ForgePull::Open) {
        return Ok(Ok(p.clone()));
    }
    if let Err(e) = l.mirror.push_own_branch(&branch).await {
        tracing::warn!(job = %l.spec.name, error = %e, "Push failed.");
        return Ok(Err(failed(e)));
    }
    let (pull, opened) = match found {
        Some(p) if p.title == title && p.body == body => (p, None),
        Some(p) => match lander
            .forge
            .update_pull(&lander.repo, p.number, &title, &body)
            .await
        {
            Ok(p) => (p, None),
            Err(e) => return Ok(Err(failed(e))),
        },
        None => {
            let room = super::governor::wait_for_room(l, stop).await?;
            let base = match &l.shift.spec.landing.target {
                Some(t) => t.clone(),
                None => match lander.forge.default_branch(&lander.repo).await {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(failed(e))),
                },
            };
            let new = NewPull {
                head: branch.clone(),
                base,
                title,
                body,
                draft: l.shift.spec.landing.draft,
                labels: l.shift.spec.landing.labels.clone(),
            };
            match lander.forge.open_pull(&lander.repo, &new).await {
                Ok(p) => (p, Some(room)),
                Err(e) => return Ok(Err(failed(e))),
            }
        }
    };
    let (pull, opened) = (pull, opened);
    let number = i64::try_from(pull.number).unwrap_or(i64::MAX);
    let opened_ms = match &l.row.pull {
        Some(p) if p.number == number => p.opened_ms,
        _ => opened.is_some().then(now_ms),
    };
    l.row.state = JobState::Landing;
    l.row.stop_reason = Some(stop.reason);
    l.row.stop_detail = Some(stop.detail.clone());
    l.row.pull = Some(PullRef {
        number,
        url: pull.url.clone(),
        state: PullState::Open,
        opened_ms,
    });
    let event = Event::PullRequestPublished {
        number: pull.number,
        url: pull.url.clone(),
        head: l.row.head_sha.clone().unwrap_or_default(),
        opened: opened.is_some(),
    };
    l.record(event, &[StateChange::Job(l.row.clone())]).await?;
    // The room the governor gave is taken now that the row records it.
    drop(opened);
    Ok(Ok(pull))
}

async fn describe(l: &Loop) -> Result<(String, String), FactoryError> {
    let s = &l.shift;
    let iterations = s.store.iterations(&s.spec.name, &l.spec.name).await?;
    let last_accepted = iterations
        .iter()
        .rev()
        .find(|i| i.state == nightshift_store::IterationState::Accepted)
        .map(|i| i.n);
    let gates = match last_accepted {
        Some(n) => s.store.gate_results(&s.spec.name, &l.spec.name, n).await?,
        None => Vec::new(),
    };
    let spend = s.store.spend_by_job(&s.spec.name).await?;
    let base = l.row.base_sha.clone().unwrap_or_default();
    let head = l.row.head_sha.clone().unwrap_or_default();
    let diff = match l.wt.diff_stat(&base, &head).await {
        Ok(d) => (d.files as i64, d.insertions as i64, d.deletions as i64),
        Err(e) => {
            tracing::debug!(error = %e, "No diff stat for the pull request body.");
            (0, 0, 0)
        }
    };
    Ok(landing::describe(&landing::Evidence {
        shift: &s.spec.name,
        job: &l.spec.name,
        prompt: &l.spec.prompt,
        iterations: &iterations,
        gates: &gates,
        spend: spend.iter().find(|j| j.job == l.spec.name),
        diff,
    }))
}

/// Look at the head's checks until they settle, waiting longer between looks, within
/// `landing.ci_timeout_minutes`; what they settled to is recorded. A rate limit waits as
/// long as the forge says.
async fn watch(
    l: &Loop,
    lander: &Lander,
    number: u64,
    head: &str,
) -> Result<Result<Watch, Landing>, FactoryError> {
    let spec = &l.shift.spec.landing;
    let started = Instant::now();
    let mut wait = spec.ci_poll_ms;
    loop {
        let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let checks = match lander.forge.checks(&lander.repo, head).await {
            Ok(c) => c,
            Err(ForgeError::RateLimited { retry_after, .. }) => {
                // Waited out, but never past the watch's own limit: a forge that keeps
                // refusing ends the watch as timed out (`ci_pending`).
                let left = spec.ci_timeout_ms.saturating_sub(waited);
                if left == 0 {
                    return Ok(Ok(Watch::TimedOut));
                }
                let wait = retry_after
                    .min(Duration::from_secs(300))
                    .min(Duration::from_millis(left));
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => return Ok(Err(failed(e))),
        };
        let watch = landing::settle(&checks, waited, spec.checks_grace_ms, spec.ci_timeout_ms);
        if watch != Watch::Waiting {
            let seen = checks
                .iter()
                .map(|c| CheckSeen {
                    name: c.name.clone(),
                    state: match c.state {
                        nightshift_forge::CheckState::Pending => CheckOutcome::Pending,
                        nightshift_forge::CheckState::Success => CheckOutcome::Success,
                        nightshift_forge::CheckState::Failure => CheckOutcome::Failure,
                    },
                })
                .collect();
            let event = Event::ChecksSettled {
                number,
                head: head.to_string(),
                checks: seen,
            };
            l.record(event, &[]).await?;
            return Ok(Ok(watch));
        }
        tokio::time::sleep(Duration::from_millis(wait)).await;
        wait = landing::next_poll(wait);
    }
}

/// One fix iteration, its input what the forge or a reviewer said (put before the job's
/// progress notes, which every worker is given). `true` when it made an accepted change.
async fn fix(l: &mut Loop, source: FeedbackSource, text: String) -> Result<bool, FactoryError> {
    let (_, left) = l.shift.budget(&l.token_id, l.token_budget).await?;
    if left < l.shift.min_call_nanos.max(1) {
        tracing::info!(job = %l.spec.name, "No budget left for a fix iteration.");
        return Ok(false);
    }
    let n = u32::try_from(l.row.iterations + 1).unwrap_or(u32::MAX);
    l.record(
        Event::LandingFeedback {
            n,
            source,
            text: text.clone(),
        },
        &[],
    )
    .await?;
    l.notes = if l.notes.trim().is_empty() {
        text
    } else {
        format!("{text}\n\n{}", l.notes)
    };
    let accepted_before = l.row.accepted;
    let (row, worked) = work::work(l).await?;
    let row = commit::commit(l, row, &worked.end, worked.events).await?;
    // The stop rules have spoken already: a fix's verdict matters, not what they say.
    let _ = judge::judge(l, row, Some(worked.end)).await?;
    Ok(l.row.accepted > accepted_before)
}
