//! nightshift-process: the one place that starts, watches and ends child processes.
//!
//! Every process the factory starts for a job — a gate, a command the built-in agent runs,
//! an agent CLI, a command worker — is started through [`Command`], so they share one
//! environment policy ([`Env::standard`]), one way of being tagged ([`TAG_VAR`]), the same
//! limits (a time limit, a silence limit) and the same ending: when a run is over, for
//! whatever reason, everything it started is killed — its process group, its descendants,
//! and every process that still carries its run's tag, including ones that started process
//! groups or sessions of their own. A future dropped mid-run (a cancelled iteration) kills
//! the group at once and sweeps the rest off the async runtime.
//!
//! What it deliberately is not: it does not decide what runs (the factory, the gates and the
//! agent do), and it runs nothing itself in async code that blocks: signals go through
//! `rustix`, never a forked `kill`, and scans of `/proc` run on the blocking pool. The
//! sandbox ([`sandbox`]: bubblewrap around our own init) is one more layer inside
//! [`Command`], and nowhere else.
//!
//! Linux only for the sweeps (`/proc`); elsewhere only the process group is ended.
//!
//! | module | holds |
//! |---|---|
//! | [`env`] | [`Env`]: the environment policy, [`TAG_VAR`] |
//! | [`command`] | [`Command`]: what to run, with its limits; [`Run`] and [`End`]: how it went |
//! | [`capture`] | [`Captured`]: the head and the tail of an output, within a byte budget |
//! | `kill` | ending a tree: the group, descendants, tagged processes; [`reap_tagged`] |
//! | [`sandbox`] | [`Sandbox`]: bubblewrap, our init inside, the gateway bridge, cgroups, evidence |

pub mod capture;
pub mod command;
pub mod env;
mod kill;
pub mod sandbox;
mod stream;

pub use capture::Captured;
pub use command::{Command, End, Flow, Run, SpawnError};
pub use env::{Env, TAG_VAR};
pub use kill::reap_tagged;
pub use sandbox::Sandbox;
