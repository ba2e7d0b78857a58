//! The factory's states as types: what a shift, a job and an iteration can be, why a job
//! stopped, how a worker's iteration ended, where a job's work landed.
//!
//! Each is stored as the snake_case text of its variant, the same text serde writes, and a
//! `CHECK` in the schema (migration 0004) refuses any other: a typo cannot invent a state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stored text that names no variant of the state it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what} (one of: {allowed})")]
pub struct UnknownState {
    pub what: &'static str,
    pub value: String,
    pub allowed: String,
}

/// A state stored as text: its variants and their names, one place.
macro_rules! text_state {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The text stored and serialized for this state.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The state a stored text names.
            pub fn parse(text: &str) -> Result<Self, UnknownState> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownState {
                        what: $what,
                        value: other.to_string(),
                        allowed: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }
    };
}

text_state!(
    /// A shift: started (or resumed) and not every job finished, or every job finished.
    ShiftState, "shift state", {
        Running = "running",
        Finished = "finished",
    }
);

text_state!(
    /// A job: not started yet, looping, or stopped (with a [`StopReason`]).
    JobState, "job state", {
        Pending = "pending",
        Running = "running",
        /// Its iterations are over and its pull request waits for room under the shift's
        /// rollout limits (`landing.max_open_pull_requests`, `pull_requests_per_hour`).
        QueuedForLanding = "queued_for_landing",
        /// Its pull request is open and its checks are watched (and fixed).
        Landing = "landing",
        Finished = "finished",
    }
);

text_state!(
    /// An iteration, in the order it passes through them: the worker is at work
    /// (`running`), its work is committed under the iteration's ref (`committed`), then the
    /// verdict: `accepted` (a change that passed every gate and advanced the branch),
    /// `verified` (no change, every gate passed: the task checked, nothing to land) or
    /// `rejected` (a defect: kept under its ref, never landed). After a crash, a `running`
    /// or `committed` iteration is committed and judged on resume, never left behind.
    IterationState, "iteration state", {
        Running = "running",
        Committed = "committed",
        Accepted = "accepted",
        Verified = "verified",
        Rejected = "rejected",
    }
);

impl IterationState {
    /// Whether the iteration has its verdict.
    pub fn is_judged(self) -> bool {
        matches!(self, Self::Accepted | Self::Verified | Self::Rejected)
    }
}

text_state!(
    /// Why a job stopped.
    StopReason, "stop reason", {
        /// The worker claimed done and the gates (and the done-check) verified it.
        Done = "done",
        /// The budget left cannot pay for another iteration, or the gateway refused a call.
        Budget = "budget",
        /// `stop.max_iterations` iterations ran.
        MaxIterations = "max_iterations",
        /// `stop.wall_clock_minutes` passed.
        WallClock = "wall_clock",
        /// `stop.stall_iterations` iterations in a row without an accepted change, or the
        /// same rejected change twice in a row.
        Stalled = "stalled",
        /// The job could not go on (its repository, git, the store): the detail says why.
        Failed = "failed",
        /// A supervisor killed it (the floor, `nightshift kill`); its running iteration was
        /// ended, committed and judged like any other.
        Killed = "killed",
    }
);

text_state!(
    /// How the worker's part of an iteration ended.
    WorkerStop, "worker stop", {
        /// It finished its turn.
        Finished = "finished",
        /// It finished and claimed the task done (the gates then verify the claim). Events
        /// written before states were typed call it `finished (claims done)`.
        #[serde(alias = "finished (claims done)")]
        ClaimsDone = "claims_done",
        /// The gateway refused a call for the budget.
        Budget = "budget",
        /// It failed: its model calls, its process, its time or turn limit.
        Failed = "failed",
        /// It repeated the same failing tool call until it was stopped.
        Thrashing = "thrashing",
    }
);

text_state!(
    /// Where a job's accepted work landed, without its detail (see [`Landing`]).
    LandingKind, "landing", {
        Nothing = "nothing",
        Pushed = "pushed",
        Failed = "failed",
        Merged = "merged",
        CiGreen = "ci_green",
        CiFailed = "ci_failed",
        CiPending = "ci_pending",
        ChangesRequested = "changes_requested",
        Closed = "closed",
        Conflict = "conflict",
    }
);

text_state!(
    /// What a floor token may do.
    FloorRole, "floor role", {
        /// Read the floor: its pages, API, events and metrics.
        Viewer = "viewer",
        /// Read, and act: pause, resume, kill, steer, requeue.
        Operator = "operator",
    }
);

text_state!(
    /// A pull request as the forge last reported it.
    PullState, "pull request state", {
        Open = "open",
        /// Closed without merging.
        Closed = "closed",
        Merged = "merged",
    }
);

text_state!(
    /// How a model call ended (the ledger's `outcome`). The default is a refusal, so that
    /// `LedgerRow::default()` is a refusal's row of zeros.
    #[derive(Default)]
    CallOutcome, "call outcome", {
        /// Answered in full.
        Ok = "ok",
        /// Refused before any upstream call (no budget left); its row costs nothing.
        #[default]
        Refused = "refused",
        /// A stream the gateway ended itself because the upstream ignored the output cap.
        Cut = "cut",
        /// The upstream failed, answered an error, or sent something unusable.
        UpstreamError = "upstream_error",
        /// The client went away mid-stream; settled for what the upstream produced.
        ClientAbort = "client_abort",
        /// The gateway stopped while the call was in flight; billed at its reservation.
        Interrupted = "interrupted",
    }
);

text_state!(
    /// Where a ledger row's billed usage came from (the ledger's `usage_source`).
    #[derive(Default)]
    UsageSource, "usage source", {
        /// The upstream reported it.
        Upstream = "upstream",
        /// The usage never arrived: billed at the reservation.
        Reserved = "reserved",
        /// No upstream call produced anything billable (a refusal's row).
        #[default]
        None = "none",
    }
);

/// Where a job's accepted work landed. The work is on the mirror's branch and the
/// iteration refs in every case. Serialized as its text: `nothing`, `pushed`,
/// `KIND: DETAIL` (`failed: non-fast-forward`, `ci_failed: ci/test failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// No change was accepted: nothing to land.
    Nothing,
    /// The branch was pushed to the source repository (fast-forward only).
    Pushed,
    /// The push, or the forge, refused or failed; `reason` says what and what to do.
    Failed { reason: String },
    /// A pull request's outcome (every kind but `nothing`, `pushed` and `failed`), with
    /// what the forge said.
    Pull { kind: LandingKind, detail: String },
}

impl Landing {
    pub fn kind(&self) -> LandingKind {
        match self {
            Self::Nothing => LandingKind::Nothing,
            Self::Pushed => LandingKind::Pushed,
            Self::Failed { .. } => LandingKind::Failed,
            Self::Pull { kind, .. } => *kind,
        }
    }

    /// The detail stored beside the kind.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Failed { reason } => Some(reason),
            Self::Pull { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// From the stored kind and detail.
    pub fn from_parts(kind: LandingKind, detail: Option<String>) -> Self {
        match kind {
            LandingKind::Nothing => Self::Nothing,
            LandingKind::Pushed => Self::Pushed,
            LandingKind::Failed => Self::Failed {
                reason: detail.unwrap_or_default(),
            },
            kind => Self::Pull {
                kind,
                detail: detail.unwrap_or_default(),
            },
        }
    }
}

impl fmt::Display for Landing {
    /// `nothing`, `pushed`, `KIND: DETAIL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(d) if !d.is_empty() => write!(f, "{}: {d}", self.kind()),
            _ => f.write_str(self.kind().as_str()),
        }
    }
}

impl std::str::FromStr for Landing {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, detail) = match text.split_once(": ") {
            Some((kind, detail)) if LandingKind::parse(kind).is_ok() => (kind, Some(detail)),
            _ => (text, None),
        };
        let kind = LandingKind::parse(kind)?;
        Ok(Self::from_parts(kind, detail.map(str::to_string)))
    }
}

impl Serialize for Landing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Landing {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text each state is stored as is the text serde writes, and parses back.
    #[test]
    fn every_state_round_trips_through_its_text_and_serde() {
        fn check<T: Copy + PartialEq + fmt::Debug + Serialize>(
            all: &[T],
            text: fn(T) -> &'static str,
            parse: fn(&str) -> Result<T, UnknownState>,
        ) {
            for &s in all {
                assert_eq!(parse(text(s)), Ok(s));
                assert_eq!(
                    serde_json::to_value(s).ok(),
                    Some(serde_json::Value::String(text(s).into()))
                );
            }
        }
        check(ShiftState::ALL, ShiftState::as_str, ShiftState::parse);
        check(JobState::ALL, JobState::as_str, JobState::parse);
        check(
            IterationState::ALL,
            IterationState::as_str,
            IterationState::parse,
        );
        check(StopReason::ALL, StopReason::as_str, StopReason::parse);
        check(WorkerStop::ALL, WorkerStop::as_str, WorkerStop::parse);
        check(LandingKind::ALL, LandingKind::as_str, LandingKind::parse);
        check(PullState::ALL, PullState::as_str, PullState::parse);
        check(CallOutcome::ALL, CallOutcome::as_str, CallOutcome::parse);
        check(UsageSource::ALL, UsageSource::as_str, UsageSource::parse);
    }

    #[test]
    fn the_stored_texts_are_the_documented_ones() {
        let texts = |all: &[&'static str]| all.join(",");
        assert_eq!(
            texts(&JobState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "pending,running,queued_for_landing,landing,finished"
        );
        assert_eq!(
            texts(
                &LandingKind::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
            ),
            "nothing,pushed,failed,merged,ci_green,ci_failed,ci_pending,changes_requested,closed,conflict"
        );
        assert_eq!(
            texts(
                &IterationState::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
            ),
            "running,committed,accepted,verified,rejected"
        );
        assert_eq!(
            texts(
                &StopReason::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
            ),
            "done,budget,max_iterations,wall_clock,stalled,failed,killed"
        );
        assert_eq!(
            texts(
                &WorkerStop::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
            ),
            "finished,claims_done,budget,failed,thrashing"
        );
    }

    #[test]
    fn an_unknown_text_is_an_error_that_lists_the_valid_ones() {
        assert_eq!(
            JobState::parse("runing").unwrap_err().to_string(),
            "`runing` is not a valid job state (one of: pending, running, queued_for_landing, landing, finished)"
        );
    }

    #[test]
    fn landing_renders_and_splits_into_its_stored_parts() {
        let failed = Landing::Failed {
            reason: "non-fast-forward".into(),
        };
        assert_eq!(failed.to_string(), "failed: non-fast-forward");
        assert_eq!(
            (failed.kind(), failed.detail()),
            (LandingKind::Failed, Some("non-fast-forward"))
        );
        assert_eq!(
            Landing::from_parts(LandingKind::Failed, Some("non-fast-forward".into())),
            failed
        );
        assert_eq!(Landing::Pushed.to_string(), "pushed");
        assert_eq!(
            "failed: non-fast-forward".parse::<Landing>(),
            Ok(failed.clone())
        );
        assert_eq!("nothing".parse::<Landing>(), Ok(Landing::Nothing));
        let red = Landing::Pull {
            kind: LandingKind::CiFailed,
            detail: "ci/test failed: 2 of 3 checks".into(),
        };
        assert_eq!(red.to_string(), "ci_failed: ci/test failed: 2 of 3 checks");
        assert_eq!(red.to_string().parse::<Landing>(), Ok(red.clone()));
        assert_eq!(
            Landing::from_parts(LandingKind::Merged, Some("#7 at 1a2b3c".into())).kind(),
            LandingKind::Merged
        );
        assert_eq!(
            serde_json::to_string(&failed).ok().as_deref(),
            Some("\"failed: non-fast-forward\"")
        );
        assert_eq!(
            Landing::from_parts(LandingKind::Nothing, None),
            Landing::Nothing
        );
    }
}
