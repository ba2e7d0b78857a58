//! Runs: exit codes, output, limits, environment, line streaming.

use std::time::{Duration, Instant};

use nightshift_process::{Command, End, Flow, TAG_VAR};

use super::{read_pid, wait_gone};

#[tokio::test]
async fn exit_code_and_interleaved_output() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell(
        "echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three; exit 3",
        dir.path(),
    )
    .output(1024)
    .await
    .unwrap();
    assert_eq!(run.end, End::Exited(3));
    assert_eq!(run.output.text(), "one\ntwo\nthree\n");
    assert_eq!(
        (run.output.total(), run.output.omitted(), run.leftovers),
        (14, 0, 0)
    );
    assert!(!run.end.success());
}

#[tokio::test]
async fn output_keeps_head_and_tail_and_counts_everything() {
    let dir = tempfile::tempdir().unwrap();
    // 100,000 lines of "x\n" between a first and a last line.
    let run = Command::shell(
        "echo first; i=0; while [ $i -lt 100000 ]; do echo x; i=$((i+1)); done; echo last",
        dir.path(),
    )
    .output(64)
    .await
    .unwrap();
    assert_eq!(run.end, End::Exited(0));
    assert_eq!(run.output.total(), 6 + 200_000 + 5);
    assert_eq!(run.output.omitted(), 6 + 200_000 + 5 - 64);
    let text = run.output.text();
    assert!(text.starts_with("first\nx\n"), "{text}");
    assert!(text.ends_with("x\nlast\n"), "{text}");
    assert!(
        text.contains("\n[... 199947 bytes omitted ...]\n"),
        "{text}"
    );
}

#[tokio::test]
async fn time_limit_kills_the_program_and_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = Command::shell(
        "sleep 30 & echo $! > child.pid; echo started; wait",
        dir.path(),
    )
    .time_limit(Duration::from_millis(300))
    .output(1024)
    .await
    .unwrap();
    assert_eq!(run.end, End::TimedOut);
    assert_eq!(run.output.text(), "started\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let child = read_pid(dir.path(), "child.pid").await;
    assert!(
        wait_gone(child).await,
        "the background sleep outlived its run"
    );
}

#[tokio::test]
async fn silence_limit_ends_a_program_that_waits_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell("echo asking; sleep 30", dir.path())
        .silence_limit(Duration::from_millis(300))
        .time_limit(Duration::from_secs(20))
        .output(1024)
        .await
        .unwrap();
    assert_eq!(run.end, End::Silent);
    assert_eq!(run.output.text(), "asking\n");
}

#[tokio::test]
async fn output_resets_the_silence_limit() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell(
        "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done",
        dir.path(),
    )
    .silence_limit(Duration::from_millis(400))
    .output(1024)
    .await
    .unwrap();
    assert_eq!(run.end, End::Exited(0));
    assert_eq!(run.output.text(), "1\n2\n3\n4\n5\n");
}

/// A test suite that daemonizes a server into a session of its own (`setsid`): the run's
/// cleanup ends it too, though it is in no group or parentage of the run's any more.
#[tokio::test]
async fn a_child_in_its_own_session_is_killed_when_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell(
        "setsid sh -c 'echo $$ > daemon.pid; exec sleep 30' >/dev/null 2>&1 < /dev/null & sleep 0.2; echo done",
        dir.path(),
    )
    .output(1024)
    .await
    .unwrap();
    assert_eq!(run.end, End::Exited(0));
    assert_eq!(run.output.text(), "done\n");
    let daemon = read_pid(dir.path(), "daemon.pid").await;
    assert!(
        wait_gone(daemon).await,
        "the setsid daemon outlived its run"
    );
    assert_eq!(run.leftovers, 1);
}

/// A background child that keeps the output pipe open after the shell exited: the run ends
/// after the grace period, not when the child would.
#[tokio::test]
async fn a_child_holding_the_pipe_does_not_hold_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell("sleep 30 & echo $! > child.pid; echo bye", dir.path())
        .time_limit(Duration::from_secs(20))
        .output(1024)
        .await
        .unwrap();
    // Exited, not timed out: the run did not wait for the child to close the pipe.
    assert_eq!(run.end, End::Exited(0));
    assert_eq!(run.output.text(), "bye\n");
    let child = read_pid(dir.path(), "child.pid").await;
    assert!(wait_gone(child).await);
}

#[tokio::test]
async fn the_environment_is_the_policy_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    // Cargo (and nextest) set CARGO_MANIFEST_DIR in this process's environment: a variable
    // the policy does not keep must not reach the child.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let run = Command::shell("env | sort", dir.path())
        .var("EXTRA", "1")
        .tag("job-7")
        .output(64 * 1024)
        .await
        .unwrap();
    let text = run.output.text();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !matches!(*k, "PWD" | "SHLVL" | "_" | "OLDPWD"))
        .collect();
    let mut expected: Vec<&str> = nightshift_process::env::KEPT
        .iter()
        .copied()
        .filter(|k| std::env::var_os(k).is_some())
        .chain([
            "EXTRA",
            "NIGHTSHIFT_RUN",
            TAG_VAR,
            "PYTHONDONTWRITEBYTECODE",
        ])
        .collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert!(text.contains(&format!("{TAG_VAR}=job-7\n")), "{text}");
    assert!(text.contains("PYTHONDONTWRITEBYTECODE=1\n"), "{text}");
}

#[tokio::test]
async fn stdin_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell("read answer; echo \"got [$answer] $?\"", dir.path())
        .time_limit(Duration::from_secs(10))
        .output(1024)
        .await
        .unwrap();
    assert_eq!(run.output.text(), "got [] 1\n");
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = Command::new("no-such-program-here", dir.path())
        .output(1024)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot start `no-such-program-here` in {}: No such file or directory (os error 2)",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn lines_arrive_in_order_and_stderr_keeps_its_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    let run = Command::shell(
        "printf 'one\\ntwo\\r\\n'; printf '\\377bad\\n'; echo err1 >&2; echo err2 >&2; printf 'last'",
        dir.path(),
    )
    .lines(
        &mut |l| {
            seen.push(l.to_string());
            Flow::Continue
        },
        5,
    )
    .await
    .unwrap();
    assert_eq!(run.end, End::Exited(0));
    assert_eq!(seen, ["one", "two", "\u{fffd}bad", "last"]);
    assert_eq!(run.output.tail(), b"err2\n");
    assert_eq!(run.output.total(), 10);
}

#[tokio::test]
async fn a_line_handler_can_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    let run = Command::shell(
        "echo $$ > shell.pid; i=0; while true; do echo turn $i; i=$((i+1)); sleep 0.05; done",
        dir.path(),
    )
    .time_limit(Duration::from_secs(20))
    .lines(
        &mut |_| {
            seen += 1;
            if seen == 3 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        },
        1024,
    )
    .await
    .unwrap();
    assert_eq!(run.end, End::Stopped);
    assert_eq!(seen, 3);
    let shell = read_pid(dir.path(), "shell.pid").await;
    assert!(wait_gone(shell).await);
}

/// An iteration cancelled mid-command: dropping the run's future kills what it started.
#[tokio::test]
async fn dropping_a_run_kills_its_group_and_its_stragglers() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::shell(
        "echo $$ > shell.pid; setsid sh -c 'echo $$ > daemon.pid; exec sleep 30' & sleep 30",
        dir.path(),
    )
    .output(1024);
    let _ = tokio::time::timeout(Duration::from_millis(500), run).await;
    let shell = read_pid(dir.path(), "shell.pid").await;
    let daemon = read_pid(dir.path(), "daemon.pid").await;
    assert!(wait_gone(shell).await, "the shell outlived its dropped run");
    assert!(
        wait_gone(daemon).await,
        "the daemon outlived its dropped run"
    );
}
