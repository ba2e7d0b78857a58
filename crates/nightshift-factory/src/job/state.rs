//! A job's loop as it runs: its worktree, token, counters, and the helpers every stage uses.

use std::sync::Arc;
use std::time::Duration;

use nightshift_clock::now_ms;
use nightshift_git::{Mirror, Worktree};
use nightshift_spec::JobSpec;
use nightshift_store::{Event, IterationRow, IterationState, JobRow, StateChange};

use crate::ctx::{Phase, Progress, ShiftCtx};
use crate::error::FactoryError;

pub(crate) struct Loop {
    pub shift: Arc<ShiftCtx>,
    pub spec: JobSpec,
    /// The job's row as this loop last recorded it.
    pub row: JobRow,
    pub wt: Worktree,
    pub mirror: Mirror,
    /// The job token's secret and id, and its own budget (what was left of the job's when
    /// it was minted).
    pub token: String,
    pub token_id: String,
    pub token_budget: i64,
    /// Iterations in a row without an accepted change.
    pub stall: u32,
    pub last_rejected_digest: Option<u64>,
    /// Where the worktree's branch stands: the last accepted commit, or the base.
    pub head: String,
    /// The repository map of the tree at `head` (for the built-in agent), kept until an
    /// accepted change adds, deletes or renames files.
    pub repo_map: Option<String>,
    /// The progress notes the next iteration starts from.
    pub notes: String,
    /// The event that started this run's latest iteration (a supervisor's notes after it
    /// go to the next one).
    pub started_seq: Option<i64>,
    /// What the job's processes are sandboxed with (`None`: the sandbox is off).
    pub kit: Option<crate::sandbox::Kit>,
    /// The secret rules of the job's spec, compiled once: the `secrets` gate and the masking
    /// of what the worker said.
    pub secret_rules: nightshift_gates::secrets::Rules,
    /// The reviewers' token (secret, id), minted on first use.
    pub review_token: Option<(String, String)>,
}

impl Loop {
    pub fn git(&self, source: nightshift_git::GitError) -> FactoryError {
        FactoryError::Git {
            job: self.spec.name.clone(),
            source,
        }
    }

    /// Append one of this job's events with the state changes it causes; returns its
    /// sequence number.
    pub async fn record(&self, event: Event, changes: &[StateChange]) -> Result<i64, FactoryError> {
        let s = &self.shift;
        let seq = s
            .store
            .record(
                &s.spec.name,
                Some(&self.spec.name),
                &event,
                now_ms(),
                changes,
            )
            .await?;
        Ok(seq)
    }

    pub async fn progress(&self, n: u32, phase: Phase) {
        let spent = match self.shift.budget(&self.token_id, self.token_budget).await {
            Ok((spent, _)) => spent,
            Err(e) => {
                tracing::debug!(error = %e, "Could not read the job's spend for progress.");
                0
            }
        };
        self.shift.report(Progress {
            job: self.spec.name.clone(),
            iteration: n,
            max_iterations: self.spec.max_iterations,
            phase,
            accepted: u32::try_from(self.row.accepted).unwrap_or(0),
            defects: u32::try_from(self.row.defects).unwrap_or(0),
            spent_nanos: spent,
        });
    }

    /// A new iteration's row.
    pub fn iteration_row(&self, n: u32, state: IterationState, base: &str) -> IterationRow {
        IterationRow {
            shift: self.shift.spec.name.clone(),
            job: self.spec.name.clone(),
            n: i64::from(n),
            state,
            base_sha: base.into(),
            commit_sha: None,
            worker_stop: None,
            claims_done: false,
            summary: None,
            notes: None,
            files: 0,
            insertions: 0,
            deletions: 0,
            started_ms: now_ms(),
            finished_ms: None,
        }
    }

    /// How long the next iteration may take: what is left of the wall clock, or an hour.
    pub fn time_limit(&self) -> Duration {
        let rules = &self.shift.spec.stop;
        match (rules.wall_clock_ms, self.row.started_ms) {
            (Some(limit), Some(started)) => {
                let left = i64::try_from(limit).unwrap_or(i64::MAX) - (now_ms() - started);
                Duration::from_millis(u64::try_from(left.max(500)).unwrap_or(500))
            }
            _ => Duration::from_secs(3600),
        }
    }
}
