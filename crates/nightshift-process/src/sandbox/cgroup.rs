//! A cgroup per sandboxed run: the process and memory limits of the whole tree, and the
//! kernel's count of what it refused.
//!
//! cgroup v2 (one folder with `pids.max` and `memory.max`) where the unified hierarchy has
//! the controllers, else v1 (a folder in the `pids` and one in the `memory` hierarchy).
//! Creating one needs the right to write there (root, or a delegated subtree); where that
//! is missing the limits fall back to what `setrlimit` can do ([`super::probe`] says which).
//! Folders are named `nightshift-PID-N`; those of a process that died without removing
//! them are removed the first time this process makes one.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Blocked, Limits};

const ROOT: &str = "/sys/fs/cgroup";

/// One folder of the run's cgroup, by what it limits.
#[derive(Debug)]
enum Dir {
    V2(PathBuf),
    PidsV1(PathBuf),
    MemoryV1(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Self::V2(p) | Self::PidsV1(p) | Self::MemoryV1(p) => p,
        }
    }
}

/// Which hierarchy limits what, on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    v2: Option<PathBuf>,
    pids: Option<PathBuf>,
    memory: Option<PathBuf>,
}

fn layout() -> Layout {
    let root = Path::new(ROOT);
    let controllers = std::fs::read_to_string(root.join("cgroup.subtree_control"))
        .or_else(|_| std::fs::read_to_string(root.join("cgroup.controllers")))
        .unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|w| w == c);
    if root.join("cgroup.controllers").exists() && has("pids") && has("memory") {
        return Layout {
            v2: Some(root.to_path_buf()),
            pids: None,
            memory: None,
        };
    }
    let v1 = |name: &str| {
        let p = root.join(name);
        p.join("cgroup.procs").exists().then_some(p)
    };
    Layout {
        v2: None,
        pids: v1("pids"),
        memory: v1("memory"),
    }
}

/// Whether a cgroup can limit processes, and memory, here: one is made and removed.
pub(crate) fn available() -> (bool, bool) {
    let limits = Limits {
        processes: Some(1024),
        memory_bytes: Some(1 << 30),
        ..Limits::default()
    };
    match Cgroup::create(&limits) {
        Some(cg) => {
            let r = (cg.limits_processes(), cg.limits_memory());
            cg.remove();
            r
        }
        None => (false, false),
    }
}

/// A run's cgroup.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dirs: Vec<Dir>,
}

impl Cgroup {
    /// A new cgroup with `limits`, or `None` when there is nothing to limit or no right to
    /// make one here.
    pub(crate) fn create(limits: &Limits) -> Option<Self> {
        if limits.processes.is_none() && limits.memory_bytes.is_none() {
            return None;
        }
        static SWEEP: Once = Once::new();
        let l = layout();
        SWEEP.call_once(|| sweep_stale(&l));
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "nightshift-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut dirs = Vec::new();
        if let Some(root) = &l.v2 {
            let d = root.join(&name);
            std::fs::create_dir(&d).ok()?;
            if let Some(n) = limits.processes {
                write(&d, "pids.max", &n.to_string());
            }
            if let Some(b) = limits.memory_bytes {
                write(&d, "memory.max", &b.to_string());
                write(&d, "memory.swap.max", "0");
            }
            dirs.push(Dir::V2(d));
        } else {
            if let (Some(root), Some(n)) = (&l.pids, limits.processes)
                && let Ok(()) = std::fs::create_dir(root.join(&name))
            {
                let d = root.join(&name);
                write(&d, "pids.max", &n.to_string());
                dirs.push(Dir::PidsV1(d));
            }
            if let (Some(root), Some(b)) = (&l.memory, limits.memory_bytes)
                && let Ok(()) = std::fs::create_dir(root.join(&name))
            {
                let d = root.join(&name);
                write(&d, "memory.limit_in_bytes", &b.to_string());
                write(&d, "memory.memsw.limit_in_bytes", &b.to_string());
                dirs.push(Dir::MemoryV1(d));
            }
        }
        (!dirs.is_empty()).then_some(Self { dirs })
    }

    pub(crate) fn limits_processes(&self) -> bool {
        self.dirs
            .iter()
            .any(|d| matches!(d, Dir::V2(_) | Dir::PidsV1(_)))
    }

    fn limits_memory(&self) -> bool {
        self.dirs
            .iter()
            .any(|d| matches!(d, Dir::V2(_) | Dir::MemoryV1(_)))
    }

    /// The `cgroup.procs` files a process writes its pid to, to enter.
    pub(crate) fn procs(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|d| d.path().join("cgroup.procs"))
            .collect()
    }

    /// What the kernel refused so far: forks at `pids.max`, processes killed at the memory
    /// limit.
    pub(crate) fn blocked(&self) -> Vec<Blocked> {
        let mut out = Vec::new();
        for d in &self.dirs {
            let p = d.path();
            if matches!(d, Dir::V2(_) | Dir::PidsV1(_)) {
                let forks = counter(&p.join("pids.events"), "max");
                if forks > 0 {
                    out.push(Blocked::Processes { count: forks });
                }
            }
            let oom = match d {
                Dir::V2(_) => counter(&p.join("memory.events"), "oom_kill"),
                Dir::MemoryV1(_) => counter(&p.join("memory.oom_control"), "oom_kill"),
                Dir::PidsV1(_) => 0,
            };
            if oom > 0 {
                out.push(Blocked::Memory { count: oom });
            }
        }
        out
    }

    /// Remove the folders (once the run's processes are gone; a few tries while the last
    /// ones are reaped).
    pub(crate) fn remove(mut self) {
        for d in std::mem::take(&mut self.dirs) {
            for _ in 0..50 {
                match std::fs::remove_dir(d.path()) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        }
    }
}

impl Drop for Cgroup {
    /// A run dropped before it ended (a cancelled iteration): one try each, without
    /// waiting. A folder still busy stays until this process has exited; the next
    /// factory's sweep removes it then.
    fn drop(&mut self) {
        for d in &self.dirs {
            if let Err(e) = std::fs::remove_dir(d.path())
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::debug!(dir = %d.path().display(), error = %e, "A dropped run's cgroup is still busy.");
            }
        }
    }
}

fn write(dir: &Path, file: &str, value: &str) {
    if let Err(e) = std::fs::write(dir.join(file), value) {
        tracing::debug!(dir = %dir.display(), file, error = %e, "Cannot set a cgroup limit.");
    }
}

/// The value of `key` in a `key value` per line file; 0 when absent.
fn counter(file: &Path, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

/// Remove `nightshift-PID-N` folders whose process is gone (a factory killed with `-9`).
fn sweep_stale(l: &Layout) {
    for root in [&l.v2, &l.pids, &l.memory].into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("nightshift-"))
                .and_then(|n| n.split_once('-'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_key() {
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("memory.oom_control");
        std::fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").expect("write");
        assert_eq!(counter(&f, "oom_kill"), 3);
        assert_eq!(counter(&f, "under_oom"), 0);
        assert_eq!(counter(&tmp.path().join("none"), "max"), 0);
    }
}
