//! A supervisor's actions, checked and appended to the event log: the one place the floor,
//! the command line and the MCP server change a shift. A running shift reads them from the
//! log (its `control` events) within a poll; a shift that is not running reads them when it
//! runs next.

use serde::Serialize;

use nightshift_clock::now_ms;
use nightshift_store::{
    Backend, Control, Controls, Event, JobRow, JobState, ShiftState, StateChange,
};

/// Why an action was refused: the caller's mistake (`NotFound`, `Conflict`, `Invalid`) or
/// the store's.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] nightshift_store::StoreError),
}

/// What an action did: the event that records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acted {
    pub seq: i64,
    pub shift: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub action: Control,
    pub by: String,
}

/// Check `action` against where the shift (and `job`, if any) stands, and append it.
pub async fn act(
    store: &dyn Backend,
    shift: &str,
    job: Option<&str>,
    action: Control,
    by: &str,
) -> Result<Acted, ActError> {
    let Some(mut shift_row) = store.shift(shift).await? else {
        return Err(ActError::NotFound(format!(
            "no shift named `{shift}` in this store (see `nightshift status`)"
        )));
    };
    let controls = Controls::fold(&store.events_of(shift, "control").await?);
    let mut changes = Vec::new();
    match job {
        None => {
            if !matches!(action, Control::Pause | Control::Resume) {
                return Err(ActError::Invalid(format!(
                    "`{}` is an action on a job: name one (shift `{shift}`)",
                    action.as_str()
                )));
            }
            if shift_row.state == ShiftState::Finished {
                return Err(ActError::Conflict(format!(
                    "shift `{shift}` has finished: there is nothing to {}",
                    action.as_str()
                )));
            }
            match (&action, controls.paused.is_some()) {
                (Control::Pause, true) => {
                    return Err(ActError::Conflict(format!(
                        "shift `{shift}` is already paused"
                    )));
                }
                (Control::Resume, false) => {
                    return Err(ActError::Conflict(format!("shift `{shift}` is not paused")));
                }
                _ => {}
            }
        }
        Some(name) => {
            let jobs = store.jobs(shift).await?;
            let Some(row) = jobs.iter().find(|j| j.name == name) else {
                let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
                return Err(ActError::NotFound(format!(
                    "shift `{shift}` has no job `{name}` (jobs: {})",
                    names.join(", ")
                )));
            };
            let jc = controls.job(name).cloned().unwrap_or_default();
            check_job(shift, row, &jc, &action)?;
            if matches!(action, Control::Requeue { .. }) {
                changes.push(StateChange::Job(requeued(row)));
                if shift_row.state == ShiftState::Finished {
                    shift_row.state = ShiftState::Running;
                    shift_row.finished_ms = None;
                    changes.push(StateChange::Shift(shift_row));
                }
            }
        }
    }
    let event = Event::Control {
        action: action.clone(),
        by: by.to_string(),
        reason: None,
    };
    let seq = store.record(shift, job, &event, now_ms(), &changes).await?;
    tracing::info!(
        shift,
        job,
        action = action.as_str(),
        by,
        seq,
        "Supervisor's action recorded."
    );
    Ok(Acted {
        seq,
        shift: shift.to_string(),
        job: job.map(str::to_string),
        action,
        by: by.to_string(),
    })
}

fn check_job(
    shift: &str,
    row: &JobRow,
    jc: &nightshift_store::JobControls,
    action: &Control,
) -> Result<(), ActError> {
    let name = &row.name;
    let finished = row.state == JobState::Finished;
    let what = action.as_str();
    match action {
        Control::Requeue {
            iterations,
            usd_nanos,
        } => {
            if !finished {
                return Err(ActError::Conflict(format!(
                    "job `{name}` of shift `{shift}` has not stopped ({}): only a stopped job is requeued",
                    row.state
                )));
            }
            if *iterations == 0 && *usd_nanos <= 0 {
                return Err(ActError::Invalid(
                    "a requeue adds iterations, dollars or both: give `iterations` or `usd` above 0".into(),
                ));
            }
            if *usd_nanos < 0 {
                return Err(ActError::Invalid("`usd` cannot be negative".into()));
            }
        }
        _ if finished => {
            return Err(ActError::Conflict(format!(
                "job `{name}` of shift `{shift}` has finished ({}): there is nothing to {what}; `requeue` gives it more iterations",
                row.stop_reason.map_or("finished".into(), |r| r.to_string())
            )));
        }
        Control::Pause | Control::Kill | Control::Steer { .. }
            if matches!(row.state, JobState::QueuedForLanding | JobState::Landing) =>
        {
            return Err(ActError::Conflict(format!(
                "job `{name}` of shift `{shift}` has finished its iterations and is landing ({}): there is no iteration to {what}; close its pull request on the forge to stop it",
                row.state
            )));
        }
        Control::Pause if jc.paused.is_some() => {
            return Err(ActError::Conflict(format!(
                "job `{name}` is already paused"
            )));
        }
        Control::Resume if jc.paused.is_none() => {
            return Err(ActError::Conflict(format!("job `{name}` is not paused")));
        }
        Control::Kill if jc.killed.is_some() => {
            return Err(ActError::Conflict(format!(
                "job `{name}` is already being killed"
            )));
        }
        Control::Steer { note } if note.trim().is_empty() => {
            return Err(ActError::Invalid(
                "a steer needs a `note` that is not empty".into(),
            ));
        }
        Control::Steer { note } if note.len() > MAX_NOTE_BYTES => {
            return Err(ActError::Invalid(format!(
                "a steer note is at most {MAX_NOTE_BYTES} bytes (this one is {})",
                note.len()
            )));
        }
        _ => {}
    }
    Ok(())
}

/// The longest steer note accepted: it goes into a prompt.
pub const MAX_NOTE_BYTES: usize = 8 * 1024;

/// A stopped job as a requeue leaves it: pending again, its history and counters kept.
fn requeued(row: &JobRow) -> JobRow {
    let mut row = row.clone();
    row.state = JobState::Pending;
    row.stop_reason = None;
    row.stop_detail = None;
    row.finished_ms = None;
    row.landing = None;
    row
}
