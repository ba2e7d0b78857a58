//! Defects and stop rules: false "done" claims, deleted tests, protected paths, budgets,
//! stalls and iteration limits.

use serde_json::{Value, json};

use nightshift_testkit::{Script, Step};

use super::factory::{World, python_repo};

/// A scripted tool call with the usage every factory test prices.
pub fn call(name: &str, args: Value) -> Step {
    Step::tool_call(name, args).with_usage(3000, 40)
}

fn finish(done: bool) -> Step {
    call("finish", json!({"summary": "did something", "done": done}))
}

fn spec(repos: &str, extra: &str) -> String {
    format!(
        r#"name = "rules"

[fleet]
repos = [{repos}]

[recipe]
prompt = "Make the failing test pass."
worker = "builtin"
model = "agent-model"
max_turns = 4

[gates]
commands = ["python3 -m unittest -q"]

[budget]
shift_usd = 1
job_usd = "0.50"
{extra}
"#
    )
}

/// Run a one-job shift; returns the world, the job's report and the repository's base.
async fn run_one(script: Script, extra: &str) -> (World, Value, String) {
    let w = World::new(script).await;
    let base = python_repo(&w.path("calc"));
    w.spec(&spec("\"calc\"", extra));
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    (w, report["jobs"][0].clone(), base)
}

/// A job's report as (stop reason, iterations, accepted, defects, defects by gate).
pub fn summary(job: &Value) -> (String, i64, i64, i64, Value) {
    (
        job["stop_reason"].as_str().unwrap_or("").to_string(),
        job["iterations"].as_i64().unwrap_or(-1),
        job["accepted"].as_i64().unwrap_or(-1),
        job["defects"].as_i64().unwrap_or(-1),
        job["defects_by_gate"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_done_while_tests_fail_is_a_defect() {
    let (_w, job, _) = run_one(Script::new([finish(true)]), "[stop]\nmax_iterations = 1").await;
    assert_eq!(
        summary(&job),
        (
            "max_iterations".into(),
            1,
            0,
            1,
            json!({"python3 -m unittest": 1})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_failing_test_is_a_defect() {
    let delete = call(
        "edit_file",
        json!({"path": "test_calc.py", "old_text": "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n", "new_text": "    pass\n"}),
    );
    let (_w, job, _) = run_one(
        Script::new([delete, finish(true)]),
        "[stop]\nmax_iterations = 1",
    )
    .await;
    assert_eq!(
        summary(&job),
        ("max_iterations".into(), 1, 0, 1, json!({"tests-intact": 1}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touching_a_protected_path_is_a_defect_even_with_a_good_fix() {
    let fix = call(
        "edit_file",
        json!({"path": "calc.py", "old_text": "a - b", "new_text": "a + b"}),
    );
    let ci = call(
        "write_file",
        json!({"path": ".github/workflows/ci.yml", "content": "on: push\n"}),
    );
    let (_w, job, base) = run_one(
        Script::new([fix, ci, finish(true)]),
        "[stop]\nmax_iterations = 1",
    )
    .await;
    assert_eq!(
        summary(&job),
        (
            "max_iterations".into(),
            1,
            0,
            1,
            json!({"protected-paths": 1})
        )
    );
    assert_eq!(job["head"].as_str(), Some(base.as_str()), "nothing landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_without_progress_stops_as_stalled() {
    let (_w, job, _) = run_one(
        Script::cycling([finish(false)]),
        "[stop]\nmax_iterations = 10\nstall_iterations = 3",
    )
    .await;
    assert_eq!(
        summary(&job),
        (
            "stalled".into(),
            3,
            0,
            3,
            json!({"non-empty-change": 3, "python3 -m unittest": 3})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_rejected_change_twice_stops_as_stalled() {
    let wrong = call(
        "edit_file",
        json!({"path": "calc.py", "old_text": "a - b", "new_text": "a * b"}),
    );
    let (_w, job, _) = run_one(
        Script::cycling([wrong, finish(false)]),
        "[stop]\nmax_iterations = 10\nstall_iterations = 5",
    )
    .await;
    assert_eq!(summary(&job).0, "stalled");
    assert_eq!(
        job["stop_detail"],
        "the same rejected change twice in a row"
    );
    assert_eq!(job["iterations"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_stops_at_its_iteration_limit() {
    let work = call("run", json!({"command": "date +%s%N >> log.txt"}));
    let w = World::new(Script::cycling([work, finish(false)])).await;
    python_repo(&w.path("calc"));
    w.spec(
        &spec("\"calc\"", "[stop]\nmax_iterations = 2").replace("python3 -m unittest -q", "true"),
    );
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&report["jobs"][0]),
        ("max_iterations".into(), 2, 2, 0, json!({}))
    );
    assert_eq!(
        w.provider.served(),
        4,
        "exactly two iterations of two calls: never past the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_shift_budget_stops_every_job_within_it() {
    // Every call asks for a tool that fails, so no job ever finishes on its own.
    let w = World::new(Script::cycling([call(
        "read_file",
        json!({"path": "missing.txt"}),
    )]))
    .await;
    for r in ["a", "b", "c"] {
        python_repo(&w.path(r));
    }
    let body = spec(
        "\"a\", \"b\", \"c\"",
        "[stop]\nmax_iterations = 50\nstall_iterations = 50",
    )
    .replace("shift_usd = 1", "shift_usd = \"0.06\"")
    .replace("job_usd = \"0.50\"", "job_usd = \"0.05\"");
    w.spec(&body);
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let reasons: Vec<_> = report["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["stop_reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(reasons, ["budget", "budget", "budget"], "{report:#}");
    let spent = report["spent_nanos"].as_i64().expect("spent");
    assert!(spent <= 60_000_000, "spent {spent} of a $0.06 shift budget");
    assert!(
        spent > 40_000_000,
        "the budget was mostly used, not refused early: {spent}"
    );
    let (_, ledger, _) = w.run_json(&[
        "ledger",
        "--config",
        "nightshift.toml",
        "--shift",
        "rules",
        "--by",
        "job",
        "--json",
    ]);
    assert_eq!(ledger["total"]["settled_nanos"].as_i64(), Some(spent));
}

fn git_in(repo: &std::path::Path, args: &[&str]) {
    super::factory::git(repo, args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_never_builds_on_a_branch_it_did_not_make() {
    let w = World::new(Script::new([])).await;
    python_repo(&w.path("calc"));
    git_in(&w.path("calc"), &["branch", "nightshift/rules/calc"]);
    w.spec(&spec("\"calc\"", "[stop]\nmax_iterations = 1"));
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    // Every job of the shift failed: the run fails too (it once exited 0), after its report.
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.ends_with(
            "error: every job of shift `rules` failed (1 of 1); the report above says why\n"
        ),
        "{stderr}"
    );
    let job = &report["jobs"][0];
    assert_eq!(job["stop_reason"], "failed");
    let detail = job["stop_detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("branch `nightshift/rules/calc` already exists in "),
        "{detail}"
    );
    assert_eq!(w.provider.served(), 0);
}

/// The branch moves upstream while the job runs (here the worker itself stands in for a
/// colleague pushing, so it runs unsandboxed: inside the sandbox the source repository is
/// out of its reach): the fast-forward-only landing is refused and reported, not claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landing_refused_upstream_is_reported_not_claimed() {
    let w = World::new(Script::new([])).await;
    python_repo(&w.path("calc"));
    let src = w.path("calc").display().to_string();
    let worker = format!(
        "git -C {src} -c user.name=x -c user.email=x@x branch nightshift/rules/calc main && \\
         git -C {src} -c user.name=x -c user.email=x@x commit-tree -m other main^{{tree}} -p main > /dev/null && \\
         git -C {src} -c user.name=x -c user.email=x@x update-ref refs/heads/nightshift/rules/calc $(git -C {src} -c user.name=x -c user.email=x@x commit-tree -m theirs -p main main^{{tree}}) && \\
         sed -i 's/a - b/a + b/' calc.py && echo NIGHTSHIFT_DONE"
    );
    let body = spec(
        "\"calc\"",
        "[stop]\nmax_iterations = 1\n\n[sandbox]\nmode = \"off\"",
    )
    .replace(
        "worker = \"builtin\"",
        &format!("worker = \"command\"\ncommand = \"\"\"\n{worker}\n\"\"\""),
    );
    w.spec(&body);
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(
        (job["stop_reason"].as_str(), job["accepted"].as_i64()),
        (Some("done"), Some(1)),
        "{report:#}"
    );
    let landing = job["landing"].as_str().expect("landing");
    assert!(landing.starts_with("failed: "), "{landing}");
    let out = super::run(
        &["status", "rules", "--config", "nightshift.toml"],
        w.dir.path(),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAILED"),
        "the table says so"
    );
}

/// Regression: a rejected iteration's `.pyc` (ignored, so it survives the reset) was
/// trusted by Python for the next, same-size version of the file written within the same
/// second, and the gates tested stale code: a right fix was rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_bytecode_from_a_rejected_iteration_is_not_what_the_gates_test() {
    let wrong = call(
        "edit_file",
        json!({"path": "calc.py", "old_text": "a - b", "new_text": "a * b"}),
    );
    let right = call(
        "edit_file",
        json!({"path": "calc.py", "old_text": "a - b", "new_text": "a + b"}),
    );
    let w = World::new(Script::new([wrong, finish(true), right, finish(true)])).await;
    let repo = w.path("calc");
    python_repo(&repo);
    std::fs::write(repo.join(".gitignore"), "__pycache__/\n").expect("write");
    git_in(&repo, &["add", ".gitignore"]);
    git_in(&repo, &["commit", "-q", "-m", "ignore bytecode"]);
    w.spec(&spec("\"calc\"", "[stop]\nmax_iterations = 3"));
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary(&report["jobs"][0]),
        ("done".into(), 2, 1, 1, json!({"python3 -m unittest": 1}))
    );
}

/// `--gateway URL`: the factory uses a running gateway on the same store instead of
/// starting its own; the calls are metered there, to the same ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_can_use_a_running_gateway() {
    use std::io::{BufRead, BufReader};

    let fix = call(
        "edit_file",
        json!({"path": "calc.py", "old_text": "a - b", "new_text": "a + b"}),
    );
    let w = World::new(Script::new([fix, finish(true)])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec("\"calc\"", "[stop]\nmax_iterations = 2"));
    let mut gateway = super::bin()
        .args([
            "gateway",
            "--config",
            "nightshift.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(w.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let mut line = String::new();
    BufReader::new(gateway.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("nightshift gateway listening on ")
        .expect("ready line")
        .to_string();

    let (code, report, stderr) = w.run_json(&[
        "run",
        "shift.toml",
        "--config",
        "nightshift.toml",
        "--gateway",
        &url,
        "--json",
    ]);
    let _ = gateway.kill();
    let _ = gateway.wait();
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("done".into(), 1, 1, 0, json!({})));
    let expected = 2 * (3000 * 1000 + 40 * 4000);
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(2), Some(expected))
    );
}

/// The wall-clock rule: the running iteration is cut at the limit (its work so far is
/// committed and gated), and no new iteration starts after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stops_at_its_wall_clock_limit() {
    let w = World::new(Script::new([])).await;
    python_repo(&w.path("calc"));
    let body = spec(
        "\"calc\"",
        "[stop]\nmax_iterations = 5\nwall_clock_minutes = 0.02",
    )
    .replace(
        "worker = \"builtin\"",
        "worker = \"command\"\ncommand = \"echo started > progress.txt; sleep 20\"",
    );
    w.spec(&body);
    let started = std::time::Instant::now();
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the 20 s command was cut"
    );
    let job = &report["jobs"][0];
    assert_eq!(summary(job).0, "wall_clock", "{report:#}");
    assert_eq!(job["iterations"], 1);
}

/// The test file, with its one real assertion replaced by `replacement` (still one test and
/// one assertion: counting them saw nothing).
fn test_file_asserting(replacement: &str) -> String {
    format!(
        "import unittest\n\nfrom calc import add\n\n\nclass AddTest(unittest.TestCase):\n    def test_add(self):\n        {replacement}\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n"
    )
}

/// The gate results of the job's iteration `n` as (gate, passed, review).
async fn gates_of(w: &World, n: i64) -> Vec<(String, bool, Option<String>)> {
    use nightshift_store::FactoryStore as _;
    let store =
        nightshift_store::SqliteStore::open(&format!("sqlite://{}", w.path("ledger.db").display()))
            .await
            .expect("store");
    store
        .gate_results("rules", "calc", n)
        .await
        .expect("gates")
        .into_iter()
        .map(|g| (g.gate, g.passed, g.review))
        .collect()
}

/// Regression: an iteration that replaced the failing test's real assertion with one that
/// is always true passed `protect_tests` and was accepted — the policy counted tests and
/// assertions, and the counts did not drop. Done is verified, not declared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_weakened_into_a_tautology_does_not_land() {
    let weaken = call(
        "write_file",
        json!({"path": "test_calc.py", "content": test_file_asserting("self.assertTrue(True)")}),
    );
    let (w, job, _) = run_one(
        Script::new([weaken, finish(true)]),
        "[stop]\nmax_iterations = 1",
    )
    .await;
    assert_eq!(
        summary(&job),
        ("max_iterations".into(), 1, 0, 1, json!({"tests-intact": 1}))
    );
    assert_eq!(job["landing"], "nothing");
    let gates = gates_of(&w, 1).await;
    assert!(
        gates.contains(&("tests-intact".into(), false, None)),
        "{gates:?}"
    );
}

/// With `allow_test_changes`, the same change is not a defect but is never silently
/// accepted: the assertion change and the original test failing against the changed code
/// are both flagged for review, and the report says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_test_change_is_accepted_only_with_a_flag_for_review() {
    let weaken = call(
        "write_file",
        json!({"path": "test_calc.py", "content": test_file_asserting("self.assertTrue(True)")}),
    );
    let w = World::new(Script::new([weaken, finish(false)])).await;
    python_repo(&w.path("calc"));
    w.spec(&spec(
        "\"calc\"",
        "[gates.policy]\nallow_test_changes = true\n\n[stop]\nmax_iterations = 1",
    ));
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("max_iterations".into(), 1, 1, 0, json!({})));
    assert_eq!(job["needs_review"], 1);
    let flagged: Vec<(String, bool, bool)> = gates_of(&w, 1)
        .await
        .into_iter()
        .map(|(g, passed, review)| (g, passed, review.is_some()))
        .filter(|(_, _, flagged)| *flagged)
        .collect();
    assert_eq!(
        flagged,
        [
            ("tests-intact".to_string(), true, true),
            ("original-tests".to_string(), true, true)
        ]
    );
    let out = super::run(
        &["status", "rules", "--config", "nightshift.toml"],
        w.dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("calc: 1 accepted iteration passed a gate only with a flag for review"),
        "{text}"
    );
}

/// A real fix that also adds an assertion keeps every original assertion, and the
/// repository's original test passes against it: accepted, nothing to review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_that_adds_an_assertion_runs_the_original_test_and_lands() {
    let fix = call(
        "write_file",
        json!({"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}),
    );
    let extend = call(
        "write_file",
        json!({"path": "test_calc.py", "content": test_file_asserting("self.assertEqual(add(2, 3), 5)\n        self.assertEqual(add(-1, 1), 0)")}),
    );
    let (w, job, _) = run_one(
        Script::new([fix, extend, finish(true)]),
        "[stop]\nmax_iterations = 1",
    )
    .await;
    assert_eq!(summary(&job), ("done".into(), 1, 1, 0, json!({})));
    assert_eq!(job["needs_review"], 0);
    let gates = gates_of(&w, 1).await;
    assert!(
        gates.contains(&("original-tests".into(), true, None)),
        "the original test ran against the fix: {gates:?}"
    );
}

/// Red-team finding: running an edited spec under an existing shift's name silently ignored
/// the edits and exited 0. It is refused, naming what differs; the spec as it was resumes
/// (here: reports the finished shift) as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_spec_under_an_existing_shift_name_is_refused() {
    let w = World::new(Script::new([finish(false)])).await;
    python_repo(&w.path("calc"));
    let original = spec("\"calc\"", "[stop]\nmax_iterations = 1");
    w.spec(&original);
    let (code, _, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");

    w.spec(
        &original
            .replace("Make the failing test pass.", "Rewrite it in Rust.")
            .replace("max_iterations = 1", "max_iterations = 5"),
    );
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(report, Value::Null, "nothing was run or reported");
    let spec_path = w.path("shift.toml").display().to_string();
    assert_eq!(
        stderr,
        format!(
            "error: shift.toml: shift `rules` is already in this store (started from {spec_path}), and this spec differs from the one it was started with: jobs[0].prompt, jobs[0].max_iterations, stop.max_iterations. To resume it, put the spec back as it was; to run the changed spec, give it another `name`\n"
        )
    );
    assert_eq!(
        w.provider.served(),
        1,
        "no call was made for the edited spec"
    );

    w.spec(&original);
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["state"], "finished");
}

/// Review finding: the original-tests gate wrote a test file's base version with a plain
/// write, so a change that replaced the test file by a symbolic link had the base text
/// written to wherever the link pointed, outside the worktree. git now puts the file back
/// (replacing the link); and a link out of the repository is a defect of its own (the
/// `symlinks` gate), so such a change never reaches the original-tests gate at all. The
/// file outside is untouched either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_tests_never_write_through_a_link_the_change_made() {
    let w = World::new(Script::new([])).await;
    python_repo(&w.path("calc"));
    // Outside the worktree: a passing test module, so every gate before original-tests passes.
    let victim = w.path("victim.py");
    let precious = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n        self.assertTrue(True)\n";
    std::fs::write(&victim, precious).expect("victim");
    let worker = format!("rm test_calc.py && ln -s {} test_calc.py", victim.display());
    let body = spec(
        "\"calc\"",
        "[gates.policy]\nallow_test_changes = true\n\n[stop]\nmax_iterations = 1",
    )
    .replace(
        "worker = \"builtin\"",
        &format!("worker = \"command\"\ncommand = \"{worker}\""),
    );
    w.spec(&body);
    let (code, report, stderr) =
        w.run_json(&["run", "shift.toml", "--config", "nightshift.toml", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        precious,
        "nothing was written through the link"
    );
    let gates = gates_of(&w, 1).await;
    assert!(
        gates
            .iter()
            .any(|(g, passed, _)| g == "symlinks" && !*passed),
        "{gates:?} {report:#}"
    );
    assert!(
        !gates.iter().any(|(g, ..)| g == "original-tests"),
        "{gates:?}"
    );
    assert_eq!(report["jobs"][0]["defects_by_gate"], json!({"symlinks": 1}));
}
