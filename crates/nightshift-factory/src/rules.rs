//! The stop rules: when a job ends, as pure functions of where it stands.

use nightshift_store::StopReason;

/// Why a job stops, and the sentence that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    pub reason: StopReason,
    pub detail: String,
}

impl Stop {
    pub fn new(reason: StopReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// Where a job stands before an iteration, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Standing {
    pub iterations: i64,
    pub max_iterations: u32,
    /// Milliseconds since the job first started, once it has.
    pub elapsed_ms: Option<i64>,
    pub wall_clock_ms: Option<u64>,
    /// Iterations in a row without an accepted change.
    pub stall: u32,
    pub stall_iterations: u32,
    /// What the job may still spend: the least of its budget and the shift's.
    pub budget_left: i64,
    /// About what an iteration's first call costs.
    pub min_call_nanos: i64,
}

/// The rules checked before an iteration starts, in this order: iterations, wall clock,
/// stall, budget.
pub(crate) fn before_iteration(s: &Standing) -> Option<Stop> {
    if s.iterations >= i64::from(s.max_iterations) {
        return Some(Stop::new(
            StopReason::MaxIterations,
            "reached stop.max_iterations",
        ));
    }
    if let (Some(limit), Some(elapsed)) = (s.wall_clock_ms, s.elapsed_ms)
        && elapsed >= i64::try_from(limit).unwrap_or(i64::MAX)
    {
        return Some(Stop::new(
            StopReason::WallClock,
            "reached stop.wall_clock_minutes",
        ));
    }
    if s.stall >= s.stall_iterations {
        return Some(Stop::new(
            StopReason::Stalled,
            format!("{} iterations in a row without an accepted change", s.stall),
        ));
    }
    if s.budget_left < s.min_call_nanos {
        return Some(Stop::new(
            StopReason::Budget,
            format!(
                "the budget left ({}) cannot pay for another iteration's first call (about {})",
                nightshift_meter::format_usd(s.budget_left.max(0)),
                nightshift_meter::format_usd(s.min_call_nanos)
            ),
        ));
    }
    None
}

/// An iteration as judged, as far as the stop rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judged {
    pub accepted: bool,
    /// The change was not empty.
    pub changed: bool,
    pub claims_done: bool,
    /// The done-check passed (or none is set) while the worker claimed done.
    pub done_verified: bool,
    /// The gateway refused the worker a call for the budget (its message).
    pub budget_refusal: Option<String>,
    /// A digest of the change, and of the last rejected change before it.
    pub diff_digest: u64,
    pub last_rejected_digest: Option<u64>,
}

/// The rules checked after an iteration's verdict: done and verified, the budget, the
/// same rejected change twice in a row.
pub(crate) fn after_verdict(j: &Judged) -> Option<Stop> {
    if j.accepted && j.claims_done && j.done_verified {
        return Some(Stop::new(
            StopReason::Done,
            "the agent claimed done and the gates verified it",
        ));
    }
    if let Some(message) = &j.budget_refusal {
        return Some(Stop::new(StopReason::Budget, message.clone()));
    }
    if !j.accepted && j.changed && j.last_rejected_digest == Some(j.diff_digest) {
        return Some(Stop::new(
            StopReason::Stalled,
            "the same rejected change twice in a row",
        ));
    }
    None
}

/// Iterations in a row without an accepted change, after this verdict.
pub(crate) fn next_stall(stall: u32, accepted: bool, changed: bool) -> u32 {
    if accepted && changed { 0 } else { stall + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named case: the input, and the stop it should give (reason and detail).
    type Case<T> = (&'static str, T, Option<(StopReason, &'static str)>);

    fn standing() -> Standing {
        Standing {
            iterations: 2,
            max_iterations: 5,
            elapsed_ms: Some(1_000),
            wall_clock_ms: Some(60_000),
            stall: 1,
            stall_iterations: 3,
            budget_left: 1_000_000,
            min_call_nanos: 10_000,
        }
    }

    #[test]
    fn before_an_iteration() {
        let cases: Vec<Case<Standing>> = vec![
            ("nothing stops it", standing(), None),
            (
                "the last allowed iteration ran",
                Standing {
                    iterations: 5,
                    ..standing()
                },
                Some((StopReason::MaxIterations, "reached stop.max_iterations")),
            ),
            (
                "past the wall clock",
                Standing {
                    elapsed_ms: Some(60_000),
                    ..standing()
                },
                Some((StopReason::WallClock, "reached stop.wall_clock_minutes")),
            ),
            (
                "no wall clock set",
                Standing {
                    elapsed_ms: Some(i64::MAX),
                    wall_clock_ms: None,
                    ..standing()
                },
                None,
            ),
            (
                "not started yet",
                Standing {
                    elapsed_ms: None,
                    wall_clock_ms: Some(0),
                    ..standing()
                },
                None,
            ),
            (
                "stalled",
                Standing {
                    stall: 3,
                    ..standing()
                },
                Some((
                    StopReason::Stalled,
                    "3 iterations in a row without an accepted change",
                )),
            ),
            (
                "cannot pay for a first call",
                Standing {
                    budget_left: 9_999,
                    ..standing()
                },
                Some((
                    StopReason::Budget,
                    "the budget left ($0.000009999) cannot pay for another iteration's first call (about $0.00001)",
                )),
            ),
            (
                "overspent (negative left) reads as $0",
                Standing {
                    budget_left: -5,
                    min_call_nanos: 20_000_000,
                    ..standing()
                },
                Some((
                    StopReason::Budget,
                    "the budget left ($0.00) cannot pay for another iteration's first call (about $0.02)",
                )),
            ),
            (
                "iterations win over every other rule",
                Standing {
                    iterations: 9,
                    stall: 9,
                    budget_left: 0,
                    elapsed_ms: Some(i64::MAX),
                    ..standing()
                },
                Some((StopReason::MaxIterations, "reached stop.max_iterations")),
            ),
        ];
        for (name, s, want) in cases {
            let got = before_iteration(&s);
            let want = want.map(|(r, d)| Stop::new(r, d));
            assert_eq!(got, want, "{name}");
        }
    }

    fn judged() -> Judged {
        Judged {
            accepted: true,
            changed: true,
            claims_done: false,
            done_verified: false,
            budget_refusal: None,
            diff_digest: 7,
            last_rejected_digest: None,
        }
    }

    #[test]
    fn after_a_verdict() {
        let cases: Vec<Case<Judged>> = vec![
            ("accepted, not done", judged(), None),
            (
                "done and verified",
                Judged {
                    claims_done: true,
                    done_verified: true,
                    ..judged()
                },
                Some((
                    StopReason::Done,
                    "the agent claimed done and the gates verified it",
                )),
            ),
            (
                "done claimed, the done-check failed",
                Judged {
                    claims_done: true,
                    done_verified: false,
                    ..judged()
                },
                None,
            ),
            (
                "done claimed on a rejected change",
                Judged {
                    accepted: false,
                    claims_done: true,
                    done_verified: true,
                    ..judged()
                },
                None,
            ),
            (
                "the gateway refused a call",
                Judged {
                    budget_refusal: Some("budget `job` cannot pay".into()),
                    ..judged()
                },
                Some((StopReason::Budget, "budget `job` cannot pay")),
            ),
            (
                "the same rejected change again",
                Judged {
                    accepted: false,
                    last_rejected_digest: Some(7),
                    ..judged()
                },
                Some((
                    StopReason::Stalled,
                    "the same rejected change twice in a row",
                )),
            ),
            (
                "a different rejected change",
                Judged {
                    accepted: false,
                    last_rejected_digest: Some(8),
                    ..judged()
                },
                None,
            ),
            (
                "an empty rejected change is not a repeated change",
                Judged {
                    accepted: false,
                    changed: false,
                    last_rejected_digest: Some(7),
                    ..judged()
                },
                None,
            ),
        ];
        for (name, j, want) in cases {
            assert_eq!(
                after_verdict(&j),
                want.map(|(r, d)| Stop::new(r, d)),
                "{name}"
            );
        }
    }

    #[test]
    fn only_an_accepted_change_resets_the_stall() {
        assert_eq!(next_stall(2, true, true), 0);
        assert_eq!(next_stall(2, true, false), 3, "verified without a change");
        assert_eq!(next_stall(2, false, true), 3);
        assert_eq!(next_stall(0, false, false), 1);
    }
}
