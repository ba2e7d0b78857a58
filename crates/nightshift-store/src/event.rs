//! The event log's events: one tagged enum, the public record of what happened in a shift.
//!
//! Every change of the factory's state is recorded as one [`Event`] in the same transaction
//! as the rows it changes (`FactoryStore::record`). The floor serves these events as they
//! are, so their JSON is a documented, stable shape (`docs/events.md`): an object with
//! `"type"` naming the event (snake_case) and the event's fields beside it. New fields may
//! be added (readers ignore what they do not know); a field is never renamed or removed.
//! The store keeps the type in the `kind` column and the other fields in `data`.

use serde::{Deserialize, Serialize};

use crate::states::{IterationState, Landing, StopReason, WorkerStop};

/// Something that happened in a shift, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A shift's first run began: its token was minted and its jobs recorded as pending.
    ShiftStarted {
        jobs: u32,
        budget_nanos: i64,
        concurrency: u32,
    },
    /// A run picked up a shift already in the store (after a stop or a crash).
    ShiftResumed,
    /// Every job of the shift finished.
    ShiftFinished,
    /// A job's starting commit was fixed (before its branch exists, so that a crash in
    /// between resumes on its own branch).
    JobPrepared { base: String },
    /// A job's loop (re)started with a fresh token holding what is left of its budget.
    JobStarted {
        budget_left_nanos: i64,
        base: String,
        branch: String,
        resumed: bool,
    },
    /// The job's reviewers (`[[gates.review]]`) got their token, under the job's, with what
    /// was left of the job's budget: their calls are the job's, counted apart as review.
    ReviewerStarted { budget_left_nanos: i64 },
    /// Iteration `n` began on `base`.
    IterationStarted { n: u32, base: String },
    /// Iteration `n`'s work was committed and kept under its ref.
    IterationCommitted {
        n: u32,
        commit: String,
        worker: WorkerStop,
        /// The worker's own events (tool calls, an agent CLI's event lines), at most 200.
        events: Vec<String>,
    },
    /// Iteration `n` was judged by its gates.
    IterationGated {
        n: u32,
        verdict: IterationState,
        failed_gates: Vec<String>,
        done_verified: bool,
        /// How long the gates took, in milliseconds.
        gate_ms: u64,
        /// Gates that passed but want a person to look before the work lands (a test
        /// changed where the recipe allows it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        review: Vec<String>,
    },
    /// The sandbox refused attempts during iteration `n` (an agent or a test trying to get
    /// out, or past a limit); recorded before the verdict, which it makes a defect.
    SandboxBlocked {
        n: u32,
        attempts: Vec<BlockedAttempt>,
    },
    /// A job's iterations are over and it waits for room under the shift's rollout limits
    /// before its pull request is opened.
    LandingQueued { reason: String },
    /// The job's branch was pushed and its pull request opened (`opened`), or found and
    /// updated in place.
    PullRequestPublished {
        number: u64,
        url: String,
        head: String,
        opened: bool,
    },
    /// The checks on the pull request's head settled (or the watch ended).
    ChecksSettled {
        number: u64,
        head: String,
        checks: Vec<CheckSeen>,
    },
    /// Iteration `n` is a fix: its input is what the forge, a reviewer or the target branch
    /// said (the failing check's name and log excerpt, the review's comments, the
    /// conflicting files).
    LandingFeedback {
        n: u32,
        source: FeedbackSource,
        text: String,
    },
    /// The merge queue landed the job's commit on the target branch, re-gated on that exact
    /// tree.
    Landed { target: String, commit: String },
    /// A supervisor (through the floor or the command line), or the line's own rules,
    /// asked something of the shift (the event has no job) or of one job.
    Control {
        action: Control,
        /// Who asked: `floor` with the token's label or `loopback`, `cli` with the user,
        /// `line` for the shift's own stop rules.
        by: String,
        /// Why, in words (the line's rule that fired).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A job stopped.
    JobFinished {
        reason: StopReason,
        detail: String,
        /// Bytes its worktree held when it finished (not known for a job that failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worktree_bytes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        landing: Option<Landing>,
    },
}

/// What a supervisor can ask of a shift or a job. A paused shift starts no job; a paused
/// job starts no iteration; a kill ends the job's running iteration at once (its work is
/// committed and judged) and stops the job; a steer note is given to the job's next
/// iteration; a requeue gives a stopped job more iterations or budget (within the shift's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    Pause,
    Resume,
    Kill,
    Steer { note: String },
    Requeue { iterations: u32, usd_nanos: i64 },
}

impl Control {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Kill => "kill",
            Self::Steer { .. } => "steer",
            Self::Requeue { .. } => "requeue",
        }
    }
}

/// What a fix iteration answers: the forge's checks, a reviewer, or a target branch the
/// change no longer applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackSource {
    Ci,
    Review,
    Conflict,
}

impl FeedbackSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ci => "ci",
            Self::Review => "review",
            Self::Conflict => "conflict",
        }
    }
}

/// One check on a pull request's head, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSeen {
    pub name: String,
    pub state: CheckOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Pending,
    Success,
    Failure,
}

/// What the sandbox refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockedKind {
    /// Forks refused at `sandbox.processes`.
    Processes,
    /// Processes killed at `sandbox.memory_mb`.
    Memory,
    /// A process killed for writing a file past `sandbox.file_mb`.
    FileSize,
    /// A path leading outside the worktree (the built-in agent's file tools).
    Path,
    /// The worktree grew past `sandbox.disk_mb`.
    Disk,
    /// A connection out: to an address outside the sandbox, a port or a Unix socket of
    /// the host.
    Network,
    /// A system call that leads out of the sandbox (a namespace, a mount, tracing…).
    Syscall,
}

/// One kind of refusal in an iteration: how many, by what, and what is known of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedAttempt {
    pub kind: BlockedKind,
    pub count: u64,
    /// The command line or tool that was refused (shortened).
    pub by: String,
    /// The refusal in words (the path, the bytes used and allowed).
    pub detail: String,
}

impl Event {
    /// The event's type, as its `"type"` field and the store's `kind` column say it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ShiftStarted { .. } => "shift_started",
            Self::ShiftResumed => "shift_resumed",
            Self::ShiftFinished => "shift_finished",
            Self::JobPrepared { .. } => "job_prepared",
            Self::JobStarted { .. } => "job_started",
            Self::ReviewerStarted { .. } => "reviewer_started",
            Self::IterationStarted { .. } => "iteration_started",
            Self::IterationCommitted { .. } => "iteration_committed",
            Self::IterationGated { .. } => "iteration_gated",
            Self::SandboxBlocked { .. } => "sandbox_blocked",
            Self::LandingQueued { .. } => "landing_queued",
            Self::PullRequestPublished { .. } => "pull_request_published",
            Self::ChecksSettled { .. } => "checks_settled",
            Self::LandingFeedback { .. } => "landing_feedback",
            Self::Landed { .. } => "landed",
            Self::Control { .. } => "control",
            Self::JobFinished { .. } => "job_finished",
        }
    }

    /// The event's fields without its type: what the store keeps in `data`.
    pub fn data(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("type");
        }
        v
    }

    /// The event a stored `kind` and `data` describe.
    pub fn from_parts(kind: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        let mut obj = match data {
            serde_json::Value::Object(o) => o,
            _ => serde_json::Map::new(),
        };
        obj.insert("type".into(), kind.into());
        serde_json::from_value(serde_json::Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_event_is_its_type_and_its_fields() {
        let e = Event::IterationGated {
            n: 3,
            verdict: IterationState::Rejected,
            failed_gates: vec!["tests".into()],
            done_verified: false,
            gate_ms: 1200,
            review: vec![],
        };
        assert_eq!(e.kind(), "iteration_gated");
        assert_eq!(
            serde_json::to_value(&e).ok(),
            Some(
                json!({"type": "iteration_gated", "n": 3, "verdict": "rejected", "failed_gates": ["tests"], "done_verified": false, "gate_ms": 1200})
            )
        );
        assert_eq!(Event::from_parts(e.kind(), e.data()).ok(), Some(e));
    }

    #[test]
    fn kind_is_the_serialized_type_for_every_event() {
        let events = [
            Event::ShiftStarted {
                jobs: 1,
                budget_nanos: 2,
                concurrency: 3,
            },
            Event::ShiftResumed,
            Event::ShiftFinished,
            Event::JobPrepared { base: "b".into() },
            Event::JobStarted {
                budget_left_nanos: 1,
                base: "b".into(),
                branch: "x".into(),
                resumed: false,
            },
            Event::IterationStarted {
                n: 1,
                base: "b".into(),
            },
            Event::IterationCommitted {
                n: 1,
                commit: "c".into(),
                worker: WorkerStop::Thrashing,
                events: vec![],
            },
            Event::IterationGated {
                n: 1,
                verdict: IterationState::Accepted,
                failed_gates: vec![],
                done_verified: true,
                gate_ms: 0,
                review: vec!["tests-intact".into()],
            },
            Event::SandboxBlocked {
                n: 2,
                attempts: vec![BlockedAttempt {
                    kind: BlockedKind::Processes,
                    count: 40,
                    by: "python3 forks.py".into(),
                    detail: "40 forks refused at the process limit".into(),
                }],
            },
            Event::LandingQueued {
                reason: "5 pull requests open (landing.max_open_pull_requests = 5)".into(),
            },
            Event::PullRequestPublished {
                number: 7,
                url: "http://forge/o/r/pull/7".into(),
                head: "c".into(),
                opened: true,
            },
            Event::ChecksSettled {
                number: 7,
                head: "c".into(),
                checks: vec![CheckSeen {
                    name: "ci/test".into(),
                    state: CheckOutcome::Failure,
                }],
            },
            Event::LandingFeedback {
                n: 4,
                source: FeedbackSource::Ci,
                text: "ci/test failed".into(),
            },
            Event::Landed {
                target: "main".into(),
                commit: "c".into(),
            },
            Event::Control {
                action: Control::Steer {
                    note: "try the parser first".into(),
                },
                by: "floor loopback".into(),
                reason: None,
            },
            Event::Control {
                action: Control::Pause,
                by: "line".into(),
                reason: Some("6 of the last 10 iterations were defects".into()),
            },
            Event::JobFinished {
                reason: StopReason::Done,
                detail: "d".into(),
                worktree_bytes: Some(4),
                landing: Some(Landing::Pull {
                    kind: crate::LandingKind::CiGreen,
                    detail: "#7".into(),
                }),
            },
        ];
        for e in events {
            let v = serde_json::to_value(&e).unwrap_or_default();
            assert_eq!(v["type"], json!(e.kind()));
            assert_eq!(Event::from_parts(e.kind(), e.data()).ok(), Some(e));
        }
    }

    /// Events written before the log was typed read as the same events.
    #[test]
    fn events_of_the_previous_version_read_back() {
        let committed = Event::from_parts(
            "iteration_committed",
            json!({"n": 2, "commit": "abc", "worker": "finished (claims done)", "events": ["x"]}),
        );
        assert_eq!(
            committed.ok(),
            Some(Event::IterationCommitted {
                n: 2,
                commit: "abc".into(),
                worker: WorkerStop::ClaimsDone,
                events: vec!["x".into()]
            })
        );
        let finished = Event::from_parts(
            "job_finished",
            json!({"reason": "stalled", "detail": "d", "worktree_bytes": 10, "landing": "failed: rejected"}),
        );
        assert_eq!(
            finished.ok(),
            Some(Event::JobFinished {
                reason: StopReason::Stalled,
                detail: "d".into(),
                worktree_bytes: Some(10),
                landing: Some(Landing::Failed {
                    reason: "rejected".into()
                }),
            })
        );
        let failed = Event::from_parts(
            "job_finished",
            json!({"reason": "failed", "detail": "no repo"}),
        );
        assert_eq!(
            failed.ok(),
            Some(Event::JobFinished {
                reason: StopReason::Failed,
                detail: "no repo".into(),
                worktree_bytes: None,
                landing: None
            })
        );
        assert_eq!(
            Event::from_parts("shift_resumed", json!({})).ok(),
            Some(Event::ShiftResumed)
        );
    }
}
