//! The report of a shift: per job its stop reason, iterations, accepted changes, defects
//! by gate, tokens and dollars, and dollars per accepted change.

use std::collections::BTreeMap;

use serde::Serialize;

use nightshift_meter::format_usd;
use nightshift_spec::SandboxMode;
use nightshift_store::{
    Backend, BlockedAttempt, Event, EventRow, IterationState, JobRow, JobState, Landing,
    ShiftState, StopReason,
};

use crate::error::FactoryError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    pub job: String,
    pub state: JobState,
    pub stop_reason: Option<StopReason>,
    pub stop_detail: Option<String>,
    pub branch: String,
    pub head: Option<String>,
    /// Where the accepted work landed: `pushed` (to the source repository's branch),
    /// `nothing`, or `failed: …`.
    pub landing: Option<Landing>,
    pub iterations: i64,
    pub accepted: i64,
    pub defects: i64,
    /// Rejected iterations per failing gate (an iteration can fail several).
    pub defects_by_gate: BTreeMap<String, i64>,
    /// Accepted iterations a gate passed only with a flag for a person's review (a test
    /// changed where the recipe allows it): their work is on the branch, not vetted.
    pub needs_review: i64,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub spent_nanos: i64,
    /// Dollars spent per accepted change, when there is one.
    pub nanos_per_accepted: Option<i64>,
    /// Bytes the job's worktree held when the job finished (it is removed then).
    pub worktree_bytes: Option<i64>,
    /// Attempts the sandbox refused, over every iteration (a fork refused at the cap counts
    /// one, a path refused counts one).
    #[serde(skip_serializing_if = "is_zero")]
    pub sandbox_blocked: u64,
    /// What the sandbox refused, by iteration.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sandbox_evidence: Vec<BlockedInIteration>,
    /// The code-health deltas of the job's accepted changes together, in words (with
    /// `[gates.health]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The same per accepted change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_by_change: Vec<ChangeHealth>,
    /// What the reviewer models cost (part of `spent_nanos`), from their gates' figures.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub review_nanos: i64,
    /// Review dollars per accepted change, when there is one and a reviewer ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_nanos_per_accepted: Option<i64>,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// One accepted change's code-health deltas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeHealth {
    pub n: i64,
    pub summary: String,
    pub figures: nightshift_gates::health::Health,
}

/// One of the sandbox's refusals, with the iteration it happened in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedInIteration {
    pub n: u32,
    #[serde(flatten)]
    pub attempt: BlockedAttempt,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShiftReport {
    pub shift: String,
    pub state: ShiftState,
    pub jobs: Vec<JobReport>,
    pub iterations: i64,
    pub accepted: i64,
    pub defects: i64,
    pub spent_nanos: i64,
    pub nanos_per_accepted: Option<i64>,
    /// `off` when the shift ran with `[sandbox] mode = "off"` (absent when it was on).
    #[serde(skip_serializing_if = "is_on")]
    pub sandbox: SandboxMode,
}

fn is_on(m: &SandboxMode) -> bool {
    *m == SandboxMode::On
}

pub async fn report(store: &dyn Backend, shift: &str) -> Result<ShiftReport, FactoryError> {
    let Some(s) = store.shift(shift).await? else {
        return Err(FactoryError::Invalid(format!(
            "no shift named `{shift}` in this store (see `nightshift status`)"
        )));
    };
    let spend = store.spend_by_job(shift).await?;
    let finished = store.events_of(shift, "job_finished").await?;
    let disk = |job: &str| {
        finished
            .iter()
            .rev()
            .filter(|e| e.job.as_deref() == Some(job))
            .find_map(|e| match &e.event {
                Event::JobFinished { worktree_bytes, .. } => Some(*worktree_bytes),
                _ => None,
            })
            .flatten()
            .and_then(|b| i64::try_from(b).ok())
    };
    let blocked = store.events_of(shift, "sandbox_blocked").await?;
    let mut jobs = Vec::new();
    for j in store.jobs(shift).await? {
        let mut by_gate = BTreeMap::new();
        let mut needs_review = 0;
        let mut health_by_change = Vec::new();
        let mut review_nanos = 0;
        for it in store.iterations(shift, &j.name).await? {
            if !it.state.is_judged() {
                continue;
            }
            let gates = store.gate_results(shift, &j.name, it.n).await?;
            review_nanos += gates
                .iter()
                .filter_map(|g| g.figures.as_deref())
                .filter_map(|f| serde_json::from_str::<crate::job::ReviewFigures>(f).ok())
                .map(|f| f.spent_nanos)
                .sum::<i64>();
            if it.state == IterationState::Rejected {
                for g in gates.into_iter().filter(|g| !g.passed) {
                    *by_gate.entry(g.gate).or_insert(0) += 1;
                }
            } else {
                if gates.iter().any(|g| g.review.is_some()) {
                    needs_review += 1;
                }
                let measured = gates
                    .iter()
                    .filter(|g| g.gate == nightshift_gates::health::GATE)
                    .find_map(|g| g.figures.as_deref())
                    .and_then(|f| serde_json::from_str::<nightshift_gates::health::Health>(f).ok());
                if let Some(figures) = measured
                    && it.state == IterationState::Accepted
                {
                    health_by_change.push(ChangeHealth {
                        n: it.n,
                        summary: figures.summary(),
                        figures,
                    });
                }
            }
        }
        let sp = spend
            .iter()
            .find(|s| s.job == j.name)
            .cloned()
            .unwrap_or_default();
        let sandbox_evidence = evidence(&blocked, &j.name);
        let all: Vec<nightshift_gates::health::Health> =
            health_by_change.iter().map(|c| c.figures.clone()).collect();
        jobs.push(JobReport {
            review_nanos,
            review_nanos_per_accepted: (j.accepted > 0 && review_nanos > 0)
                .then(|| review_nanos / j.accepted),
            health: (!all.is_empty())
                .then(|| nightshift_gates::health::Health::combined(&all).summary()),
            health_by_change,
            sandbox_blocked: sandbox_evidence.iter().map(|b| b.attempt.count).sum(),
            sandbox_evidence,
            nanos_per_accepted: (j.accepted > 0).then(|| sp.settled_nanos / j.accepted),
            worktree_bytes: disk(&j.name),
            job: j.name,
            state: j.state,
            stop_reason: j.stop_reason,
            stop_detail: j.stop_detail,
            branch: j.branch,
            head: j.head_sha,
            landing: j.landing,
            iterations: j.iterations,
            accepted: j.accepted,
            defects: j.defects,
            defects_by_gate: by_gate,
            needs_review,
            calls: sp.calls,
            input_tokens: sp.input_tokens,
            output_tokens: sp.output_tokens,
            spent_nanos: sp.settled_nanos,
        });
    }
    let accepted: i64 = jobs.iter().map(|j| j.accepted).sum();
    let spent: i64 = jobs.iter().map(|j| j.spent_nanos).sum();
    // The stored spec holds `sandbox` only when it is off its defaults.
    let stored: serde_json::Value = serde_json::from_str(&s.spec_json).unwrap_or_default();
    let sandbox = if stored["sandbox"]["mode"] == "off" {
        SandboxMode::Off
    } else {
        SandboxMode::On
    };
    Ok(ShiftReport {
        sandbox,
        shift: s.name,
        state: s.state,
        iterations: jobs.iter().map(|j| j.iterations).sum(),
        defects: jobs.iter().map(|j| j.defects).sum(),
        accepted,
        spent_nanos: spent,
        nanos_per_accepted: (accepted > 0).then(|| spent / accepted),
        jobs,
    })
}

/// The sandbox's refusals recorded for `job`, each with its iteration, in order.
fn evidence(blocked: &[EventRow], job: &str) -> Vec<BlockedInIteration> {
    blocked
        .iter()
        .filter(|e| e.job.as_deref() == Some(job))
        .flat_map(|e| match &e.event {
            Event::SandboxBlocked { n, attempts } => attempts
                .iter()
                .map(|a| BlockedInIteration {
                    n: *n,
                    attempt: a.clone(),
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

impl ShiftReport {
    /// The report as a table for a terminal.
    pub fn render(&self) -> String {
        let mut out = format!("shift {} ({})\n", self.shift, self.state);
        if self.sandbox == SandboxMode::Off {
            out.push_str("SANDBOX OFF: this shift's workers and gates ran with the factory's own rights ([sandbox] mode = \"off\")\n");
        }
        out.push_str(&format!(
            "{:<20} {:<15} {:>5} {:>8} {:>7} {:>7} {:>10} {:>12} {:>12}  defects by gate\n",
            "job",
            "stopped",
            "iter",
            "accepted",
            "defects",
            "calls",
            "tokens",
            "dollars",
            "$/accepted"
        ));
        for j in &self.jobs {
            let gates = j
                .defects_by_gate
                .iter()
                .map(|(g, n)| format!("{g}×{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "{:<20} {:<15} {:>5} {:>8} {:>7} {:>7} {:>10} {:>12} {:>12}  {:<9} {}\n",
                j.job,
                j.stop_reason.map_or(j.state.as_str(), StopReason::as_str),
                j.iterations,
                j.accepted,
                j.defects,
                j.calls,
                j.input_tokens + j.output_tokens,
                format_usd(j.spent_nanos),
                j.nanos_per_accepted.map_or("-".into(), format_usd),
                j.landing.as_ref().map_or("-", |l| match l {
                    Landing::Failed { .. } => "FAILED",
                    other => other.kind().as_str(),
                }),
                if gates.is_empty() { "-".into() } else { gates },
            ));
        }
        out.push_str(&format!(
            "{:<20} {:<15} {:>5} {:>8} {:>7} {:>7} {:>10} {:>12} {:>12}\n",
            "total",
            "",
            self.iterations,
            self.accepted,
            self.defects,
            self.jobs.iter().map(|j| j.calls).sum::<i64>(),
            self.jobs
                .iter()
                .map(|j| j.input_tokens + j.output_tokens)
                .sum::<i64>(),
            format_usd(self.spent_nanos),
            self.nanos_per_accepted.map_or("-".into(), format_usd),
        ));
        for j in &self.jobs {
            if let Some(h) = &j.health {
                out.push_str(&format!(
                    "{}: code health of its accepted changes: {h}\n",
                    j.job
                ));
            }
        }
        for j in self.jobs.iter().filter(|j| j.needs_review > 0) {
            out.push_str(&format!(
                "{}: {} accepted iteration{} passed a gate only with a flag for review (a test changed where the recipe allows it): read them before the work lands (`nightshift status {} --json`, gate results)\n",
                j.job,
                j.needs_review,
                if j.needs_review == 1 { "" } else { "s" },
                self.shift
            ));
        }
        for j in self.jobs.iter().filter(|j| j.sandbox_blocked > 0) {
            out.push_str(&format!(
                "{}: the sandbox refused {} attempt{} (an agent or a test trying to get out, or past a limit): see `sandbox_evidence` in `nightshift status {} --json`\n",
                j.job,
                j.sandbox_blocked,
                if j.sandbox_blocked == 1 { "" } else { "s" },
                self.shift
            ));
        }
        let disk: i64 = self.jobs.iter().filter_map(|j| j.worktree_bytes).sum();
        if disk > 0 {
            out.push_str(&format!(
                "worktrees held {:.1} MiB when their jobs finished; removed, the work is on the branches and refs/nightshift/{}/*\n",
                disk as f64 / (1024.0 * 1024.0),
                self.shift
            ));
        }
        out
    }
}

/// A job of the store, and its mirror (made again from its source if it is gone).
async fn job_mirror(
    store: &dyn Backend,
    layout: &crate::Layout,
    shift: &str,
    job: &str,
) -> Result<(JobRow, nightshift_git::Mirror), FactoryError> {
    let jobs = store.jobs(shift).await?;
    if jobs.is_empty() && store.shift(shift).await?.is_none() {
        return Err(FactoryError::Invalid(format!(
            "no shift named `{shift}` in this store (see `nightshift status`)"
        )));
    }
    let Some(row) = jobs.iter().find(|j| j.name == job).cloned() else {
        let names: Vec<_> = jobs.iter().map(|j| j.name.as_str()).collect();
        return Err(FactoryError::Invalid(format!(
            "shift `{shift}` has no job `{job}` (jobs: {})",
            names.join(", ")
        )));
    };
    let mirror = nightshift_git::Mirror::ensure(&layout.mirrors(), &row.source)
        .await
        .map_err(|source| git_error(job, source))?;
    Ok((row, mirror))
}

fn git_error(job: &str, source: nightshift_git::GitError) -> FactoryError {
    FactoryError::Git {
        job: job.to_string(),
        source,
    }
}

/// The accepted change of one job: its branch against where it started.
pub async fn job_diff(
    store: &dyn Backend,
    layout: &crate::Layout,
    shift: &str,
    job: &str,
) -> Result<String, FactoryError> {
    let (row, mirror) = job_mirror(store, layout, shift, job).await?;
    let Some(base) = &row.base_sha else {
        return Err(FactoryError::Invalid(format!(
            "job `{job}` has not started yet"
        )));
    };
    mirror
        .diff(base, &format!("refs/heads/{}", row.branch))
        .await
        .map_err(|e| git_error(job, e))
}

/// What iteration `n` of a job changed: its commit against its base, from the job's
/// mirror.
pub async fn iteration_diff(
    store: &dyn Backend,
    layout: &crate::Layout,
    shift: &str,
    job: &str,
    n: i64,
) -> Result<String, FactoryError> {
    let iteration = store
        .iterations(shift, job)
        .await?
        .into_iter()
        .find(|i| i.n == n);
    let Some((base, commit)) = iteration.and_then(|i| i.commit_sha.map(|c| (i.base_sha, c))) else {
        return Err(FactoryError::Invalid(format!(
            "job `{job}` of shift `{shift}` has no committed iteration {n}"
        )));
    };
    let (_, mirror) = job_mirror(store, layout, shift, job).await?;
    // Shown on the floor: a credential the change added is masked (the `secrets` gate's
    // shipped rules), never served whole.
    mirror
        .diff(&base, &commit)
        .await
        .map(|d| nightshift_gates::secrets::Rules::builtin().redact(&d))
        .map_err(|e| git_error(job, e))
}
