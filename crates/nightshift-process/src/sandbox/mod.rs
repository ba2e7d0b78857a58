//! The sandbox: the layer of [`crate::Command`] that confines a job's processes.
//!
//! A sandboxed run is `bwrap` (bubblewrap, Debian's `bubblewrap`) around our own small init
//! ([`init`], the `__sandbox-init` entry of the binary) around the program:
//!
//! - **Namespaces**: a new user, PID, IPC, UTS, cgroup and network namespace, no nested user
//!   namespaces, every capability dropped, a new session, killed when its parent dies. In its
//!   own PID namespace the program sees only its own processes (not the factory's
//!   `/proc/PID/environ`) and can signal nothing else; when the run ends the namespace's
//!   init dies and the kernel kills whatever is left.
//! - **Files** ([`Policy`]): the host's root read-only; a private `/tmp` (a sized tmpfs),
//!   `/dev` and `/proc`; hidden behind empty read-only folders: the factory's work dir (the
//!   store, mirrors, every job's worktree and scratch), the invoking user's home, `/root`,
//!   `/home`, `/run`; hidden behind an empty file: single files such as `nightshift.toml`
//!   and every Unix socket of the host (a read-only mount does not stop a `connect`); the
//!   toolchains the policy names bound read-only again on top; the job's worktree
//!   read-write, its `.git` file read-only; a private `HOME`.
//! - **Network**: only loopback inside. With [`Network::Gateway`] the init listens on the
//!   gateway's loopback port inside and relays each connection over a Unix socket to a
//!   [`Bridge`] on the host, which connects to the gateway: the one way out.
//! - **Resources** ([`Limits`]): processes and memory per run in a cgroup of its own (v1 or
//!   v2, where this process may create one), file size and open files by `setrlimit` in
//!   the init; what the kernel refused is read back as evidence ([`Blocked`]).
//! - **Kernel layers** ([`layers`]): Landlock (writes only beneath the writable folders, no
//!   signal out) and a seccomp filter whose notifications the init's [`watch`]er answers:
//!   calls that lead out refused, connections out of the sandbox observed, Unix sockets of
//!   the host refused — each reported to the factory ([`report`]) as evidence.
//!
//! [`probe`] says whether all of this works on this host before any job depends on it.

mod args;
mod bridge;
mod cgroup;
mod evidence;
pub mod init;
pub mod layers;
mod probe;
pub mod report;
mod watch;

use std::ffi::OsString;
use std::path::PathBuf;

pub use bridge::Bridge;
pub use evidence::{Blocked, Evidence, Seen};
pub use probe::{Enforced, Probe, find_bwrap, probe};

pub(crate) use args::{host_sockets, wrap};
pub(crate) use cgroup::Cgroup;
pub(crate) use evidence::collect;

/// The argument that makes the binary act as the sandbox's init.
pub const INIT_ARG: &str = "__sandbox-init";

/// Where the sandbox's processes may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    /// Loopback only, with nothing listening.
    #[default]
    None,
    /// Loopback only, with the gateway's port relayed to the host's [`Bridge`] at `socket`.
    Gateway { port: u16, socket: PathBuf },
}

/// Per-run resource limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Processes (and threads) alive at once in the run.
    pub processes: Option<u32>,
    /// Memory of the whole run, in bytes.
    pub memory_bytes: Option<u64>,
    /// The largest file any process may write, in bytes.
    pub file_bytes: Option<u64>,
    /// The size of the private `/tmp` (and `/dev/shm`), in bytes.
    pub tmp_bytes: Option<u64>,
}

/// What a sandboxed run may see and touch. Paths are absolute and mean the same inside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Bound read-write (the job's worktree).
    pub writable: Vec<PathBuf>,
    /// Bound read-only on top of everything else (the worktree's `.git` file, a
    /// toolchain inside a hidden folder, the mirror the worktree's git reads).
    pub read_only: Vec<PathBuf>,
    /// Folders replaced by an empty read-only folder.
    pub hidden: Vec<PathBuf>,
    /// Files replaced by an empty file.
    pub hidden_files: Vec<PathBuf>,
    /// The run's private home, bound read-write (and `HOME` inside).
    pub home: Option<PathBuf>,
    /// Variables set inside on top of the command's own (`TMPDIR` is always `/tmp`).
    pub env: Vec<(OsString, OsString)>,
    pub network: Network,
    pub limits: Limits,
}

/// A sandbox ready to wrap commands: the policy, and how to start the init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The `bwrap` binary.
    pub bwrap: PathBuf,
    /// The binary that acts as the init when given [`INIT_ARG`] first.
    pub init: PathBuf,
    pub policy: Policy,
    /// Where what the run was refused is recorded (shared by every run of an iteration).
    pub evidence: Evidence,
}

impl Sandbox {
    pub fn new(bwrap: PathBuf, init: PathBuf, policy: Policy) -> Self {
        Self {
            bwrap,
            init,
            policy,
            evidence: Evidence::default(),
        }
    }

    /// The same sandbox recording into `evidence`.
    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence = evidence;
        self
    }
}

/// How many processes this user runs now (`RLIMIT_NPROC` counts them all, so a cap set
/// without a cgroup is this many plus the run's own).
pub(crate) fn user_processes() -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let uid = rustix::process::getuid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let n = dir
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .count();
    u64::try_from(n).unwrap_or(0)
}

/// What to start instead of the program: the program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wrapped {
    pub program: OsString,
    pub args: Vec<OsString>,
}
