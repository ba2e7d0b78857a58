//! Whether the sandbox works on this host, checked once before a job depends on it, and
//! what it can enforce here.

use std::path::{Path, PathBuf};

use super::{Limits, Policy, Sandbox, cgroup};
use crate::{Command, End};

/// The variable that names the `bwrap` binary, where it is not `bwrap` on `PATH`.
pub const BWRAP_VAR: &str = "NIGHTSHIFT_BWRAP";

/// What the host enforces beyond the namespaces and mounts (which every working sandbox
/// has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Enforced {
    /// Processes per run, by a cgroup (else per user, by `setrlimit`).
    pub processes_per_run: bool,
    /// Memory per run, by a cgroup (else not at all).
    pub memory: bool,
    /// The Landlock ABI whose rules hold beneath the mounts (up to the 6 the init asks
    /// for: files and signals); `None` where the kernel has no Landlock.
    pub landlock: Option<u8>,
}

/// The outcome of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Probe {
    pub bwrap: Option<PathBuf>,
    /// `Err` with the reason and the fix.
    pub works: Result<(), String>,
    pub enforced: Enforced,
}

/// `bwrap`: [`BWRAP_VAR`] if set (and there), else the first on `PATH`.
pub fn find_bwrap() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(BWRAP_VAR) {
        return std::fs::canonicalize(p).ok().filter(|p| p.is_file());
    }
    // Absolute entries only: a relative one would be looked up from wherever the factory
    // runs a job.
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// Start `true` in a sandbox whose init is `init`, and say whether it worked.
pub async fn probe(init: &Path) -> Probe {
    let (processes_per_run, memory) = tokio::task::spawn_blocking(cgroup::available)
        .await
        .unwrap_or((false, false));
    let enforced = Enforced {
        processes_per_run,
        memory,
        landlock: super::layers::landlock_abi(),
    };
    let Some(bwrap) = find_bwrap() else {
        return Probe {
            bwrap: None,
            works: Err(format!(
                "bubblewrap (`bwrap`) is not installed: run `apt-get install bubblewrap`, or name the binary in {BWRAP_VAR}"
            )),
            enforced,
        };
    };
    let sandbox = Sandbox::new(
        bwrap.clone(),
        init.to_path_buf(),
        Policy {
            limits: Limits {
                processes: Some(64),
                ..Limits::default()
            },
            ..Policy::default()
        },
    );
    let run = Command::new("true", "/")
        .sandbox(sandbox)
        .time_limit(std::time::Duration::from_secs(20))
        .output(8192)
        .await;
    let works = match run {
        Ok(r) if r.end == End::Exited(0) => Ok(()),
        Ok(r) => Err(format!(
            "{} could not start a sandbox ({:?}): {} — if unprivileged user namespaces are off, allow them (`sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04 also `sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or run inside a container that permits them",
            bwrap.display(),
            r.end,
            r.output.text().trim()
        )),
        Err(e) => Err(format!("cannot run {}: {}", bwrap.display(), e.source)),
    };
    Probe {
        bwrap: Some(bwrap),
        works,
        enforced,
    }
}
