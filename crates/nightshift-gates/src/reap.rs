//! Ending everything a command started, not only its process group.
//!
//! Agent CLIs start their shell tools in process groups (and sessions) of their own — Claude
//! Code and OpenCode both do — so killing the CLI's group leaves a hanging tool command
//! running; and a process whose parent died is re-parented away from it. So the factory
//! tags every process it starts for a job with [`TAG_VAR`] in its environment (children
//! inherit it), and [`kill_tree`] ends, in rounds until none is left: the process group, the
//! descendants of the root process, and every process that carries the tag. The same scan,
//! with no root, reaps what a crashed factory left behind ([`reap_tagged`]).
//!
//! Linux only (`/proc`); elsewhere only the process group is killed.

use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::time::Duration;

/// The environment variable that tags a job's processes; its value names the job (the
/// factory uses the job's worktree path, unique on a machine).
pub const TAG_VAR: &str = "NIGHTSHIFT_TAG";

/// Rounds of scan-and-kill: a process may fork while its parent is being killed.
const ROUNDS: usize = 5;

/// One line of `/proc/PID/stat`, the fields we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proc {
    pid: u32,
    ppid: u32,
    pgrp: u32,
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

/// Whether the process's environment holds `TAG_VAR=tag` (unreadable: no).
fn carries(pid: u32, needle: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|entry| entry == needle))
}

/// The live processes that belong to the tree: in group `pgid`, descended from `root`, or
/// tagged with `tag`. Never this process or one of its ancestors.
fn members(root: Option<u32>, tag: Option<&str>) -> BTreeSet<u32> {
    let all = processes();
    let me = std::process::id();
    let parent_of: HashMap<u32, u32> = all.iter().map(|p| (p.pid, p.ppid)).collect();
    let mut mine = BTreeSet::new();
    let mut at = Some(me);
    while let Some(pid) = at {
        if !mine.insert(pid) || pid <= 1 {
            break;
        }
        at = parent_of.get(&pid).copied();
    }
    let needle = tag.map(|t| format!("{TAG_VAR}={t}").into_bytes());
    let mut found: BTreeSet<u32> = BTreeSet::new();
    if let Some(root) = root {
        found.insert(root);
    }
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
    if let Some(needle) = &needle {
        for p in &all {
            if !found.contains(&p.pid) && !p.zombie && carries(p.pid, needle) {
                found.insert(p.pid);
            }
        }
    }
    let zombies: BTreeSet<u32> = all.iter().filter(|p| p.zombie).map(|p| p.pid).collect();
    found
        .into_iter()
        .filter(|pid| *pid > 1 && !mine.contains(pid) && !zombies.contains(pid))
        .collect()
}

async fn signal_kill(pids: &BTreeSet<u32>) {
    let mut cmd = tokio::process::Command::new("kill");
    cmd.arg("-KILL")
        .arg("--")
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Some may have exited since the scan: `kill` then fails for those, which is fine.
    if let Err(e) = cmd.status().await {
        tracing::warn!(error = %e, "cannot run kill");
    }
}

/// SIGKILL the process group `root` (the root process leads it), every descendant of
/// `root`, and every process tagged `tag`, in rounds until none is left. Returns how many
/// processes the scan found and signalled (the group kill is not counted).
///
/// Pass a `root` only while it has not been reaped (it is still running, or a zombie):
/// after that its number may belong to an unrelated process.
pub async fn kill_tree(root: Option<u32>, tag: Option<&str>) -> usize {
    if let Some(pgid) = root {
        crate::kill_process_group(pgid).await;
    }
    if !cfg!(target_os = "linux") {
        return 0;
    }
    let mut signalled = BTreeSet::new();
    for round in 0..ROUNDS {
        let tag_owned = tag.map(str::to_owned);
        let found = tokio::task::spawn_blocking(move || members(root, tag_owned.as_deref()))
            .await
            .unwrap_or_default();
        // Killed processes linger until reaped; only new ones count as left.
        let left: BTreeSet<u32> = found.difference(&signalled).copied().collect();
        if left.is_empty() {
            break;
        }
        tracing::debug!(round, ?left, "killing what the command left running");
        signal_kill(&left).await;
        signalled.extend(left);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signalled.len()
}

/// SIGKILL every process tagged `tag`: what a factory that was killed left running for a job.
pub async fn reap_tagged(tag: &str) -> usize {
    kill_tree(None, Some(tag)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
