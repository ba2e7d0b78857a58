//! The factory's rows.

use serde::Serialize;

use crate::event::Event;
use crate::states::{
    IterationState, JobState, Landing, PullState, ShiftState, StopReason, WorkerStop,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShiftRow {
    pub name: String,
    pub spec_path: String,
    pub spec_json: String,
    pub token_id: Option<String>,
    pub state: ShiftState,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRow {
    pub shift: String,
    pub name: String,
    pub source: String,
    pub branch: String,
    pub worktree: Option<String>,
    pub state: JobState,
    pub stop_reason: Option<StopReason>,
    pub stop_detail: Option<String>,
    pub iterations: i64,
    pub accepted: i64,
    pub defects: i64,
    pub base_sha: Option<String>,
    pub head_sha: Option<String>,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    /// Where the accepted work landed, once the job finished.
    pub landing: Option<Landing>,
    /// The job's pull request, once one is opened or adopted.
    pub pull: Option<PullRef>,
}

/// A job's pull request as the factory last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRef {
    /// GitHub's and Gitea's number, GitLab's `iid`.
    pub number: i64,
    pub url: String,
    pub state: PullState,
    /// When this shift opened it; `None` for one it found already open (adopted).
    pub opened_ms: Option<i64>,
}

impl JobRow {
    /// A job as a shift's first run records it: pending, nothing done yet.
    pub fn pending(shift: &str, name: &str, source: &str, branch: &str) -> Self {
        Self {
            shift: shift.into(),
            name: name.into(),
            source: source.into(),
            branch: branch.into(),
            worktree: None,
            state: JobState::Pending,
            stop_reason: None,
            stop_detail: None,
            iterations: 0,
            accepted: 0,
            defects: 0,
            base_sha: None,
            head_sha: None,
            started_ms: None,
            finished_ms: None,
            landing: None,
            pull: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IterationRow {
    pub shift: String,
    pub job: String,
    pub n: i64,
    pub state: IterationState,
    pub base_sha: String,
    pub commit_sha: Option<String>,
    pub worker_stop: Option<WorkerStop>,
    pub claims_done: bool,
    pub summary: Option<String>,
    pub notes: Option<String>,
    pub files: i64,
    pub insertions: i64,
    pub deletions: i64,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateRow {
    pub gate: String,
    pub passed: bool,
    pub duration_ms: i64,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub detail: String,
    pub excerpt: String,
    /// Passed, but a person should look, and why (a test changed where the recipe allows it).
    pub review: Option<String>,
    /// The gate's figures, as JSON in the gate's own shape: the `health` gate's deltas, a
    /// reviewer's findings and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<String>,
}

/// How often one gate of a shift passed and failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateTally {
    pub gate: String,
    pub passed: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    pub seq: i64,
    pub ts_ms: i64,
    pub shift: String,
    pub job: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

/// Money and tokens spent by one job, from the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobSpend {
    pub job: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub settled_nanos: i64,
}
