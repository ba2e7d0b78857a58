//! The agent CLI workers end to end: the real `codex`, `claude` and `opencode` (installed by
//! `scripts/install-agents.sh`) run by the real `nightshift run` on a real repository,
//! pointed at the shift's gateway, which forwards each CLI's own wire format to the scripted
//! provider. The scripted model calls each CLI's own shell tool, as the CLI declares it
//! (Codex `exec_command {cmd}`, Claude Code `Bash {command}`, OpenCode `bash {command}`),
//! and the CLI runs it in the worktree; then the real gates judge the change.
//!
//! Each CLI: an accepted change (the branch advances, the ledger holds the scripted usage
//! to the nanodollar), a defect (nothing lands), and a budget cut (the gateway refuses the
//! second call; the job stops for the budget).

use std::path::PathBuf;

use serde_json::{Value, json};

use nightshift_store::{Event, FactoryStore as _, LedgerStore as _};
use nightshift_testkit::{Script, Step};

use super::factory::{World, git, python_repo};
use super::factory_resume::{mirror, store};

#[derive(Clone, Copy, Debug)]
pub(super) enum Cli {
    Codex,
    ClaudeCode,
    Opencode,
}

impl Cli {
    pub(super) fn worker(self) -> &'static str {
        match self {
            Self::Codex => "codex",
            Self::ClaudeCode => "claude-code",
            Self::Opencode => "opencode",
        }
    }

    fn product(self) -> &'static str {
        match self {
            Self::Codex => "Codex",
            Self::ClaudeCode => "Claude Code",
            Self::Opencode => "OpenCode",
        }
    }

    /// A scripted call to the CLI's own shell tool, in the shape the CLI declares it.
    pub(super) fn shell(self, command: &str) -> Step {
        match self {
            Self::Codex => Step::tool_call("exec_command", json!({ "cmd": command })),
            Self::ClaudeCode => Step::tool_call(
                "Bash",
                json!({ "command": command, "description": "run a command" }),
            ),
            Self::Opencode => Step::tool_call(
                "bash",
                json!({ "command": command, "description": "run a command" }),
            ),
        }
    }
}

/// Where `scripts/install-agents.sh` put the CLIs: `$NIGHTSHIFT_AGENTS_DIR`, else the
/// clone's `.cache/agents`. Missing CLIs fail the test, saying what to run.
pub(super) fn agents_dir() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_AGENTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/agents"));
    for bin in ["codex", "claude", "opencode"] {
        let path = dir.join("node_modules/.bin").join(bin);
        assert!(
            path.exists(),
            "the agent CLIs are not installed ({} is missing): run scripts/install-agents.sh",
            path.display()
        );
    }
    dir
}

/// A world whose gateway forwards every format as is (`kind = "scripted"`), so that each
/// CLI's own requests reach the scripted provider.
pub(super) async fn world(script: Script) -> World {
    let w = World::new(script).await;
    std::fs::write(
        w.path("nightshift.toml"),
        format!(
            "[store]\nurl = \"sqlite://ledger.db\"\n\n[[provider]]\nname = \"scripted\"\nkind = \"scripted\"\nbase_url = \"{}\"\n\n[[model]]\nname = \"agent-model\"\nprovider = \"scripted\"\ninput_usd_per_mtok = \"1.00\"\noutput_usd_per_mtok = \"4.00\"\n",
            w.provider.base_url()
        ),
    )
    .expect("config");
    w
}

fn spec(cli: Cli, job_usd: &str) -> String {
    spec_with(cli, job_usd, 6, 60)
}

fn spec_with(cli: Cli, job_usd: &str, max_turns: u32, silence_secs: u64) -> String {
    format!(
        r#"name = "cli"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Make the failing test pass."
worker = "{}"
model = "agent-model"
max_turns = {max_turns}
silence_secs = {silence_secs}

[gates]
commands = ["python3 -m unittest -q"]

[stop]
max_iterations = 1

[budget]
shift_usd = 1
job_usd = "{job_usd}"
"#,
        cli.worker()
    )
}

/// Run the one-job shift with the CLIs installed; returns the job's report.
fn run_shift(w: &World) -> Value {
    let out = super::bin()
        .args(["run", "shift.toml", "--config", "nightshift.toml", "--json"])
        .env("NIGHTSHIFT_AGENTS_DIR", agents_dir())
        .current_dir(w.dir.path())
        .output()
        .expect("nightshift runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    report["jobs"][0].clone()
}

/// (stop reason, iterations, accepted, defects, defects by gate, landing).
fn summary(job: &Value) -> (String, i64, i64, i64, Value, String) {
    (
        job["stop_reason"].as_str().unwrap_or("").to_string(),
        job["iterations"].as_i64().unwrap_or(-1),
        job["accepted"].as_i64().unwrap_or(-1),
        job["defects"].as_i64().unwrap_or(-1),
        job["defects_by_gate"].clone(),
        job["landing"].as_str().unwrap_or("").to_string(),
    )
}

/// The cost of a scripted call at the world's prices ($1 in, $4 out per Mtok).
const fn cost(input: i64, output: i64) -> i64 {
    input * 1000 + output * 4000
}

/// The factory's event-log lines of the job's one iteration (what the worker reported).
async fn iteration_events(w: &World) -> Vec<String> {
    let s = store(w).await;
    let events = s.events("cli", 0).await.expect("events");
    events
        .into_iter()
        .find_map(|e| match e.event {
            Event::IterationCommitted { events, .. } => Some(events),
            _ => None,
        })
        .expect("an iteration_committed event")
}

/// The ledger's rows for the shift as (outcome, input, cached input, output, nanos), in order.
async fn ledger(w: &World) -> Vec<(String, i64, i64, i64, i64)> {
    let s = store(w).await;
    let mut rows = s.ledger_rows().await.expect("ledger");
    rows.sort_by_key(|r| r.ts_ms);
    rows.into_iter()
        .map(|r| {
            (
                r.outcome.to_string(),
                r.input_tokens,
                r.cached_input_tokens,
                r.output_tokens,
                r.settled_nanos,
            )
        })
        .collect()
}

async fn accepted_change(cli: Cli) {
    let w = world(Script::new([
        cli.shell("sed -i 's/a - b/a + b/' calc.py")
            .with_usage(3000, 40),
        Step::text("Fixed add: it adds now.").with_full_usage(nightshift_testkit::Usage {
            input_tokens: 3100,
            cached_input_tokens: 3000,
            output_tokens: 20,
            ..Default::default()
        }),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(cli, "0.50"));
    let job = run_shift(&w);
    assert_eq!(
        summary(&job),
        ("done".into(), 1, 1, 0, json!({}), "pushed".into()),
        "{job:#}"
    );
    // Two calls of known usage: the report, the ledger and the arithmetic agree.
    let expected = cost(3000, 40) + cost(3100, 20);
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(2), Some(expected))
    );
    assert_eq!(
        ledger(&w).await,
        [
            ("ok".into(), 3000, 0, 40, cost(3000, 40)),
            ("ok".into(), 3100, 3000, 20, cost(3100, 20)),
        ]
    );
    let events = iteration_events(&w).await;
    assert!(
        events.contains(&"ledger: 2 calls, 6100 input (3000 cached), 60 output".to_string()),
        "{events:#?}"
    );
    assert!(
        events.contains(&"usage: the CLI's figures match the ledger".to_string()),
        "{events:#?}"
    );
    // The CLI ran the tool call in the worktree; the branch holds exactly that change,
    // landed in the source repository.
    let m = mirror(&w);
    assert_eq!(
        git(&m, &["show", "nightshift/cli/calc:calc.py"]),
        "def add(a, b):\n    return a + b"
    );
    assert_eq!(
        git(
            &w.path("calc"),
            &[
                "rev-list",
                "--count",
                &format!("{base}..nightshift/cli/calc")
            ]
        ),
        "1"
    );
    // The CLI's home stayed out of the worktree: the commit has calc.py and nothing else.
    assert_eq!(
        git(&m, &["diff", "--name-only", &base, "nightshift/cli/calc"]),
        "calc.py"
    );
    // Every request reached the provider through the gateway with the job's token, never a
    // provider key, in the CLI's own format.
    let requests = w.provider.requests();
    assert_eq!(requests.len(), 2);
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    let expected_path = match cli {
        Cli::Codex => "/v1/responses",
        Cli::ClaudeCode => "/v1/messages",
        Cli::Opencode => "/v1/chat/completions",
    };
    assert_eq!(paths, [expected_path, expected_path]);
}

async fn defect(cli: Cli) {
    let w = world(Script::new([
        cli.shell("sed -i 's/a - b/a * b/' calc.py")
            .with_usage(3000, 40),
        Step::text("Changed add.").with_usage(3100, 20),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(cli, "0.50"));
    let job = run_shift(&w);
    assert_eq!(
        summary(&job),
        (
            "max_iterations".into(),
            1,
            0,
            1,
            json!({"python3 -m unittest": 1}),
            "nothing".into()
        ),
        "{job:#}"
    );
    assert_eq!(
        job["spent_nanos"].as_i64(),
        Some(cost(3000, 40) + cost(3100, 20))
    );
    // The defect is kept under the factory's ref; nothing reached the source repository.
    let m = mirror(&w);
    assert_eq!(
        git(&m, &["show", "refs/nightshift/cli/calc/1:calc.py"]),
        "def add(a, b):\n    return a * b"
    );
    assert_eq!(
        git(&w.path("calc"), &["branch", "--list", "nightshift/*"]),
        ""
    );
    assert_eq!(git(&w.path("calc"), &["rev-parse", "main"]), base);
}

async fn budget_cut(cli: Cli) {
    // The first call (a harmless read) spends nearly the whole job budget of $0.05; the
    // gateway refuses the second, whose reservation the rest cannot pay.
    let w = world(Script::new([
        cli.shell("cat calc.py").with_usage(45_000, 40),
        Step::text("Never sent.").with_usage(100, 1),
    ]))
    .await;
    python_repo(&w.path("calc"));
    w.spec(&spec(cli, "0.05"));
    let job = run_shift(&w);
    assert_eq!(
        summary(&job),
        (
            "budget".into(),
            1,
            0,
            1,
            json!({"non-empty-change": 1, "python3 -m unittest": 1}),
            "nothing".into()
        ),
        "{job:#}"
    );
    // Two calls in the report: the one that went upstream and the refused one.
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(2), Some(cost(45_000, 40)))
    );
    assert_eq!(
        ledger(&w).await,
        [
            ("ok".into(), 45_000, 0, 40, cost(45_000, 40)),
            ("refused".into(), 0, 0, 0, 0),
        ]
    );
    assert_eq!(
        w.provider.served(),
        1,
        "the refused call never went upstream"
    );
}

/// The job's iterations as (state, summary).
async fn iterations(w: &World) -> Vec<(String, String)> {
    let s = store(w).await;
    s.iterations("cli", "calc")
        .await
        .expect("iterations")
        .into_iter()
        .map(|r| (r.state.to_string(), r.summary.unwrap_or_default()))
        .collect()
}

/// The live processes whose command line contains `needle`.
fn processes_running(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(needle) {
            found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// The CLI's shell tool fixes the bug, then runs a command that never returns and writes
/// nothing (here `sleep`; a prompt waiting on a terminal looks the same from outside). After
/// `recipe.silence_secs` of silence the CLI is killed with its whole process group — the
/// hanging command included — and the work it did before is committed, gated and, since the
/// tests pass, accepted.
async fn silent(cli: Cli, hang: &str) {
    let command = format!("sed -i 's/a - b/a + b/' calc.py && {hang}");
    let call = match cli {
        // Codex hands a running command back to the model after `yield_time_ms` (10 s by
        // default, 30 s at most) and leaves it running; ask for the longest wait.
        Cli::Codex => Step::tool_call(
            "exec_command",
            json!({ "cmd": command, "yield_time_ms": 30_000 }),
        ),
        _ => cli.shell(&command),
    };
    let w = world(Script::new([
        call.with_usage(3000, 40),
        Step::text("Never sent.").with_usage(100, 1),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    // Long enough for the CLI to start and speak on a busy machine (OpenCode takes 6 s
    // alone, 10–20 s beside other tests); under the 30 s Codex waits on a command at most.
    let silence = match cli {
        Cli::Opencode => 40,
        _ => 20,
    };
    w.spec(&spec_with(cli, "0.50", 6, silence));
    let started = std::time::Instant::now();
    let job = run_shift(&w);
    let took = started.elapsed();
    assert_eq!(
        summary(&job),
        ("max_iterations".into(), 1, 1, 0, json!({}), "pushed".into()),
        "{job:#}"
    );
    assert!(
        took < std::time::Duration::from_secs(90),
        "the shift took {took:?}: the hang was not cut"
    );
    assert_eq!(
        iterations(&w).await,
        [(
            "accepted".to_string(),
            format!(
                "{} wrote nothing for {silence} s (recipe.silence_secs): taken to be waiting for input, killed with every process it started",
                cli.product()
            )
        )]
    );
    assert_eq!(
        processes_running(hang),
        Vec::<String>::new(),
        "the hanging command outlived its CLI"
    );
    // One model call: the one that asked for the command.
    assert_eq!(w.provider.served(), 1);
    assert_eq!(job["spent_nanos"].as_i64(), Some(cost(3000, 40)));
    assert_eq!(
        git(
            &w.path("calc"),
            &[
                "rev-list",
                "--count",
                &format!("{base}..nightshift/cli/calc")
            ]
        ),
        "1"
    );
}

/// A model that never stops calling tools, under `recipe.max_turns = 2`: the CLI is stopped
/// after its second turn (Claude Code by its own `--max-turns`, the others by the factory
/// counting their events), having spent exactly the calls it made.
async fn turn_limit(cli: Cli, pause: &str) {
    // From the third turn on, each command pauses for minutes: a command the stop failed to
    // end would still be running when the run is over, and is looked for below.
    let steps: Vec<Step> = (0..6)
        .map(|i| {
            let command = if i < 2 {
                format!("echo {i} >> turns.txt")
            } else {
                format!("echo {i} >> turns.txt; {pause}")
            };
            cli.shell(&command).with_usage(1000, 10)
        })
        .collect();
    let w = world(Script::new(steps)).await;
    python_repo(&w.path("calc"));
    w.spec(&spec_with(cli, "0.50", 2, 60));
    let job = run_shift(&w);
    // The commands the CLI ran are kept under the iteration's ref; the tests still fail.
    assert_eq!(
        summary(&job),
        (
            "max_iterations".into(),
            1,
            0,
            1,
            json!({"python3 -m unittest": 1}),
            "nothing".into()
        ),
        "{job:#}"
    );
    let (calls, message) = match cli {
        // Codex: the third command starts (three calls made) and the factory stops it.
        Cli::Codex => (
            3,
            "Codex went past recipe.max_turns (2 turns) and was stopped",
        ),
        // Claude Code stops itself after two turns and says so.
        Cli::ClaudeCode => (
            2,
            "Claude Code hit its turn limit (recipe.max_turns = 2) without finishing",
        ),
        // OpenCode: the third step starts (three calls made) and the factory stops it.
        Cli::Opencode => (
            3,
            "OpenCode went past recipe.max_turns (2 turns) and was stopped",
        ),
    };
    assert_eq!(
        iterations(&w).await,
        [("rejected".to_string(), message.to_string())]
    );
    assert_eq!(w.provider.served(), calls);
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(calls as i64), Some(calls as i64 * cost(1000, 10)))
    );
    assert_eq!(processes_running(pause), Vec::<String>::new());
    // What the CLI's commands wrote before it was stopped is kept under the iteration's ref.
    // Claude Code ran the commands of its two turns; Codex had started the third when it
    // was stopped (its `echo` ran, its pause was cut: Codex reports a command as it starts
    // it). OpenCode is stopped on the third step's start event, which it writes as it
    // starts the step's tool: whether that `echo` ran before the kill is a race of
    // microseconds, so either is right — what must hold is that nothing was lost.
    let kept = git(
        &mirror(&w),
        &["show", "refs/nightshift/cli/calc/1:turns.txt"],
    );
    match cli {
        Cli::ClaudeCode => assert_eq!(kept, "0\n1"),
        Cli::Codex => assert_eq!(kept, "0\n1\n2"),
        Cli::Opencode => assert!(kept == "0\n1" || kept == "0\n1\n2", "{kept}"),
    }
}

/// The three cases for one CLI, as tests named `factory_cli_<cli>_<case>`.
macro_rules! cases {
    ($cli:expr, $accepted:ident, $defect:ident, $budget:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $accepted() {
            accepted_change($cli).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $defect() {
            defect($cli).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $budget() {
            budget_cut($cli).await;
        }
    };
}

cases!(
    Cli::Codex,
    factory_cli_codex_accepted_change,
    factory_cli_codex_defect,
    factory_cli_codex_budget_cut
);
cases!(
    Cli::ClaudeCode,
    factory_cli_claude_code_accepted_change,
    factory_cli_claude_code_defect,
    factory_cli_claude_code_budget_cut
);
cases!(
    Cli::Opencode,
    factory_cli_opencode_accepted_change,
    factory_cli_opencode_defect,
    factory_cli_opencode_budget_cut
);

/// The failure modes of one CLI: waiting for input, going past its turns.
macro_rules! failures {
    ($cli:expr, $silent:ident, $hang:literal, $turns:ident, $pause:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $silent() {
            silent($cli, $hang).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $turns() {
            turn_limit($cli, $pause).await;
        }
    };
}

// Each test's command is its own, so that a survivor can be told apart.
failures!(
    Cli::Codex,
    factory_cli_codex_silent_is_killed,
    "sleep 86401",
    factory_cli_codex_turn_limit,
    "sleep 300.01"
);
failures!(
    Cli::ClaudeCode,
    factory_cli_claude_code_silent_is_killed,
    "sleep 86402",
    factory_cli_claude_code_turn_limit,
    "sleep 300.02"
);
failures!(
    Cli::Opencode,
    factory_cli_opencode_silent_is_killed,
    "sleep 86403",
    factory_cli_opencode_turn_limit,
    "sleep 300.03"
);

/// A missing CLI is refused before the shift starts: exit 2, naming what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn factory_cli_missing_binary_is_bad_input() {
    let w = world(Script::new([])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec(Cli::Codex, "0.50"));
    let out = super::bin()
        .args(["run", "shift.toml", "--config", "nightshift.toml"])
        .env("NIGHTSHIFT_AGENTS_DIR", w.path("no-agents-here"))
        .current_dir(w.dir.path())
        .output()
        .expect("nightshift runs");
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&w.dir.path().display().to_string(), "[TMP]");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "error: shift.toml: job `calc`: worker `codex`: NIGHTSHIFT_AGENTS_DIR=[TMP]/no-agents-here holds no `codex` ([TMP]/no-agents-here/node_modules/.bin/codex not found); run scripts/install-agents.sh and set NIGHTSHIFT_AGENTS_DIR to the folder it prints, or set NIGHTSHIFT_CODEX_BIN to the `codex` binary\n"
    );
    assert_eq!(w.provider.served(), 0);
}
