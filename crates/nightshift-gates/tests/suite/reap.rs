//! `kill_tree`: a command's group, its descendants, and whatever carries its tag, even in a
//! session of its own.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nightshift_gates::{TAG_VAR, kill_tree, reap_tagged};

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        // A killed process lingers as a zombie until its parent reaps it.
        !st.contains(") Z ")
    })
}

/// Waits until `path` holds a pid (the command writes it once it started).
async fn pid_in(path: &std::path::Path) -> u32 {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the command never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A shell in its own group starts one child in the group and one in a new session (as
/// agent CLIs start their tools); both go with the tree.
#[tokio::test]
async fn the_group_the_descendants_and_an_escaped_session_all_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let escaped = dir.path().join("escaped.pid");
    let script = format!(
        "setsid sh -c 'echo $$ > {e}.tmp; mv {e}.tmp {e}; exec sleep 86406' & sleep 86407",
        e = escaped.display()
    );
    let tag = format!("{}/job", dir.path().display());
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .env(TAG_VAR, &tag)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("sh starts");
    let root = child.id().expect("pid");
    let escaped_pid = pid_in(&escaped).await;
    assert!(alive(escaped_pid));

    // The group goes first, by `kill -- -PGID`; the scan then finds the escaped one.
    let killed = kill_tree(Some(root), Some(&tag)).await;
    assert!(killed >= 1, "the escaped sleep was found: {killed}");
    let _ = child.wait().await;
    assert!(!alive(root));
    let in_group: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("sleep 86407"))
        .collect();
    assert_eq!(
        in_group,
        Vec::<String>::new(),
        "the shell's own child is gone"
    );
    let start = Instant::now();
    while alive(escaped_pid) && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(escaped_pid), "the escaped process is gone");
}

/// With no root (the factory that started it was killed), the tag alone finds it; other
/// tags are left alone.
#[tokio::test]
async fn reaping_by_tag_spares_other_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start_tagged = |tag: &str, name: &str| {
        let file = dir.path().join(name);
        let script = format!(
            "echo $$ > {f}.tmp; mv {f}.tmp {f}; exec sleep 86408",
            f = file.display()
        );
        let child = std::process::Command::new("setsid")
            .args(["sh", "-c", &script])
            .env(TAG_VAR, tag)
            .stdin(Stdio::null())
            .spawn()
            .expect("setsid starts");
        (child, file)
    };
    let mine = format!("{}/mine", dir.path().display());
    let theirs = format!("{}/theirs", dir.path().display());
    let (mut a, a_file) = start_tagged(&mine, "a.pid");
    let (mut b, b_file) = start_tagged(&theirs, "b.pid");
    let (a_pid, b_pid) = (pid_in(&a_file).await, pid_in(&b_file).await);

    assert_eq!(reap_tagged(&mine).await, 1);
    let _ = a.wait();
    assert!(!alive(a_pid));
    assert!(alive(b_pid), "another job's process is not touched");
    assert_eq!(reap_tagged(&theirs).await, 1);
    let _ = b.wait();
    assert!(!alive(b_pid));
}
