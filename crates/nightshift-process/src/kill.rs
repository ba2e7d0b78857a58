//! Ending everything a run started, not only its process group.
//!
//! Agent CLIs start their shell tools in process groups (and sessions) of their own — Claude
//! Code and OpenCode both do — and a test suite may daemonize a server; killing the leader's
//! group leaves those running, and a process whose parent died is re-parented away from it.
//! So every process is started with its run's tag in its environment (children inherit it),
//! and [`kill_tree`] ends, in rounds until none is left: the process group (while its leader
//! is not reaped, so the number cannot belong to anyone else), the leader's descendants, and
//! every process that carries the tag. The same scan with a job's tag reaps what a crashed
//! factory left behind ([`reap_tagged`]).
//!
//! Signals go through `rustix` (a system call, never a forked `kill`); the `/proc` scans run
//! on the blocking pool.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::env::TAG_VAR;

/// Rounds of scan-and-kill: a process may fork while its parent is being killed.
const ROUNDS: usize = 5;
/// Rounds of 20 ms waiting for what was killed to be gone (a PID namespace's processes die
/// after its init, asynchronously), so that a run is over only when its tree is.
const SETTLE_ROUNDS: usize = 100;

/// One line of `/proc/PID/stat`, the fields we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    zombie: bool,
}

/// Parses `/proc/PID/stat`: `pid (comm) state ppid pgrp …`, where `comm` may hold spaces
/// and parentheses (the last `)` ends it).
fn parse_stat(text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        pgrp,
        zombie: state == "Z" || state == "X",
    })
}

fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .collect()
}

/// Whether the process's environment holds one of `needles` (`VAR=value`; unreadable: no).
fn carries(pid: i32, needles: &[Vec<u8>]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
        env.split(|b| *b == 0)
            .any(|entry| needles.iter().any(|n| n.as_slice() == entry))
    })
}

/// The live processes that belong to the tree: in group `root`, descended from `root`, or
/// carrying one of `needles`. Never this process or one of its ancestors.
fn members(root: Option<i32>, needles: &[Vec<u8>]) -> BTreeSet<i32> {
    let all = processes();
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let parent_of: HashMap<i32, i32> = all.iter().map(|p| (p.pid, p.ppid)).collect();
    let mut mine = BTreeSet::new();
    let mut at = Some(me);
    while let Some(pid) = at {
        if !mine.insert(pid) || pid <= 1 {
            break;
        }
        at = parent_of.get(&pid).copied();
    }
    let mut found: BTreeSet<i32> = root.into_iter().collect();
    // Descendants, to a fixed point (the list is not ordered by ancestry).
    loop {
        let before = found.len();
        for p in &all {
            if root.is_some_and(|r| p.pgrp == r) || found.contains(&p.ppid) {
                found.insert(p.pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    if !needles.is_empty() {
        for p in &all {
            if !found.contains(&p.pid) && !p.zombie && carries(p.pid, needles) {
                found.insert(p.pid);
            }
        }
    }
    let zombies: BTreeSet<i32> = all.iter().filter(|p| p.zombie).map(|p| p.pid).collect();
    found
        .into_iter()
        .filter(|pid| *pid > 1 && !mine.contains(pid) && !zombies.contains(pid))
        .collect()
}

/// SIGKILL the process group `pgid`. A group that is already gone is not an error.
pub(crate) fn kill_group(pgid: i32) {
    let Some(pid) = Pid::from_raw(pgid) else {
        return;
    };
    match rustix::process::kill_process_group(pid, Signal::KILL) {
        Ok(()) => tracing::trace!(pgid, "Killed the process group."),
        Err(rustix::io::Errno::SRCH) => {}
        Err(e) => tracing::warn!(pgid, error = %e, "Cannot kill the process group."),
    }
}

fn kill_pid(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        // It may have exited since the scan (ESRCH): nothing left to do.
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
}

/// `VAR=value` as it appears in `/proc/PID/environ`.
pub(crate) fn needle(var: &str, value: &str) -> Vec<u8> {
    format!("{var}={value}").into_bytes()
}

/// SIGKILL the process group `root` (the root process leads it), every descendant of
/// `root`, and every process carrying one of `needles`, in rounds until none is left.
/// Returns how many processes the scans found and signalled (the group kill not counted).
///
/// Pass a `root` only while it has not been reaped (it is running, or a zombie): after that
/// its number may belong to an unrelated process.
pub(crate) async fn kill_tree(root: Option<i32>, needles: Vec<Vec<u8>>) -> usize {
    if let Some(pgid) = root {
        kill_group(pgid);
    }
    if !cfg!(target_os = "linux") || (root.is_none() && needles.is_empty()) {
        return 0;
    }
    let needles = std::sync::Arc::new(needles);
    let mut signalled = BTreeSet::new();
    for round in 0..ROUNDS {
        let scan = needles.clone();
        let found = tokio::task::spawn_blocking(move || members(root, &scan))
            .await
            .unwrap_or_default();
        // Killed processes linger until reaped; only new ones count as left.
        let left: BTreeSet<i32> = found.difference(&signalled).copied().collect();
        if left.is_empty() {
            break;
        }
        tracing::debug!(round, ?left, "Killing what the run left running.");
        for pid in &left {
            kill_pid(*pid);
        }
        signalled.extend(left);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..SETTLE_ROUNDS {
        let pids: Vec<i32> = signalled.iter().copied().collect();
        let alive = tokio::task::spawn_blocking(move || pids.into_iter().any(running))
            .await
            .unwrap_or(false);
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signalled.len()
}

/// Whether `pid` still runs code (a zombie does not).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .is_some_and(|p| !p.zombie)
}

/// The same as [`kill_tree`] without a root, for code that cannot await (a `Drop`): one
/// round, on the calling thread.
pub(crate) fn sweep_blocking(needles: &[Vec<u8>]) -> usize {
    let found = members(None, needles);
    for pid in &found {
        kill_pid(*pid);
    }
    found.len()
}

/// SIGKILL every process tagged `tag` ([`TAG_VAR`]): what a factory that was killed left
/// running for a job. Returns how many there were.
pub async fn reap_tagged(tag: &str) -> usize {
    kill_tree(None, vec![needle(TAG_VAR, tag)]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names() {
        assert_eq!(
            parse_stat("4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 1"),
            Some(Proc {
                pid: 4242,
                ppid: 17,
                pgrp: 4242,
                zombie: false
            })
        );
        assert_eq!(parse_stat("9 (sh) Z 1 9 9").map(|p| p.zombie), Some(true));
        assert_eq!(parse_stat("garbage"), None);
    }
}
