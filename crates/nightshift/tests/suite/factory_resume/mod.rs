//! `kill -9` of a running shift at each point — during a model call, during a gate, during a
//! commit — then a resume: the store's state, the factory's refs and the ledger agree, no
//! iteration is lost or repeated as new work, no ledger row is lost or counted twice.
//!
//! Each test runs the real binary as a child process, waits for the moment, kills it with
//! SIGKILL and runs the same shift again to the end.

mod kill;
mod later;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use nightshift_store::{
    CallOutcome, Event, EventRow, FactoryStore as _, IterationRow, LedgerRow, LedgerStore as _,
    SqliteStore, UsageSource, WorkerStop,
};
use nightshift_testkit::{Script, Step};

use super::factory::{World, edit, finish, git, python_repo};

pub const RUN: [&str; 5] = ["run", "shift.toml", "--config", "nightshift.toml", "--json"];

/// Generous: a moment the scenario waits for normally comes within a second.
const DEADLINE: Duration = Duration::from_secs(20);

/// `nightshift run shift.toml` as a child process of its own, output discarded.
pub fn spawn(w: &World, env: &[(&str, &Path)]) -> Child {
    let mut cmd = super::bin();
    cmd.args(RUN)
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // A process group of its own, so a test can also kill the factory together with the
    // git commands it is running (as a crash of the whole machine would).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().expect("nightshift starts")
}

/// Poll `ready` until it holds; fail if the child ends first or the deadline passes.
pub async fn wait_for(child: &mut Child, what: &str, ready: impl FnMut() -> bool) {
    poll(child, what, Duration::from_millis(10), ready).await;
}

async fn poll(child: &mut Child, what: &str, every: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if ready() {
            return;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("nightshift ended ({status}) before {what}");
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

/// SIGKILL the factory process (only it: the commands it started live on) and reap it.
pub fn kill9(mut child: Child) {
    child.kill().expect("kill -9");
    let status = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by SIGKILL, not ended on its own: {status}"
    );
}

/// SIGKILL the factory's whole process group: the factory and the git commands it runs.
fn kill9_group(mut child: Child) {
    let pgid = child.id().to_string();
    let out = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .output()
        .expect("kill runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );
}

/// Run `nightshift ARGS` to its end with extra environment variables: exit code, stdout as
/// JSON, stderr.
pub fn run_with_env(w: &World, args: &[&str], env: &[(&str, &Path)]) -> (i32, Value, String) {
    let mut cmd = super::bin();
    cmd.args(args).current_dir(w.dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("nightshift runs");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Run the shift again to the end; returns its report.
pub fn resume(w: &World) -> Value {
    let (code, report, stderr) = w.run_json(&RUN);
    assert_eq!(code, 0, "{stderr}");
    report
}

pub async fn store(w: &World) -> SqliteStore {
    SqliteStore::open(&format!("sqlite://{}", w.path("ledger.db").display()))
        .await
        .expect("store opens")
}

/// The world's one mirror (not the trust records kept beside the mirrors, `.nightshift-trust`).
pub fn mirror(w: &World) -> PathBuf {
    std::fs::read_dir(w.path(".nightshift/mirrors"))
        .expect("mirrors")
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .expect("a mirror")
        .path()
}

fn ref_of(n: i64) -> String {
    format!("refs/nightshift/fix-calc/calc/{n}")
}

const BRANCH: &str = "nightshift/fix-calc/calc";

/// The job's iterations, checked to be numbered 1..=n with no gap or repeat, each started
/// exactly once (an iteration resumed after a crash is continued, not started again), each
/// kept under its ref at the commit the store names.
async fn iterations(w: &World, s: &SqliteStore) -> Vec<IterationRow> {
    let its = s.iterations("fix-calc", "calc").await.expect("iterations");
    let numbers: Vec<i64> = its.iter().map(|i| i.n).collect();
    let expected: Vec<i64> = (1..=its.len() as i64).collect();
    assert_eq!(
        numbers, expected,
        "iterations numbered without gap or repeat"
    );
    let events: Vec<EventRow> = s.events("fix-calc", 0).await.expect("events");
    let started: Vec<i64> = events
        .iter()
        .filter_map(|e| match e.event {
            Event::IterationStarted { n, .. } => Some(i64::from(n)),
            _ => None,
        })
        .collect();
    assert_eq!(started, expected, "each iteration started exactly once");
    let m = mirror(w);
    for it in &its {
        let commit = it.commit_sha.as_deref().expect("every iteration committed");
        assert_eq!(
            git(&m, &["rev-parse", &ref_of(it.n)]),
            commit,
            "ref of {}",
            it.n
        );
    }
    its
}

fn states(its: &[IterationRow]) -> Vec<&'static str> {
    its.iter().map(|i| i.state.as_str()).collect()
}

async fn ledger(s: &SqliteStore) -> Vec<LedgerRow> {
    s.ledger_rows().await.expect("ledger")
}

/// The exact cost of a scripted call at the World's prices ($1 in, $4 out per Mtok).
const fn cost(input: i64, output: i64) -> i64 {
    input * 1000 + output * 4000
}

/// `nightshift ledger --by outcome`: settled nanodollars per outcome, and the total.
fn by_outcome(w: &World) -> (Value, i64) {
    let (code, v, stderr) = w.run_json(&[
        "ledger",
        "--config",
        "nightshift.toml",
        "--by",
        "outcome",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut map = serde_json::Map::new();
    for r in v["rows"].as_array().expect("rows") {
        map.insert(
            r["key"].as_str().expect("key").to_string(),
            json!([r["calls"], r["settled_nanos"]]),
        );
    }
    (
        Value::Object(map),
        v["total"]["settled_nanos"].as_i64().expect("total"),
    )
}

fn summary(job: &Value) -> (String, i64, i64, i64) {
    (
        job["stop_reason"].as_str().unwrap_or("").to_string(),
        job["iterations"].as_i64().unwrap_or(-1),
        job["accepted"].as_i64().unwrap_or(-1),
        job["defects"].as_i64().unwrap_or(-1),
    )
}

const EDIT: i64 = cost(3000, 40);
const FINISH: i64 = cost(3100, 20);

/// A model call that takes its time: the moment to kill the factory in.
fn slow() -> Step {
    Step {
        delay_ms: 5000,
        ..Step::text("thinking it over").with_usage(2000, 10)
    }
}

fn spec(gate: &str) -> String {
    format!(
        r#"name = "fix-calc"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Make the failing test pass."
worker = "builtin"
model = "agent-model"

[gates]
commands = [{gate}]

[stop]
max_iterations = 5

[budget]
shift_usd = 1
job_usd = "0.50"
"#,
        gate = toml_string(gate)
    )
}

/// The same spec with the sandbox off: for the tests of what the factory reaps itself
/// (markers written outside the worktree, process ids of the host). Inside the sandbox a
/// killed factory's processes die with it (`sandboxed_processes_die_with_a_killed_factory`).
fn unconfined(spec: &str) -> String {
    format!("{spec}\n[sandbox]\nmode = \"off\"\n")
}

fn toml_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

const TESTS: &str = "python3 -m unittest -q";

/// Kill the factory while the agent waits on its model call number `calls`.
async fn kill_during_call(w: &World, calls: usize) {
    let mut child = spawn(w, &[]);
    let provider = &w.provider;
    wait_for(&mut child, &format!("model call {calls}"), || {
        provider.requests().len() >= calls
    })
    .await;
    // The write-ahead record is durable before the call goes upstream: kill at once.
    kill9(child);
}
