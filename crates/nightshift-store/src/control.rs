//! Where a shift's controls stand: the fold of its `control` events, the one reading of
//! them that the factory (which obeys them) and the floor (which shows them) share.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::{Control, Event};
use crate::factory_model::EventRow;

/// A control in force (a pause, a kill): who asked, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asked {
    pub seq: i64,
    pub ts_ms: i64,
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A supervisor's note for a job's next iteration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SteerNote {
    pub seq: i64,
    pub ts_ms: i64,
    pub by: String,
    pub note: String,
}

/// One job's controls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobControls {
    pub paused: Option<Asked>,
    /// A kill no requeue has answered yet.
    pub killed: Option<Asked>,
    /// Every steer note, in order; an iteration is given those after the previous
    /// iteration's start.
    pub steers: Vec<SteerNote>,
    /// Iterations and nanodollars the job's requeues added to its spec's.
    pub extra_iterations: u32,
    pub extra_nanos: i64,
    /// The sequence number of the last requeue.
    pub requeued: Option<i64>,
}

impl JobControls {
    /// The notes given to an iteration that starts after the event `after_seq` (the
    /// previous iteration's start).
    pub fn notes_after(&self, after_seq: i64) -> impl Iterator<Item = &SteerNote> {
        self.steers.iter().filter(move |s| s.seq > after_seq)
    }
}

/// A shift's controls, as its `control` events up to `last_seq` leave them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Controls {
    pub last_seq: i64,
    pub paused: Option<Asked>,
    pub jobs: BTreeMap<String, JobControls>,
}

impl Controls {
    /// The controls of a shift's events (any events: those that are not controls only
    /// move `last_seq`).
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a EventRow>) -> Self {
        let mut c = Self::default();
        for e in events {
            c.apply(e);
        }
        c
    }

    pub fn apply(&mut self, row: &EventRow) {
        self.last_seq = self.last_seq.max(row.seq);
        let Event::Control { action, by, reason } = &row.event else {
            return;
        };
        let asked = || Asked {
            seq: row.seq,
            ts_ms: row.ts_ms,
            by: by.clone(),
            reason: reason.clone(),
        };
        let Some(job) = &row.job else {
            match action {
                Control::Pause => self.paused = Some(asked()),
                Control::Resume => self.paused = None,
                // Only pause and resume are actions on a whole shift.
                Control::Kill | Control::Steer { .. } | Control::Requeue { .. } => {}
            }
            return;
        };
        let j = self.jobs.entry(job.clone()).or_default();
        match action {
            Control::Pause => j.paused = Some(asked()),
            Control::Resume => j.paused = None,
            Control::Kill => j.killed = Some(asked()),
            Control::Steer { note } => j.steers.push(SteerNote {
                seq: row.seq,
                ts_ms: row.ts_ms,
                by: by.clone(),
                note: note.clone(),
            }),
            Control::Requeue {
                iterations,
                usd_nanos,
            } => {
                j.extra_iterations = j.extra_iterations.saturating_add(*iterations);
                j.extra_nanos = j.extra_nanos.saturating_add(*usd_nanos);
                j.killed = None;
                j.requeued = Some(row.seq);
            }
        }
    }

    pub fn job(&self, name: &str) -> Option<&JobControls> {
        self.jobs.get(name)
    }

    /// Whether `job` may start an iteration now: neither it nor its shift is paused.
    pub fn may_start(&self, job: &str) -> bool {
        self.paused.is_none() && self.job(job).is_none_or(|j| j.paused.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, job: Option<&str>, action: Control) -> EventRow {
        EventRow {
            seq,
            ts_ms: seq * 1000,
            shift: "s".into(),
            job: job.map(str::to_string),
            event: Event::Control {
                action,
                by: "cli".into(),
                reason: None,
            },
        }
    }

    #[test]
    fn pauses_kills_notes_and_requeues_fold_in_order() {
        let c = Controls::fold(&[
            row(1, None, Control::Pause),
            row(2, Some("a"), Control::Pause),
            row(3, None, Control::Resume),
            row(4, Some("a"), Control::Steer { note: "n1".into() }),
            row(5, Some("b"), Control::Kill),
            row(6, Some("a"), Control::Steer { note: "n2".into() }),
            row(
                7,
                Some("b"),
                Control::Requeue {
                    iterations: 2,
                    usd_nanos: 500,
                },
            ),
            row(
                8,
                Some("b"),
                Control::Requeue {
                    iterations: 1,
                    usd_nanos: 0,
                },
            ),
        ]);
        assert_eq!(c.last_seq, 8);
        assert!(c.paused.is_none());
        assert!(!c.may_start("a"));
        assert!(c.may_start("b"));
        assert!(c.may_start("never-mentioned"));
        let a = c.job("a").expect("a");
        let notes: Vec<&str> = a.notes_after(4).map(|s| s.note.as_str()).collect();
        assert_eq!(notes, ["n2"]);
        let b = c.job("b").expect("b");
        assert_eq!(b.killed, None);
        assert_eq!(
            (b.extra_iterations, b.extra_nanos, b.requeued),
            (3, 500, Some(8))
        );
    }

    #[test]
    fn a_kill_after_the_last_requeue_stands() {
        let c = Controls::fold(&[
            row(
                1,
                Some("a"),
                Control::Requeue {
                    iterations: 1,
                    usd_nanos: 0,
                },
            ),
            row(2, Some("a"), Control::Kill),
        ]);
        assert_eq!(
            c.job("a").and_then(|j| j.killed.as_ref()).map(|k| k.seq),
            Some(2)
        );
    }
}
