//! What the sandbox refused, as the kernel or the factory saw it.
//!
//! Some refusals are observable after the fact: the cgroup counts the forks it refused and
//! the processes it killed for memory, a process killed for writing past the file-size limit
//! dies of `SIGXFSZ`, the factory itself refuses a path or measures the disk used. Others
//! are not: a `connect` to an address that does not exist inside, a write to a read-only
//! mount or an open of a hidden file fail inside the program with an ordinary error, and
//! nothing outside learns of it. What is observed is recorded with the iteration.

use std::sync::{Arc, Mutex};

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
}

impl Blocked {
    /// How many attempts it stands for.
    pub fn count(&self) -> u64 {
        match self {
            Self::Processes { count } | Self::Memory { count } => *count,
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
