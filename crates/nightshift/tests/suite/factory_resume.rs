//! `kill -9` of a running shift at each point — during a model call, during a gate, during a
//! commit — then a resume: the store's state, the factory's refs and the ledger agree, no
//! iteration is lost or repeated as new work, no ledger row is lost or counted twice.
//!
//! Each test runs the real binary as a child process, waits for the moment, kills it with
//! SIGKILL and runs the same shift again to the end.

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

pub fn mirror(w: &World) -> PathBuf {
    std::fs::read_dir(w.path(".nightshift/mirrors"))
        .expect("mirrors")
        .flatten()
        .next()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_model_call_then_resume() {
    let w = World::new(Script::new([slow(), edit("a - b", "a + b"), finish(true)])).await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    kill_during_call(&w, 1).await;

    let report = resume(&w);
    let job = &report["jobs"][0];
    // Iteration 1 (the agent's context died with the factory; nothing was changed) is kept
    // and gated as it stood — an empty change, a defect — and iteration 2 does the work.
    assert_eq!(summary(job), ("done".into(), 2, 1, 1), "{report:#}");
    assert_eq!(
        job["defects_by_gate"],
        json!({"non-empty-change": 1, "python3 -m unittest": 1})
    );
    assert_eq!(w.provider.served(), 3, "the slow call is not made again");

    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["rejected", "accepted"]);
    assert_eq!(its[0].worker_stop, Some(WorkerStop::Failed));
    assert_eq!(its[0].base_sha, base);

    // The write-ahead row of the interrupted call became one ledger row, billed at its
    // reservation; the two later calls are billed exactly; nothing else.
    let rows = ledger(&s).await;
    let interrupted: Vec<&LedgerRow> = rows
        .iter()
        .filter(|r| r.outcome == CallOutcome::Interrupted)
        .collect();
    assert_eq!(interrupted.len(), 1, "{rows:#?}");
    let reserved = interrupted[0].reserved_nanos;
    assert!(reserved > 0);
    assert_eq!(interrupted[0].settled_nanos, reserved);
    assert_eq!(interrupted[0].usage_source, UsageSource::Reserved);
    let mut ok: Vec<i64> = rows
        .iter()
        .filter(|r| r.outcome == CallOutcome::Ok)
        .map(|r| r.settled_nanos)
        .collect();
    ok.sort_unstable();
    assert_eq!(ok, [EDIT, FINISH], "{rows:#?}");
    assert_eq!(rows.len(), 3, "{rows:#?}");

    let (outcomes, total) = by_outcome(&w);
    assert_eq!(
        outcomes,
        json!({"interrupted": [1, reserved], "ok": [2, EDIT + FINISH]})
    );
    assert_eq!(total, EDIT + FINISH + reserved);
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(3), Some(total)),
        "the report counts the interrupted call once, at its reservation"
    );
    // The resumed job's budget is what was left after the interrupted call.
    let events = s.events("fix-calc", 0).await.expect("events");
    let budgets: Vec<i64> = events
        .iter()
        .filter_map(|e| match e.event {
            Event::JobStarted {
                budget_left_nanos, ..
            } => Some(budget_left_nanos),
            _ => None,
        })
        .collect();
    assert_eq!(budgets, [500_000_000, 500_000_000 - reserved]);
    assert!(
        interrupted[0].label_chain.ends_with("/calc"),
        "billed to the job: {}",
        interrupted[0].label_chain
    );

    // The branch holds the one accepted commit: iteration 2.
    let m = mirror(&w);
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        git(&m, &["rev-parse", &ref_of(2)])
    );
    assert_eq!(
        git(&m, &["show", &format!("{BRANCH}:calc.py")]),
        "def add(a, b):\n    return a + b"
    );
}

/// The agent's command left running by a killed factory — in a session of its own, out of
/// reach of any process-group kill — is ended when the job resumes: every process the
/// factory starts for a job carries the job's tag in its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_an_agent_command_then_resume_ends_the_command() {
    // The script is written before the world exists: the marker lives beside it, in a
    // folder of its own outside the worktree.
    let outside = tempfile::tempdir().expect("a folder");
    let marker = outside.path().join("command-started");
    let command = format!(
        "setsid sh -c 'echo $$ > {m}.tmp; mv {m}.tmp {m}; exec sleep 86404' < /dev/null > /dev/null 2>&1 & sleep 60",
        m = marker.display()
    );
    let w = World::new(Script::new([
        Step::tool_call("run", json!({ "command": command })).with_usage(1000, 10),
        edit("a - b", "a + b"),
        finish(true),
    ]))
    .await;
    python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    let mut child = spawn(&w, &[]);
    wait_for(&mut child, "the agent's command to start", || {
        marker.exists()
    })
    .await;
    kill9(child);
    let pid = std::fs::read_to_string(&marker)
        .expect("marker")
        .trim()
        .to_string();
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| !st.contains(") Z "))
    };
    assert!(alive(&pid), "the orphaned command is still running");

    let report = resume(&w);
    assert!(!alive(&pid), "the orphaned command was ended on resume");
    let job = &report["jobs"][0];
    // The interrupted iteration is kept and gated (the tests still fail), the next one fixes.
    assert_eq!(summary(job), ("done".into(), 2, 1, 1), "{report:#}");
    assert_eq!(w.provider.served(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_gate_then_resume() {
    let w = World::new(Script::new([edit("a - b", "a + b"), finish(true)])).await;
    let base = python_repo(&w.path("calc"));
    // The gate runs with a cleared environment: the marker's absolute path is in its text.
    // It takes its time only the first time, so the resumed gate is quick. The marker holds
    // the gate's process group (the gate leads one of its own).
    let marker = w.path("gate-started");
    let gate = format!(
        "if [ ! -e '{m}' ]; then echo $$ > '{m}.tmp'; mv '{m}.tmp' '{m}'; sleep 30; fi; {TESTS}",
        m = marker.display()
    );
    w.spec(&spec(&gate));
    let mut child = spawn(&w, &[]);
    wait_for(&mut child, "the gate to start", || marker.exists()).await;
    kill9(child);
    // The killed factory's gate lives on, orphaned, sleeping 30 s in the worktree; the
    // resumed run must end it before it starts, so the resumed gate runs alone.
    let gate_group = std::fs::read_to_string(&marker)
        .expect("marker")
        .trim()
        .to_string();
    assert!(
        Path::new(&format!("/proc/{gate_group}")).exists(),
        "the orphaned gate is still running"
    );
    assert_eq!(w.provider.served(), 2, "the agent had finished");

    // Killed while gating: the store has iteration 1 committed, not yet judged.
    {
        let s = store(&w).await;
        let its = s.iterations("fix-calc", "calc").await.expect("iterations");
        assert_eq!(states(&its), ["committed"]);
    }

    let report = resume(&w);
    let gone = !Path::new(&format!("/proc/{gate_group}")).exists()
        || std::fs::read_to_string(format!("/proc/{gate_group}/stat"))
            .is_ok_and(|st| st.contains(") Z "));
    assert!(gone, "the orphaned gate was ended on resume");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("done".into(), 1, 1, 0), "{report:#}");
    assert_eq!(
        w.provider.served(),
        2,
        "the iteration is gated again, not re-run"
    );

    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["accepted"]);
    assert!(its[0].claims_done, "the agent's claim survived the crash");
    let gates = s.gate_results("fix-calc", "calc", 1).await.expect("gates");
    assert!(
        !gates.is_empty() && gates.iter().all(|g| g.passed),
        "{gates:#?}"
    );

    let m = mirror(&w);
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        git(&m, &["rev-parse", &ref_of(1)]),
        "exactly one commit on the branch beyond its base: iteration 1"
    );
    assert_eq!(
        job["head"].as_str(),
        Some(its[0].commit_sha.as_deref().unwrap_or(""))
    );

    // Both calls were settled before the gate: the ledger has them once each, exactly.
    let (outcomes, total) = by_outcome(&w);
    assert_eq!(outcomes, json!({"ok": [2, EDIT + FINISH]}));
    assert_eq!(total, EDIT + FINISH);
    assert_eq!(job["spent_nanos"].as_i64(), Some(total));
}

/// Iteration 1 is accepted; the factory dies while iteration 2 waits on the model. The
/// accepted commit survives on the branch and the numbering goes on from 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_an_accepted_iteration_keeps_it() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(false),
        slow(),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    kill_during_call(&w, 3).await;
    let first = {
        let s = store(&w).await;
        let its = s.iterations("fix-calc", "calc").await.expect("iterations");
        assert_eq!(states(&its), ["accepted", "running"]);
        its[0].commit_sha.clone().expect("committed")
    };

    let report = resume(&w);
    let job = &report["jobs"][0];
    // 2: interrupted, kept and gated (an empty change: a defect); 3: claims done, verified.
    assert_eq!(summary(job), ("done".into(), 3, 1, 1), "{report:#}");
    assert_eq!(w.provider.served(), 4);
    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["accepted", "rejected", "verified"]);
    assert_eq!(its[0].commit_sha.as_deref(), Some(first.as_str()));
    assert_eq!(its[0].base_sha, base);
    assert_eq!(
        its[1].base_sha, first,
        "iteration 2 started from the accepted work"
    );
    assert_eq!(
        its[2].base_sha, first,
        "the rejected iteration was reset away"
    );
    assert_eq!(job["head"].as_str(), Some(first.as_str()));

    let m = mirror(&w);
    assert!(
        git(&m, &["merge-base", "--is-ancestor", &first, BRANCH]).is_empty(),
        "the accepted commit is on the branch"
    );
    assert_eq!(
        git(&m, &["show", &format!("{BRANCH}:calc.py")]),
        "def add(a, b):\n    return a + b"
    );

    let (outcomes, total) = by_outcome(&w);
    let interrupted = outcomes["interrupted"][1]
        .as_i64()
        .expect("interrupted row");
    assert_eq!(
        outcomes,
        json!({"interrupted": [1, interrupted], "ok": [3, EDIT + 2 * FINISH]})
    );
    assert_eq!(total, EDIT + 2 * FINISH + interrupted);
    assert_eq!(job["spent_nanos"].as_i64(), Some(total));
}

/// A verified iteration (the agent claims done and changes nothing; the gates confirm it)
/// has nothing to land: the job's branch, in the mirror and where it landed, holds the
/// accepted commits only, and its tip is the job's head. (The iteration's empty commit is
/// kept under its own ref, like every iteration.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_iteration_leaves_no_commit_on_the_branch() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(false),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    let (code, report, stderr) = w.run_json(&RUN);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("done".into(), 2, 1, 0), "{report:#}");
    let s = store(&w).await;
    assert_eq!(states(&iterations(&w, &s).await), ["accepted", "verified"]);
    let m = mirror(&w);
    let first = git(&m, &["rev-parse", &ref_of(1)]);
    assert_eq!(job["head"].as_str(), Some(first.as_str()));
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        first,
        "the branch holds exactly the accepted commit"
    );
    if job["landing"] == "pushed" {
        assert_eq!(
            git(&w.path("calc"), &["rev-parse", BRANCH]),
            first,
            "what landed is the accepted work"
        );
    }
}

/// Killed (with its git commands) while staging the agent's change for the iteration's
/// commit: a git clean filter that takes its time holds `git add` at that moment. The
/// resume clears the lock git left, commits the change as iteration 1 and gates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_commit_then_resume() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(true),
        finish(true),
    ]))
    .await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    let marker = w.path("commit-started");
    let filter = w.path("slow-clean.sh");
    std::fs::write(
        &filter,
        format!(
            "#!/bin/sh\nif [ ! -e '{m}' ]; then touch '{m}'; sleep 10; fi\nexec cat\n",
            m = marker.display()
        ),
    )
    .expect("filter");
    std::fs::set_permissions(&filter, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let attributes = w.path("attributes");
    std::fs::write(&attributes, "calc.py filter=slowclean\n").expect("attributes");
    let gitconfig = w.path("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[core]\n\tattributesFile = {}\n[filter \"slowclean\"]\n\tclean = {}\n",
            attributes.display(),
            filter.display()
        ),
    )
    .expect("gitconfig");
    let env: [(&str, &Path); 1] = [("GIT_CONFIG_GLOBAL", &gitconfig)];

    let mut child = spawn(&w, &env);
    wait_for(&mut child, "the commit to start", || marker.exists()).await;
    kill9_group(child);
    assert_eq!(w.provider.served(), 2, "the agent had finished");
    let wt = w.path(".nightshift/worktrees/fix-calc/calc");
    let lock = git(
        &wt,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "index.lock",
        ],
    );
    assert!(
        Path::new(&lock).exists(),
        "killed half-way through staging: git left its index lock"
    );
    {
        let s = store(&w).await;
        let its = s.iterations("fix-calc", "calc").await.expect("iterations");
        assert_eq!(
            states(&its),
            ["running"],
            "killed before the commit was recorded"
        );
    }

    let (code, report, stderr) = run_with_env(&w, &RUN, &env);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    // The claim of iteration 1 died with the factory before it was recorded: its change is
    // accepted, and iteration 2 (a fresh claim on the accepted work) verifies it.
    assert_eq!(summary(job), ("done".into(), 2, 1, 0), "{report:#}");
    assert_eq!(w.provider.served(), 3);

    let s = store(&w).await;
    let its = iterations(&w, &s).await;
    assert_eq!(states(&its), ["accepted", "verified"]);
    assert_eq!(its[0].base_sha, base);
    assert_eq!(its[0].files, 1, "iteration 1 holds the agent's change");
    let m = mirror(&w);
    assert_eq!(
        git(&m, &["show", &format!("{}:calc.py", ref_of(1))]),
        "def add(a, b):\n    return a + b"
    );
    assert_eq!(job["head"].as_str(), its[0].commit_sha.as_deref());
    assert!(
        git(&m, &["merge-base", "--is-ancestor", &ref_of(1), BRANCH]).is_empty(),
        "the accepted commit is on the branch"
    );

    let (outcomes, total) = by_outcome(&w);
    assert_eq!(outcomes, json!({"ok": [3, EDIT + 2 * FINISH]}));
    assert_eq!(job["spent_nanos"].as_i64(), Some(total));
}

/// `nightshift resume SHIFT` does what a second `run` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_by_name_after_a_kill() {
    let w = World::new(Script::new([slow(), edit("a - b", "a + b"), finish(true)])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec(TESTS));
    kill_during_call(&w, 1).await;
    let (code, report, stderr) = w.run_json(&[
        "resume",
        "fix-calc",
        "--config",
        "nightshift.toml",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&report["jobs"][0]),
        ("done".into(), 2, 1, 1),
        "{report:#}"
    );
    let s = store(&w).await;
    iterations(&w, &s).await;
    // Resuming a finished shift reports it and runs nothing.
    let again = resume(&w);
    assert_eq!(again, report);
    assert_eq!(w.provider.served(), 3);
}

/// The gateway writes a call's write-ahead record before it sends the call upstream, so a
/// call the provider has received (and will bill) is in the ledger after `kill -9` at any
/// moment — here the earliest: as soon as the provider has the request. Many tries, as the
/// window is short (about one try in ten loses the call here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_provider_received_is_in_the_ledger_after_kill_9() {
    for attempt in 1..=30 {
        let w = World::new(Script::new([slow()])).await;
        python_repo(&w.path("calc"));
        w.spec(&spec(TESTS).replace("max_iterations = 5", "max_iterations = 1"));
        let mut child = spawn(&w, &[]);
        let provider = &w.provider;
        poll(
            &mut child,
            "the model call",
            Duration::from_millis(1),
            || !provider.requests().is_empty(),
        )
        .await;
        kill9(child);
        // The next start settles what the crash left in flight; the one iteration is kept
        // and gated, and the job stops at its limit without calling the model again.
        let report = resume(&w);
        assert_eq!(summary(&report["jobs"][0]).0, "max_iterations");
        let (outcomes, _) = by_outcome(&w);
        assert_eq!(
            outcomes["interrupted"][0], 1,
            "attempt {attempt}: the call the provider received is in the ledger: {outcomes}"
        );
    }
}
