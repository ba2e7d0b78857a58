//! One test per way untrusted code runs: the built-in agent's `run` tool, each agent CLI's
//! own shell tool, a gate; and the two ways the sandbox can be missing.

use serde_json::json;

use nightshift_testkit::{Script, Step};

use super::*;
use crate::suite::factory::finish;
use crate::suite::factory_cli::Cli;

/// The cost of a scripted call at the world's prices ($1 in, $4 out per Mtok).
const fn cost(input: i64, output: i64) -> i64 {
    input * 1000 + output * 4000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_agents_tools_stay_inside() {
    let w = World::new(Script::new([
        Step::tool_call(
            "run",
            json!({"command": "sh attack.sh", "timeout_secs": 120}),
        )
        .with_usage(1000, 10),
        Step::tool_call("read_file", json!({"path": "../../../../nightshift.toml"}))
            .with_usage(1000, 10),
        Step::tool_call(
            "write_file",
            json!({"path": "escape/planted", "content": "x"}),
        )
        .with_usage(1000, 10),
        finish(true).with_usage(1000, 10),
    ]))
    .await;
    config(&w, "openai-compatible");
    let r = plant(&w);
    repo(&w, &r);
    w.spec(&spec("worker = \"builtin\"", "\"python3 -m unittest -q\""));
    let (out, report) = run(&w, &r);
    assert_contained(&w, &r, &out, &report).await;
    assert_work_kept(&w);
    let seen = bodies(&w);
    // The attack ran to its end, the tests passed inside it, and the model heard it all.
    for step in ["== ssh", "== canary", "TESTS-PASS", "exit code: 153"] {
        assert!(
            seen.contains(step),
            "{step} not in what the model saw:\n{seen}"
        );
    }
    assert!(!r.outside.path().join("planted").exists());
    let forks = refused(&seen).expect("the fork bomb's count");
    assert_eq!(forks, 1);
    assert_eq!(
        evidence(&report),
        [
            ("processes".into(), forks),
            ("file_size".into(), 1),
            ("network".into(), 1),
            ("network".into(), 1),
            ("syscall".into(), 1),
            ("path".into(), 1),
            ("path".into(), 1),
        ],
        "{report:#}"
    );
    assert_watched(&report, &r);
    let job = &report["jobs"][0];
    assert_eq!(job["sandbox_blocked"], forks + 6);
    // Tests passed, yet the iteration is a defect: trying to get out is one.
    assert_eq!(job["defects_by_gate"], json!({"sandbox": 1}), "{report:#}");
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(4), Some(4 * cost(1000, 10)))
    );
}

/// The init's watcher named what the attack reached for: the TCP canary, the Unix socket
/// canary, `unshare`.
fn assert_watched(report: &Value, r: &Range) {
    let details: Vec<&str> = report["jobs"][0]["sandbox_evidence"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["detail"].as_str()).collect())
        .unwrap_or_default();
    for want in [
        format!(
            "`python3` tried to reach port {} of the host (1×)",
            r.canary_port
        ),
        format!(
            "`python3` tried to reach the host's socket {} (1×)",
            r.unix_path.display()
        ),
        "`unshare` called `unshare`, refused (1×)".to_owned(),
    ] {
        assert!(
            details.contains(&want.as_str()),
            "{want} not in {details:#?}"
        );
    }
}

async fn agent_cli_shell_stays_inside(cli: Cli) {
    let w = super::super::factory_cli::world(Script::new([
        cli.shell("sh attack.sh cli").with_usage(3000, 40),
        Step::text("Fixed add.").with_usage(3100, 20),
    ]))
    .await;
    config(&w, "scripted");
    let r = plant(&w);
    repo(&w, &r);
    w.spec(&spec(
        &format!("worker = \"{}\"\nsilence_secs = 120", cli.worker()),
        "\"python3 -m unittest -q\"",
    ));
    let (out, report) = run(&w, &r);
    let seen = bodies(&w);
    for step in ["== ssh", "== canary", "TESTS-PASS"] {
        assert!(
            seen.contains(step),
            "{step} not in what the model saw:\n{report:#}"
        );
    }
    assert_contained(&w, &r, &out, &report).await;
    assert_work_kept(&w);
    // The CLI's own tool saw the file-size kill; the sandbox sees the forks it refused
    // (the bomb's, and any thread the CLI could not start in that instant).
    assert_eq!(refused(&seen), Some(1), "{seen}");
    let ev = evidence(&report);
    assert!(
        matches!(ev.as_slice(), [(kind, n), ..] if kind == "processes" && *n >= 1),
        "{report:#}"
    );
    assert_eq!(
        ev[1..],
        [
            ("network".into(), 1),
            ("network".into(), 1),
            ("syscall".into(), 1)
        ],
        "{report:#}"
    );
    assert_watched(&report, &r);
    let job = &report["jobs"][0];
    assert_eq!(job["defects_by_gate"], json!({"sandbox": 1}), "{report:#}");
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(2), Some(cost(3000, 40) + cost(3100, 20)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_shell_stays_inside() {
    agent_cli_shell_stays_inside(Cli::Codex).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_shell_stays_inside() {
    agent_cli_shell_stays_inside(Cli::ClaudeCode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opencode_shell_stays_inside() {
    agent_cli_shell_stays_inside(Cli::Opencode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_own_tests_stay_inside_as_a_gate() {
    let w = World::new(Script::new([])).await;
    config(&w, "openai-compatible");
    let r = plant(&w);
    repo(&w, &r);
    w.spec(&spec(
        "worker = \"command\"\ncommand = \"sed -i 's/a - b/a + b/' calc.py && echo NIGHTSHIFT_DONE\"",
        "\"sh attack.sh\", \"python3 -m unittest -q\"",
    ));
    let (out, report) = run(&w, &r);
    assert_contained(&w, &r, &out, &report).await;
    assert_work_kept(&w);
    let evidence_text = gate_evidence(&w).await;
    assert!(evidence_text.contains("TESTS-PASS"), "{evidence_text}");
    assert_eq!(refused(&evidence_text), Some(1), "{evidence_text}");
    assert_eq!(
        evidence(&report),
        [
            ("processes".into(), 1),
            ("file_size".into(), 1),
            ("network".into(), 1),
            ("network".into(), 1),
            ("syscall".into(), 1)
        ],
        "{report:#}"
    );
    assert_watched(&report, &r);
    assert_eq!(
        report["jobs"][0]["defects_by_gate"],
        json!({"sh attack.sh": 1, "sandbox": 1}),
        "{report:#}"
    );
    assert_eq!(w.provider.served(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_off_is_said_in_the_report_and_on_every_progress_line() {
    let w = World::new(Script::new([finish(false)])).await;
    python_repo(&w.path("calc"));
    w.spec(
        &spec("worker = \"builtin\"", "\"python3 -m unittest -q\"")
            .replace("[sandbox]\n", "[sandbox]\nmode = \"off\"\n"),
    );
    let out = super::super::run(
        &["run", "shift.toml", "--config", "nightshift.toml"],
        w.dir.path(),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("SANDBOX OFF: ")),
        "{stdout}"
    );
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" iteration "))
        .collect();
    assert!(!progress.is_empty(), "{stderr}");
    assert!(
        progress
            .iter()
            .all(|l| l.starts_with("[NO SANDBOX] calc iteration ")),
        "{stderr}"
    );
    let (_, status, _) =
        w.run_json(&["status", "redteam", "--config", "nightshift.toml", "--json"]);
    assert_eq!(status["sandbox"], "off", "{status:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_the_sandbox_refuses_the_shift() {
    let w = World::new(Script::new([finish(false)])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec("worker = \"builtin\"", "\"python3 -m unittest -q\""));
    let out = super::super::bin()
        .args(["run", "shift.toml", "--config", "nightshift.toml"])
        .env("NIGHTSHIFT_BWRAP", w.path("no-such-bwrap"))
        .current_dir(w.dir.path())
        .output()
        .expect("nightshift runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the sandbox cannot run on this host: bubblewrap (`bwrap`) is not installed: run `apt-get install bubblewrap`")
            && stderr.contains("[sandbox] mode = \"off\""),
        "{stderr}"
    );
    assert_eq!(w.provider.served(), 0);
}

#[test]
fn doctor_says_what_this_host_enforces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = super::super::run(&["doctor", "--json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["works"], true, "{v:#}");
    // The ABI asked for is 6; a kernel without Landlock says `null`.
    let landlock = &v["enforced"]["landlock"];
    assert!(
        landlock.is_null() || landlock.as_u64().is_some_and(|abi| (1..=6).contains(&abi)),
        "{v:#}"
    );
    let out = super::super::run(&["doctor"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        [
            "sandbox",
            "processes per run",
            "memory per run",
            "landlock",
            "seccomp"
        ],
        "{text}"
    );
}
