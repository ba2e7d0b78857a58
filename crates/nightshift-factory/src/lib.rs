//! The factory: a shift's jobs run as loops, in parallel, under budgets.
//!
//! One loop per repository of the fleet (the "ralph loop": the same prompt, a fresh
//! worker context each iteration, progress carried in notes). Every iteration ends in a
//! commit under `refs/nightshift/<shift>/<job>/<n>`; gates run on it outside the worker's
//! reach; accepted iterations advance the job's branch, rejected ones are reset away but
//! stay reachable. Stop rules decide when a job ends. State is an append-only event log
//! with its projection in the store, so `nightshift run` after a crash continues each job
//! where it stood. Workers reach models only through the gateway, with a job's own token.
//!
//! It is not the gateway (it runs one, or talks to a running one, through a narrow link),
//! nor the process supervisor (`nightshift-process` starts and ends every child).
//!
//! | module | holds |
//! |---|---|
//! | `shift` | [`run_shift`]: preflight, the gateway, the shift's token, the scheduler |
//! | `job` | one job's loop as stages: prepare, work, commit, gate and judge, land |
//! | `rules` | the stop rules, pure functions of where a job stands |
//! | `resume` | where a job picks up after a stop or a crash, pure functions of its history |
//! | `gating` | the gates on an iteration's commit: policy, commands, the done-check |
//! | `worker`, `external` | what runs an iteration: the built-in agent, a command, an agent CLI |
//! | `control` | the supervisor's controls read from the event log, the line's own rules |
//! | `ctx` | what a shift's jobs share; [`Progress`] for a live display |
//! | `spec_diff` | what differs between a stored spec and a new one |
//! | `report` | [`ShiftReport`]: per job its stop, iterations, defects by gate, tokens, dollars |
//! | `layout` | [`Layout`]: where the factory keeps mirrors, worktrees and scratch space |

mod control;
mod ctx;
mod error;
mod external;
mod gating;
mod guards;
mod job;
mod landing;
mod layout;
mod report;
mod resume;
mod rules;
mod sandbox;
mod shift;
mod spec_diff;
mod worker;

pub use ctx::{Phase, Progress};
pub use error::FactoryError;
pub use gating::end_processes;
pub use layout::Layout;
pub use report::{BlockedInIteration, JobReport, ShiftReport, iteration_diff, job_diff, report};
pub use shift::{Options, run_shift};

/// For the binary: the argument that makes it the sandbox's init, the init itself, and
/// the host check `nightshift doctor` shows.
pub use nightshift_process::sandbox::{
    INIT_ARG as SANDBOX_INIT_ARG, Probe as SandboxProbe, init::main as sandbox_init,
    probe as probe_sandbox,
};
