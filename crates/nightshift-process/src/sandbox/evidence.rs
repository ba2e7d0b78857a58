//! What the sandbox refused, as the kernel or the factory saw it.
//!
//! Some refusals are observable: the cgroup counts the forks it refused and the processes
//! it killed for memory, a process killed for writing past the file-size limit dies of
//! `SIGXFSZ`, the factory itself refuses a path or measures the disk used, and the init's
//! watcher reports the connections out and the calls it refused ([`super::report`]). Others
//! are not: a write to a read-only mount (or one Landlock refuses) and an open of a hidden
//! file fail inside the program with an ordinary error, and nothing outside learns of it.
//! What is observed is recorded with the iteration.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::report::{Attempt, Report};

/// One kind of refusal, with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Forks refused at the process limit (`count` of them).
    Processes { count: u64 },
    /// Processes killed at the memory limit (`count` of them).
    Memory { count: u64 },
    /// A process killed for writing a file past the size limit.
    FileSize,
    /// A path the worker asked for that leads outside the worktree.
    Path { path: String },
    /// The worktree grew past its disk limit (`bytes` used, `limit` allowed).
    Disk { bytes: u64, limit: u64 },
    /// Connections (or datagrams) from `program` to `to`, an address outside the sandbox
    /// with no route to it, a port of the host, or a Unix socket of the host.
    Connect {
        to: String,
        program: String,
        count: u64,
    },
    /// Calls of `call` by `program` refused (a namespace, a mount, tracing…).
    Syscall {
        call: String,
        program: String,
        count: u64,
    },
}

impl Blocked {
    /// What an init's report stands for (a loopback port as one the host listens on:
    /// [`collect`] leaves out the others).
    fn from_report(r: Report) -> Self {
        let (program, count) = (r.program, r.count);
        let to = match r.attempt {
            Attempt::Outside(to) => format!("{to} (outside the sandbox)"),
            Attempt::Loopback(port) => format!("port {port} of the host"),
            Attempt::HostSocket(path) => format!("the host's socket {path}"),
            Attempt::Syscall(call) => {
                return Self::Syscall {
                    call,
                    program,
                    count,
                };
            }
        };
        Self::Connect { to, program, count }
    }

    /// How many attempts it stands for.
    pub fn count(&self) -> u64 {
        match self {
            Self::Processes { count }
            | Self::Memory { count }
            | Self::Connect { count, .. }
            | Self::Syscall { count, .. } => *count,
            Self::FileSize | Self::Path { .. } | Self::Disk { .. } => 1,
        }
    }
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Processes { count } => write!(f, "{count} forks refused at the process limit"),
            Self::Memory { count } => write!(f, "{count} processes killed at the memory limit"),
            Self::FileSize => {
                f.write_str("a process was killed for writing past the file-size limit")
            }
            Self::Path { path } => write!(f, "`{path}` leads outside the worktree"),
            Self::Disk { bytes, limit } => {
                write!(
                    f,
                    "the worktree holds {bytes} bytes, past its limit of {limit}"
                )
            }
            Self::Connect { to, program, count } => {
                write!(f, "`{program}` tried to reach {to} ({count}×)")
            }
            Self::Syscall {
                call,
                program,
                count,
            } => write!(f, "`{program}` called `{call}`, refused ({count}×)"),
        }
    }
}

/// A refusal and what was running when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The command line (shortened) or the tool that was refused.
    pub by: String,
    pub blocked: Blocked,
}

/// Where an iteration's refusals gather; clones share one list.
#[derive(Debug, Clone, Default)]
pub struct Evidence(Arc<Mutex<Vec<Seen>>>);

/// The longest `by` kept, in characters.
const BY_CHARS: usize = 200;

impl Evidence {
    pub fn record(&self, by: &str, blocked: Blocked) {
        let by: String = by.chars().take(BY_CHARS).collect();
        tracing::info!(by = %by, blocked = %blocked, "The sandbox refused an attempt.");
        if let Ok(mut seen) = self.0.lock() {
            seen.push(Seen { by, blocked });
        }
    }

    /// Everything recorded so far, leaving the list empty.
    pub fn take(&self) -> Vec<Seen> {
        self.0
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default()
    }
}

impl PartialEq for Evidence {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Evidence {}

/// The most of an init's reports read, in bytes.
const REPORT_BYTES: u64 = 1 << 20;

/// Read an init's reports from `pipe` until it closes (or [`REPORT_BYTES`] are read): each
/// attempt once, with its largest count, in the order first seen. A loopback port counts
/// only where the host listens on it (else it is an ordinary refusal, which a test that
/// waits for its own server makes too), judged when first reported, while whatever
/// listens there still does.
pub(crate) async fn collect(pipe: tokio::net::unix::pipe::Receiver) -> Vec<Blocked> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
    let mut lines = tokio::io::BufReader::new(pipe.take(REPORT_BYTES)).lines();
    let mut seen: Vec<Report> = Vec::new();
    let mut host_ports: std::collections::HashMap<u16, bool> = std::collections::HashMap::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(r) = Report::parse(&line) else {
            tracing::warn!(line = %line, "The sandbox's init sent a line that is no report.");
            continue;
        };
        if let Attempt::Loopback(port) = r.attempt
            && !*host_ports
                .entry(port)
                .or_insert_with(|| super::watch::listening(Path::new("/proc/net"), port))
        {
            continue;
        }
        match seen
            .iter_mut()
            .find(|s| s.attempt == r.attempt && s.program == r.program)
        {
            Some(s) => s.count = s.count.max(r.count),
            None => seen.push(r),
        }
    }
    seen.into_iter().map(Blocked::from_report).collect()
}
