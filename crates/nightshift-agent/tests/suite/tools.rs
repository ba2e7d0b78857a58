//! Each tool, driven by the model through a real iteration.

use std::path::Path;
use std::time::{Duration, Instant};

use nightshift_agent::{Event, Stop};
use nightshift_testkit::{Step, ToolCall};
use serde_json::{Value, json};

use super::harness::{self, TOKEN, call_then_finish};

/// A step calling several tools at once, with ids `c0`, `c1`, ….
fn calls(list: &[(&str, Value)]) -> Step {
    Step {
        tool_calls: list
            .iter()
            .enumerate()
            .map(|(i, (name, arguments))| ToolCall {
                id: Some(format!("c{i}")),
                name: (*name).to_owned(),
                arguments: arguments.clone(),
            })
            .collect(),
        ..Step::default()
    }
}

fn finish() -> Step {
    Step::tool_call("finish", json!({"summary": "s", "done": false}))
}

/// The tool results of a one-turn-then-finish iteration.
async fn results(dir: &Path, list: &[(&str, Value)]) -> Vec<String> {
    let run = harness::run(dir, vec![calls(list), finish()]).await;
    assert!(
        matches!(run.outcome.stop, Stop::Finished { .. }),
        "{:?}",
        run.outcome
    );
    (0..list.len()).map(|k| run.tool_result(k)).collect()
}

#[tokio::test]
async fn edit_file_must_match_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let original = "let a = 1;\nlet b = 1;\n";
    std::fs::write(dir.path().join("a.rs"), original).unwrap();
    let out = results(
        dir.path(),
        &[
            (
                "edit_file",
                json!({"path": "a.rs", "old_text": "let c", "new_text": "x"}),
            ),
            (
                "edit_file",
                json!({"path": "a.rs", "old_text": " = 1;", "new_text": " = 2;"}),
            ),
            (
                "edit_file",
                json!({"path": "missing.rs", "old_text": "a", "new_text": "b"}),
            ),
            (
                "edit_file",
                json!({"path": "a.rs", "old_text": "", "new_text": "b"}),
            ),
        ],
    )
    .await;
    assert_eq!(
        out,
        [
            "error: old_text not found in `a.rs`; it must match the file exactly, whitespace and indentation included (read_file shows the current text)",
            "error: old_text matches 2 times in `a.rs`; include more context so that it matches exactly once",
            "error: `missing.rs` does not exist; use write_file to create it",
            "error: old_text is empty; give the exact text to replace, or use write_file to create a file",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.rs")).unwrap(),
        original
    );

    let out = results(
        dir.path(),
        &[(
            "edit_file",
            json!({"path": "a.rs", "old_text": "let b = 1;\n", "new_text": "let b = 2;\nlet c = 3;\n"}),
        )],
    )
    .await;
    assert_eq!(out, ["edited `a.rs`: replaced lines 2-3 with lines 2-4"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.rs")).unwrap(),
        "let a = 1;\nlet b = 2;\nlet c = 3;\n"
    );
}

#[tokio::test]
async fn write_file_creates_directories_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = results(
        dir.path(),
        &[
            (
                "write_file",
                json!({"path": "deep/er/new.txt", "content": "x\ny\n"}),
            ),
            (
                "write_file",
                json!({"path": "deep/er/new.txt", "content": "z"}),
            ),
            ("write_file", json!({"path": "deep", "content": "z"})),
            (
                "write_file",
                json!({"path": ".git/hooks/pre-commit", "content": "exit 0"}),
            ),
        ],
    )
    .await;
    assert_eq!(
        out,
        [
            "created `deep/er/new.txt` (4 bytes, 2 lines)",
            "overwrote `deep/er/new.txt` (1 byte, 1 line)",
            "error: `deep` is a directory",
            "error: `.git/hooks/pre-commit` is git metadata; the factory commits your changes, leave `.git` alone",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("deep/er/new.txt")).unwrap(),
        "z"
    );
    assert!(!dir.path().join(".git").exists());
}

#[tokio::test]
async fn paths_that_leave_the_worktree_are_refused() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("work");
    let outside = parent.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret\n").unwrap();
    std::fs::write(parent.path().join("sibling.txt"), "sibling\n").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("secret-link")).unwrap();

    let out = results(
        &root,
        &[
            ("read_file", json!({"path": "../sibling.txt"})),
            ("read_file", json!({"path": "/etc/passwd"})),
            ("read_file", json!({"path": "out/secret.txt"})),
            ("read_file", json!({"path": "secret-link"})),
            ("write_file", json!({"path": "out/new.txt", "content": "x"})),
            (
                "write_file",
                json!({"path": "a/../../escape.txt", "content": "x"}),
            ),
            (
                "edit_file",
                json!({"path": "secret-link", "old_text": "secret", "new_text": "x"}),
            ),
            ("list_files", json!({"path": ".."})),
            ("search", json!({"pattern": "secret", "path": "out"})),
        ],
    )
    .await;
    assert_eq!(
        out,
        [
            "error: `../sibling.txt` leads outside the worktree",
            "error: `/etc/passwd` is absolute; paths are relative to the worktree root",
            "error: `out/secret.txt` leads outside the worktree (through a symlink)",
            "error: `secret-link` leads outside the worktree (through a symlink)",
            "error: `out/new.txt` leads outside the worktree (through a symlink)",
            "error: `a/../../escape.txt` leads outside the worktree",
            "error: `secret-link` leads outside the worktree (through a symlink)",
            "error: `..` leads outside the worktree",
            "error: `out` leads outside the worktree (through a symlink)",
        ]
    );
    assert!(!outside.join("new.txt").exists());
    assert!(!parent.path().join("escape.txt").exists());
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "secret\n"
    );
}

/// A tree with a `.gitignore` (not a git repository: the walker honours it anyway).
fn ignored_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join(".gitignore"), "target/\n*.log\n").expect("write");
    for (path, content) in [
        ("src/lib.rs", "fn needle() {}\n"),
        ("target/debug/out.rs", "needle\n"),
        ("app.log", "needle\n"),
        ("docs/readme.md", "a needle here\nNeedle\n"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    std::fs::write(root.join("bin.dat"), b"needle\x00\x01needle").expect("write");
    dir
}

#[tokio::test]
async fn search_respects_gitignore_and_skips_binaries() {
    let dir = ignored_tree();
    let out = results(
        dir.path(),
        &[
            ("search", json!({"pattern": "needle"})),
            ("search", json!({"pattern": "^[Nn]eedle$", "regex": true})),
            ("search", json!({"pattern": "needle", "path": "src"})),
            ("search", json!({"pattern": "needle", "max_results": 1})),
            ("search", json!({"pattern": "haystack"})),
            ("search", json!({"pattern": "(", "regex": true})),
        ],
    )
    .await;
    assert_eq!(
        out[0],
        "docs/readme.md:1: a needle here\nsrc/lib.rs:1: fn needle() {}\n[2 matches in 2 files]"
    );
    assert_eq!(out[1], "docs/readme.md:2: Needle\n[1 match in 1 file]");
    assert_eq!(out[2], "src/lib.rs:1: fn needle() {}\n[1 match in 1 file]");
    assert_eq!(
        out[3],
        "docs/readme.md:1: a needle here\n[stopped at max_results after 1 match; narrow the pattern or the path to see the rest]"
    );
    assert_eq!(out[4], "no matches for `haystack`");
    assert!(
        out[5].starts_with("error: invalid regular expression"),
        "{}",
        out[5]
    );
}

#[tokio::test]
async fn list_files_respects_gitignore() {
    let dir = ignored_tree();
    let out = results(
        dir.path(),
        &[
            ("list_files", json!({})),
            ("list_files", json!({"path": "docs", "depth": 1})),
            ("list_files", json!({"path": "src/lib.rs"})),
        ],
    )
    .await;
    assert_eq!(
        out,
        [
            ".gitignore\nbin.dat\ndocs/\ndocs/readme.md\nsrc/\nsrc/lib.rs\n[6 entries, depth 2]",
            "docs/readme.md\n[1 entry, depth 1]",
            "error: `src/lib.rs` is a file, not a directory; use read_file to read it",
        ]
    );
}

#[tokio::test]
async fn read_file_is_bounded_and_says_how_to_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (1..=3000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("big.txt"), body).unwrap();
    let run = harness::run_with(
        dir.path(),
        call_then_finish(
            "read_file",
            json!({"path": "big.txt", "start_line": "2900"}),
        ),
        |cfg| cfg.max_tool_output_bytes = 1024,
    )
    .await;
    let text = run.tool_result(0);
    assert!(text.len() <= 1024 + 120, "{}", text.len());
    assert!(text.starts_with("  2900\tline 2900\n"));
    let last = 2900 + 1024 / "  2900\tline 2900\n".len() as u64 - 1;
    assert!(
        text.ends_with(&format!(
            "[showing lines 2900-{last} of 3000; call read_file with start_line={} to read more]",
            last + 1
        )),
        "{text}"
    );
}

#[tokio::test]
async fn run_reports_exit_codes_and_keeps_head_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run_with(
        dir.path(),
        vec![
            calls(&[
                ("run", json!({"command": "seq 1 2000"})),
                ("run", json!({"command": "echo oops >&2; exit 3"})),
                ("run", json!({"command": "true"})),
            ]),
            finish(),
        ],
        |cfg| cfg.max_tool_output_bytes = 1024,
    )
    .await;
    let seq = run.tool_result(0);
    assert!(
        seq.starts_with("exit code: 0\noutput (8893 bytes):\n1\n2\n3\n"),
        "{seq}"
    );
    assert!(seq.contains("\n[... 7869 bytes omitted ...]\n"), "{seq}");
    assert!(seq.ends_with("1999\n2000\n"), "{seq}");
    assert_eq!(
        run.tool_result(1),
        "exit code: 3\noutput (5 bytes):\noops\n"
    );
    assert_eq!(run.tool_result(2), "exit code: 0\n(no output)");
    let commands: Vec<_> = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Command { .. } | Event::ToolResult { .. }))
        .cloned()
        .collect();
    assert_eq!(
        commands,
        [
            Event::Command {
                command: "seq 1 2000".into(),
                exit_code: Some(0),
                timed_out: false
            },
            Event::ToolResult {
                name: "run".into(),
                ok: true,
                bytes: seq.len()
            },
            Event::Command {
                command: "echo oops >&2; exit 3".into(),
                exit_code: Some(3),
                timed_out: false
            },
            Event::ToolResult {
                name: "run".into(),
                ok: false,
                bytes: run.tool_result(1).len()
            },
            Event::Command {
                command: "true".into(),
                exit_code: Some(0),
                timed_out: false
            },
            Event::ToolResult {
                name: "run".into(),
                ok: true,
                bytes: 24
            },
        ]
    );
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: u32) -> bool {
    for _ in 0..100 {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn run_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = harness::run(
        dir.path(),
        call_then_finish(
            "run",
            json!({"command": "sleep 30 & echo $! > bg.pid; echo started; sleep 30", "timeout_secs": 1}),
        ),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        run.tool_result(0),
        "timed out after 1s (the command and its process group were killed)\noutput (8 bytes):\nstarted\n"
    );
    assert!(run.events.contains(&Event::Command {
        command: "sleep 30 & echo $! > bg.pid; echo started; sleep 30".into(),
        exit_code: None,
        timed_out: true,
    }));
    assert!(run.events.contains(&Event::ToolResult {
        name: "run".into(),
        ok: false,
        bytes: run.tool_result(0).len(),
    }));
    let pid: u32 = std::fs::read_to_string(dir.path().join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_gone(pid),
        "background process {pid} survived the timeout"
    );
}

#[tokio::test]
async fn run_timeout_is_capped_by_the_configured_limit() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run_with(
        dir.path(),
        call_then_finish("run", json!({"command": "sleep 30", "timeout_secs": 3600})),
        |cfg| cfg.command_timeout = Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        run.tool_result(0),
        "timed out after 1s (the command and its process group were killed)\n(no output)"
    );
}

#[tokio::test]
async fn background_processes_do_not_outlive_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run(
        dir.path(),
        call_then_finish(
            "run",
            json!({"command": "sleep 30 & echo $! > bg.pid; echo ok"}),
        ),
    )
    .await;
    assert_eq!(run.tool_result(0), "exit code: 0\noutput (3 bytes):\nok\n");
    let pid: u32 = std::fs::read_to_string(dir.path().join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_gone(pid), "background process {pid} survived");
}

#[tokio::test]
async fn commands_get_a_clean_environment_and_no_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run_with(
        dir.path(),
        vec![
            calls(&[
                ("run", json!({"command": "env"})),
                (
                    "run",
                    json!({"command": "read line; echo \"read: $? [$line]\""}),
                ),
                ("run", json!({"command": "pwd"})),
            ]),
            finish(),
        ],
        |cfg| cfg.process_tag = Some("job-tag".into()),
    )
    .await;
    let env = run.tool_result(0);
    assert!(!env.contains(TOKEN), "{env}");
    let names: Vec<&str> = env
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(env.contains("NIGHTSHIFT_TAG=job-tag\n"), "{env}");
    // The supervisor's one policy (TMPDIR included: the agent's commands once missed it).
    let mut expected: Vec<&str> = nightshift_process::env::KEPT
        .iter()
        .copied()
        .filter(|k| std::env::var_os(k).is_some())
        .chain([
            "NIGHTSHIFT_TAG",
            "NIGHTSHIFT_RUN",
            "PYTHONDONTWRITEBYTECODE",
        ])
        .collect();
    expected.sort_unstable();
    let mut names: Vec<&str> = names
        .into_iter()
        .filter(|k| !matches!(*k, "PWD" | "OLDPWD" | "SHLVL" | "_"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, expected, "{env}");
    assert_eq!(
        run.tool_result(1),
        "exit code: 0\noutput (11 bytes):\nread: 1 []\n"
    );
    let pwd = run.tool_result(2);
    let real = dir.path().canonicalize().unwrap();
    assert!(
        pwd.ends_with(&format!("{}\n", real.display()))
            || pwd.ends_with(&format!("{}\n", dir.path().display())),
        "{pwd}"
    );
}
