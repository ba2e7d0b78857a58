//! Command gates: real `sh` processes.

use std::path::Path;
use std::time::{Duration, Instant};

use nightshift_gates::{
    CommandGate, EXCERPT_MAX_BYTES, OUTPUT_CAP_BYTES, run_command, run_command_with_output,
};

fn gate(command: &str, timeout_ms: u64) -> CommandGate {
    CommandGate::new("test", command, Duration::from_millis(timeout_ms))
}

/// Whether process `pid` is gone (a zombie waiting for its reaper counts as gone: it runs no
/// more code and holds nothing but its process table entry).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Poll for up to two seconds for `pid` to be gone.
async fn wait_gone(pid: u32) -> bool {
    for _ in 0..40 {
        if process_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn read_pid(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("child.pid"))
        .expect("the command wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn exit_zero_passes() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_command(dir.path(), &gate("echo hello", 10_000), &[], false).await;
    assert!(r.passed);
    assert_eq!(r.gate, "test");
    assert_eq!(r.exit_code, Some(0));
    assert!(!r.timed_out);
    assert_eq!(r.detail, "`echo hello` exited with code 0");
    assert_eq!(r.excerpt, "hello\n");
}

#[tokio::test]
async fn nonzero_exit_fails_with_its_code_and_both_streams() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "echo to-stdout; echo to-stderr >&2; exit 3";
    let r = run_command(dir.path(), &gate(cmd, 10_000), &[], false).await;
    assert!(!r.passed);
    assert_eq!(r.exit_code, Some(3));
    assert!(!r.timed_out);
    assert_eq!(r.detail, format!("`{cmd}` exited with code 3"));
    assert!(r.excerpt.contains("to-stdout\n"), "{}", r.excerpt);
    assert!(r.excerpt.contains("to-stderr\n"), "{}", r.excerpt);
}

#[tokio::test]
async fn stdout_and_stderr_interleave_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three";
    let (r, out) = run_command_with_output(dir.path(), &gate(cmd, 10_000), &[], false).await;
    assert!(r.passed);
    assert_eq!(out.text, "one\ntwo\nthree\n");
    assert_eq!(
        (out.stdout_bytes, out.stderr_bytes, out.truncated),
        (10, 4, false)
    );
}

#[tokio::test]
async fn runs_in_the_given_folder_with_stdin_closed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.txt"), "here\n").unwrap();
    // `cat` with no file reads stdin: it must see end-of-file at once, not wait for input.
    let r = run_command(
        dir.path(),
        &gate("cat marker.txt && cat", 5_000),
        &[],
        false,
    )
    .await;
    assert!(r.passed, "{r:#?}");
    assert!(!r.timed_out);
    assert_eq!(r.excerpt, "here\n");
}

#[tokio::test]
async fn killed_by_a_signal_has_no_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_command(dir.path(), &gate("kill -TERM $$", 10_000), &[], false).await;
    assert!(!r.passed);
    assert_eq!(r.exit_code, None);
    assert!(!r.timed_out);
    assert_eq!(r.detail, "`kill -TERM $$` was killed by signal 15");
}

#[tokio::test]
async fn a_missing_folder_fails_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let r = run_command(&missing, &gate("true", 10_000), &[], false).await;
    assert!(!r.passed);
    assert_eq!(r.exit_code, None);
    assert!(
        r.detail.starts_with(&format!(
            "could not start `sh -c true` in {}: ",
            missing.display()
        )),
        "{}",
        r.detail
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    // A background child that would outlive the shell, and a shell that would outlive the limit.
    let cmd = "sleep 30 & echo $! > child.pid; echo started; sleep 30";
    let start = Instant::now();
    let r = run_command(dir.path(), &gate(cmd, 1_000), &[], false).await;
    let elapsed = start.elapsed();
    assert!(!r.passed);
    assert!(r.timed_out);
    assert_eq!(r.exit_code, None);
    assert_eq!(
        r.detail,
        format!("`{cmd}` did not finish within 1s and was killed with its process group")
    );
    assert_eq!(r.excerpt, "started\n");
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(2_000),
        "the gate returned after {elapsed:?}"
    );
    assert!(
        r.duration_ms >= 1_000 && r.duration_ms < 2_000,
        "{}",
        r.duration_ms
    );
    let pid = read_pid(dir.path());
    assert!(
        wait_gone(pid).await,
        "the background child {pid} outlived the gate"
    );
}

#[tokio::test]
async fn a_background_child_left_after_exit_is_killed_and_does_not_hold_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    // The child keeps stdout open: without the group kill, reading would wait 30 s.
    let cmd = "sleep 30 & echo $! > child.pid; echo done";
    let start = Instant::now();
    let r = run_command(dir.path(), &gate(cmd, 20_000), &[], false).await;
    assert!(r.passed, "{r:#?}");
    assert!(!r.timed_out);
    assert_eq!(r.excerpt, "done\n");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let pid = read_pid(dir.path());
    assert!(
        wait_gone(pid).await,
        "the background child {pid} outlived the gate"
    );
}

#[tokio::test]
async fn output_is_capped_per_stream_and_the_excerpt_is_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo end-of-stdout; \
               head -c 2000000 /dev/zero | tr '\\0' b >&2; echo end-of-stderr >&2";
    let (r, out) = run_command_with_output(dir.path(), &gate(cmd, 30_000), &[], false).await;
    assert!(r.passed, "{}", r.detail);
    assert_eq!(
        out.stdout_bytes,
        3_000_000 + 1 + "end-of-stdout\n".len() as u64
    );
    assert_eq!(out.stderr_bytes, 2_000_000 + "end-of-stderr\n".len() as u64);
    assert!(out.truncated);
    assert!(out.text.len() <= 2 * OUTPUT_CAP_BYTES, "{}", out.text.len());
    assert!(out.text.contains("end-of-stdout\n"));
    assert!(out.text.ends_with("end-of-stderr\n"));
    assert!(r.excerpt.len() <= EXCERPT_MAX_BYTES, "{}", r.excerpt.len());
    assert!(r.excerpt.starts_with("…\n"));
    assert!(r.excerpt.ends_with("bbbbend-of-stderr\n"), "{}", r.excerpt);
}

#[tokio::test]
async fn a_chatty_command_that_never_ends_is_capped_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let (r, out) =
        run_command_with_output(dir.path(), &gate("yes chatty", 1_000), &[], false).await;
    assert!(r.timed_out);
    assert!(
        start.elapsed() < Duration::from_millis(2_000),
        "{:?}",
        start.elapsed()
    );
    assert!(
        out.stdout_bytes > OUTPUT_CAP_BYTES as u64,
        "{}",
        out.stdout_bytes
    );
    assert!(out.truncated);
    assert!(out.text.len() <= OUTPUT_CAP_BYTES);
    assert!(r.excerpt.len() <= EXCERPT_MAX_BYTES);
    assert!(r.excerpt.contains("chatty\nchatty\n"), "{}", r.excerpt);
}

#[tokio::test]
async fn given_env_is_added() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("GATE_VAR".to_owned(), "forty two".to_owned())];
    let r = run_command(dir.path(), &gate("echo \"$GATE_VAR\"", 10_000), &env, false).await;
    assert!(r.passed);
    assert_eq!(r.excerpt, "forty two\n");
    // The inherited environment is still there.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR");
    let r = run_command(
        dir.path(),
        &gate("echo \"${CARGO_MANIFEST_DIR:-unset}\"", 10_000),
        &env,
        false,
    )
    .await;
    assert_eq!(r.excerpt, format!("{manifest}\n"));
}

#[tokio::test]
async fn cleared_env_keeps_only_path_home_lang_tmpdir_and_the_given_env() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        std::env::var("CARGO_MANIFEST_DIR").is_ok(),
        "cargo test sets CARGO_MANIFEST_DIR"
    );
    let env = [("GATE_VAR".to_owned(), "kept".to_owned())];
    let r = run_command(dir.path(), &gate("env", 10_000), &env, true).await;
    assert!(r.passed, "{r:#?}");
    let mut names: Vec<&str> = r
        .excerpt
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    names.sort_unstable();
    // What the shell itself sets.
    names.retain(|n| !["PWD", "OLDPWD", "SHLVL", "_"].contains(n));
    let mut expected: Vec<&str> = ["PATH", "HOME", "LANG", "TMPDIR"]
        .into_iter()
        .filter(|k| std::env::var_os(k).is_some())
        .collect();
    expected.push("GATE_VAR");
    expected.sort_unstable();
    assert_eq!(names, expected, "env was:\n{}", r.excerpt);
    assert!(r.excerpt.contains("GATE_VAR=kept\n"));
    let path = std::env::var("PATH").expect("PATH is set");
    assert!(r.excerpt.contains(&format!("PATH={path}\n")));
}

#[tokio::test]
async fn dropping_the_gate_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "sleep 30 & echo $! > child.pid; sleep 30";
    let g = gate(cmd, 60_000);
    let cancelled = tokio::time::timeout(
        Duration::from_millis(500),
        run_command(dir.path(), &g, &[], false),
    )
    .await;
    assert!(cancelled.is_err(), "the gate should still be running");
    let pid = read_pid(dir.path());
    assert!(
        wait_gone(pid).await,
        "the background child {pid} outlived the cancelled gate"
    );
}
