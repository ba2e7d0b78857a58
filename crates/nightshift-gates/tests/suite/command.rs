//! Command gates: real `sh` processes through the supervisor, judged as gates.
//! (How processes are started, limited and ended is `nightshift-process`'s to test.)

use std::path::Path;
use std::time::Duration;

use nightshift_gates::{CommandGate, EXCERPT_MAX_BYTES, GateResult, run_command};

fn gate(command: &str, timeout_ms: u64) -> CommandGate {
    CommandGate::new("test", command, Duration::from_millis(timeout_ms))
}

async fn run(dir: &Path, command: &str, timeout_ms: u64) -> GateResult {
    run_command(dir, &gate(command, timeout_ms), "gates-test", None).await
}

/// The result without its duration (which varies), for whole-object comparison.
fn timeless(mut r: GateResult) -> GateResult {
    r.duration_ms = 0;
    r
}

fn expected(
    passed: bool,
    exit_code: Option<i32>,
    timed_out: bool,
    detail: &str,
    excerpt: &str,
) -> GateResult {
    GateResult {
        gate: "test".into(),
        passed,
        duration_ms: 0,
        exit_code,
        timed_out,
        detail: detail.into(),
        excerpt: excerpt.into(),
        review: None,
    }
}

#[tokio::test]
async fn exit_zero_passes() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), "echo hello", 10_000).await;
    assert_eq!(
        timeless(r),
        expected(
            true,
            Some(0),
            false,
            "`echo hello` exited with code 0",
            "hello\n"
        )
    );
}

#[tokio::test]
async fn nonzero_exit_fails_with_its_code_and_both_streams_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "echo to-stdout; echo to-stderr >&2; exit 3";
    let r = run(dir.path(), cmd, 10_000).await;
    assert_eq!(
        timeless(r),
        expected(
            false,
            Some(3),
            false,
            &format!("`{cmd}` exited with code 3"),
            "to-stdout\nto-stderr\n"
        )
    );
}

#[tokio::test]
async fn runs_in_the_given_folder_with_stdin_closed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.txt"), "here\n").unwrap();
    // `cat` with no file reads stdin: it must see end-of-file at once, not wait for input.
    let cmd = "cat marker.txt && cat";
    let r = run(dir.path(), cmd, 5_000).await;
    assert_eq!(
        timeless(r),
        expected(
            true,
            Some(0),
            false,
            &format!("`{cmd}` exited with code 0"),
            "here\n"
        )
    );
}

#[tokio::test]
async fn killed_by_a_signal_has_no_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), "kill -TERM $$", 10_000).await;
    assert_eq!(
        timeless(r),
        expected(
            false,
            None,
            false,
            "`kill -TERM $$` was killed by signal 15",
            ""
        )
    );
}

#[tokio::test]
async fn a_missing_folder_fails_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let r = run(&missing, "true", 10_000).await;
    let detail = format!(
        "could not start `sh -c true` in {}: No such file or directory (os error 2)",
        missing.display()
    );
    assert_eq!(timeless(r), expected(false, None, false, &detail, ""));
}

#[tokio::test]
async fn timeout_kills_everything_the_command_started() {
    let dir = tempfile::tempdir().unwrap();
    // A background child that would outlive the shell, and a shell that would outlive the limit.
    let cmd = "sleep 30 & echo $! > child.pid; echo started; sleep 30";
    let r = run(dir.path(), cmd, 1_000).await;
    assert!(r.duration_ms >= 1_000, "{}", r.duration_ms);
    let detail =
        format!("`{cmd}` did not finish within 1s and was killed with every process it started");
    assert_eq!(
        timeless(r),
        expected(false, None, true, &detail, "started\n")
    );
    let child: u32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..40 {
        gone = std::fs::read_to_string(format!("/proc/{child}/stat"))
            .map_or(true, |s| s.contains(") Z "));
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the background sleep outlived its gate");
}

#[tokio::test]
async fn the_excerpt_is_the_tail_of_a_long_output() {
    let dir = tempfile::tempdir().unwrap();
    let cmd =
        "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done; echo the-end; exit 1";
    let r = run(dir.path(), cmd, 30_000).await;
    assert!(!r.passed);
    assert!(r.excerpt.len() <= EXCERPT_MAX_BYTES, "{}", r.excerpt.len());
    assert!(r.excerpt.starts_with("…\n"), "{}", r.excerpt);
    assert!(
        r.excerpt.ends_with("line 19999\nthe-end\n"),
        "{}",
        r.excerpt
    );
}

#[tokio::test]
async fn the_gate_runs_with_the_jobs_tag_and_the_standard_environment() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        "echo \"$NIGHTSHIFT_TAG|$PYTHONDONTWRITEBYTECODE|${CARGO_MANIFEST_DIR:-unset}\"",
        10_000,
    )
    .await;
    assert!(r.passed, "{r:#?}");
    assert_eq!(r.excerpt, "gates-test|1|unset\n");
}
