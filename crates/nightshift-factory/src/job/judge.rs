//! The gate and judge stages: the iteration's commit goes through its gates, the verdict
//! is recorded with the gates' evidence, the worktree is brought to where the next
//! iteration starts, and the stop rules that follow a verdict are read.

use nightshift_clock::now_ms;
use nightshift_store::{Event, GateRow, IterationRow, IterationState, StateChange};

use super::state::Loop;
use crate::ctx::Phase;
use crate::error::FactoryError;
use crate::gating::{Verdict, judge as gate};
use crate::rules::{self, Judged, Stop};
use crate::worker::WorkerEnd;

/// Gate and judge a committed iteration; `end` is how its worker ended, when this run saw
/// it (a resumed iteration's is not known).
pub(crate) async fn judge(
    l: &mut Loop,
    mut row: IterationRow,
    end: Option<WorkerEnd>,
) -> Result<Option<Stop>, FactoryError> {
    let n = u32::try_from(row.n).unwrap_or(u32::MAX);
    let commit = row.commit_sha.clone().unwrap_or_default();
    l.progress(n, Phase::Gating).await;
    let gating = std::time::Instant::now();
    let sandbox = match &l.kit {
        Some(kit) => Some(kit.gates(false)?),
        None => None,
    };
    let mut verdict: Verdict = gate(
        &l.spec.name,
        &l.wt,
        &l.spec.gates,
        &l.secret_rules,
        (&row.base_sha, &commit),
        row.claims_done,
        sandbox.as_ref(),
    )
    .await?;
    if let Some(refused) = super::evidence::take(l, n).await? {
        verdict.results.push(refused);
        verdict.accepted = false;
        verdict.done_verified = false;
    }
    // The reviewers read only a change every other gate passed.
    if verdict.accepted && verdict.files > 0 {
        for (r, figures) in super::review::run(l, (&row.base_sha, &commit)).await? {
            if !r.passed {
                verdict.accepted = false;
                verdict.done_verified = false;
            }
            verdict.figures.push((r.gate.clone(), figures));
            verdict.results.push(r);
        }
        if let Some(feedback) = super::review::feedback(&verdict.results, &l.spec.gates.review) {
            // Given to the next iteration with the agent's own notes, and kept with this
            // iteration's row so that a resumed job gives it too.
            let notes = match row.notes.as_deref() {
                Some(n) if !n.trim().is_empty() => format!("{n}\n\n{feedback}"),
                _ => feedback,
            };
            row.notes = Some(notes.clone());
            l.notes = notes;
        }
    }
    // How long the gates took (reading the change from git, policy, commands): what the
    // factory's own overhead per iteration is measured without.
    let gate_ms = u64::try_from(gating.elapsed().as_millis()).unwrap_or(u64::MAX);
    let changed = verdict.files > 0;
    row.files = verdict.files as i64;
    row.insertions = verdict.insertions as i64;
    row.deletions = verdict.deletions as i64;
    row.finished_ms = Some(now_ms());
    row.state = match (verdict.accepted, changed) {
        (true, true) => IterationState::Accepted,
        (true, false) => IterationState::Verified,
        (false, _) => IterationState::Rejected,
    };
    let job = &mut l.row;
    job.iterations = row.n;
    match row.state {
        IterationState::Accepted => {
            job.accepted += 1;
            job.head_sha = Some(commit.clone());
        }
        IterationState::Rejected => job.defects += 1,
        _ => {}
    }
    l.stall = rules::next_stall(l.stall, verdict.accepted, changed);
    record_verdict(l, &row, &verdict, gate_ms).await?;
    l.shift.line.judged(!verdict.accepted).await?;
    l.shift.line.spent().await?;
    reset_worktree(l, &row, &verdict, changed).await?;
    l.progress(
        n,
        if verdict.accepted {
            Phase::Accepted
        } else {
            Phase::Rejected
        },
    )
    .await;

    let judged = Judged {
        accepted: verdict.accepted,
        changed,
        claims_done: row.claims_done,
        done_verified: verdict.done_verified,
        budget_refusal: match end {
            Some(WorkerEnd::Budget { message }) => Some(message),
            _ => None,
        },
        diff_digest: verdict.diff_digest,
        last_rejected_digest: l.last_rejected_digest,
    };
    if !verdict.accepted && changed {
        l.last_rejected_digest = Some(verdict.diff_digest);
    }
    Ok(rules::after_verdict(&judged))
}

async fn record_verdict(
    l: &Loop,
    row: &IterationRow,
    verdict: &Verdict,
    gate_ms: u64,
) -> Result<(), FactoryError> {
    let gates: Vec<GateRow> = verdict
        .results
        .iter()
        .map(|r| GateRow {
            gate: r.gate.clone(),
            passed: r.passed,
            duration_ms: i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
            exit_code: r.exit_code.map(i64::from),
            timed_out: r.timed_out,
            detail: r.detail.clone(),
            excerpt: r.excerpt.clone(),
            review: r.review.clone(),
            figures: verdict
                .figures
                .iter()
                .find(|(gate, _)| *gate == r.gate)
                .map(|(_, f)| f.clone()),
        })
        .collect();
    let failed_gates: Vec<String> = verdict
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.gate.clone())
        .collect();
    let changes = [
        StateChange::Iteration(row.clone()),
        StateChange::Gates {
            shift: row.shift.clone(),
            job: row.job.clone(),
            n: row.n,
            results: gates,
        },
        StateChange::Job(l.row.clone()),
    ];
    let event = Event::IterationGated {
        n: u32::try_from(row.n).unwrap_or(u32::MAX),
        verdict: row.state,
        failed_gates,
        done_verified: verdict.done_verified,
        gate_ms,
        review: verdict
            .results
            .iter()
            .filter(|r| r.review.is_some())
            .map(|r| r.gate.clone())
            .collect(),
    };
    l.record(event, &changes).await?;
    Ok(())
}

/// Bring the worktree to where the next iteration starts: the accepted commit, or back to
/// the base (a defect, or a verified iteration whose empty commit must not stay on the
/// branch). Gate output left in the worktree goes too, so it can never be committed as the
/// next iteration's change. Every commit stays under its ref.
async fn reset_worktree(
    l: &mut Loop,
    row: &IterationRow,
    verdict: &Verdict,
    changed: bool,
) -> Result<(), FactoryError> {
    let accepted_change = verdict.accepted && changed;
    let next = if accepted_change {
        row.commit_sha.clone().unwrap_or_default()
    } else {
        row.base_sha.clone()
    };
    // An accepted change with no command gate run leaves the worktree exactly at its
    // commit (everything the worker made was committed): no reset needed.
    if !accepted_change || verdict.ran_commands {
        l.wt.reset_to(&next).await.map_err(|e| l.git(e))?;
    }
    l.head = next;
    if accepted_change && verdict.reshaped {
        l.repo_map = None;
    }
    Ok(())
}
