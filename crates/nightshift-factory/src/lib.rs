//! The factory: a shift's jobs run as loops, in parallel, under budgets.
//!
//! One loop per repository of the fleet (the "ralph loop": the same prompt, a fresh
//! worker context each iteration, progress carried in notes). Every iteration ends in a
//! commit under `refs/nightshift/<shift>/<job>/<n>`; gates run on it outside the worker's
//! reach; accepted iterations advance the job's branch, rejected ones are reset away but
//! stay reachable. Stop rules decide when a job ends. State is an append-only event log
//! with its projection in the store, so `nightshift run` after a crash continues each job
//! where it stood. Workers reach models only through the gateway, with a job's own token.

mod error;
mod external;
mod gating;
mod job;
mod layout;
mod report;
mod shift;
mod worker;

pub use error::FactoryError;
pub use layout::Layout;
pub use report::{JobReport, ShiftReport, job_diff, report};
pub use shift::{FactoryStore, Options, Phase, Progress, run_shift};
