//! Reaping what a crashed factory left running: every process carrying a job's tag.

use std::process::Stdio;
use std::time::Duration;

use nightshift_process::{TAG_VAR, reap_tagged};

use super::{process_gone, read_pid, wait_gone};

/// Start `sh -c script` the way a factory that then died would have left it: detached,
/// tagged (or not), in a process group of its own.
fn orphan(dir: &std::path::Path, tag: Option<&str>, script: &str) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(t) = tag {
        cmd.env(TAG_VAR, t);
    }
    cmd.spawn().unwrap()
}

#[tokio::test]
async fn reap_tagged_ends_the_jobs_processes_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("reap-test-{}", std::process::id());
    // The job's process, and a grandchild that started a session (and group) of its own.
    let mut job = orphan(
        dir.path(),
        Some(&tag),
        "setsid sh -c 'echo $$ > grandchild.pid; exec sleep 30' & echo $$ > job.pid; exec sleep 30",
    );
    let mut other = orphan(
        dir.path(),
        Some("another-job"),
        "echo $$ > other.pid; exec sleep 30",
    );
    let job_pid = read_pid(dir.path(), "job.pid").await;
    let grandchild = read_pid(dir.path(), "grandchild.pid").await;
    let other_pid = read_pid(dir.path(), "other.pid").await;

    assert_eq!(reap_tagged(&tag).await, 2);
    assert!(wait_gone(job_pid).await);
    assert!(wait_gone(grandchild).await);
    let _ = job.wait().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!process_gone(other_pid), "another job's process was killed");
    assert_eq!(reap_tagged(&tag).await, 0);
    other.kill().await.unwrap();
}
