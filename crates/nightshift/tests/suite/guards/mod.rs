//! The guardrails beyond the tests, end to end through `nightshift run`: a secret, a frozen
//! public function, complexity, duplication and lint warnings each make a change that passes
//! the tests a defect, with its evidence; a clean refactor lands with its deltas.

use std::path::Path;

mod review;

use serde_json::{Value, json};

use nightshift_store::FactoryStore as _;
use nightshift_testkit::{Script, Step};

use super::factory::{World, git};
use super::factory_resume::{RUN, run_with_env, store};
use super::factory_rules::{call, summary};

/// A module with a failing test (`add` subtracts), a branchy function and a long one.
pub const CALC: &str = r#"def add(a, b):
    return a - b


def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"


def load(path, mode):
    total = 0
    with open(path) as fh:
        for line in fh:
            parts = line.strip().split(",")
            if len(parts) < 3:
                continue
            name, qty, price = parts[0], int(parts[1]), float(parts[2])
            if mode == "gross":
                total += qty * price * 1.2
            else:
                total += qty * price
    return total
"#;

/// `load`, copied under another name.
pub const COPY: &str = r#"

def load_again(path, mode):
    total = 0
    with open(path) as fh:
        for line in fh:
            parts = line.strip().split(",")
            if len(parts) < 3:
                continue
            name, qty, price = parts[0], int(parts[1]), float(parts[2])
            if mode == "gross":
                total += qty * price * 1.2
            else:
                total += qty * price
    return total
"#;

const TEST: &str = "import unittest\n\nfrom calc import add, classify\n\n\nclass CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_classify(self):\n        self.assertEqual(classify(0), \"zero\")\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";

pub fn calc_repo(dir: &Path, calc: &str) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("calc.py"), calc).expect("write");
    std::fs::write(dir.join("test_calc.py"), TEST).expect("write");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "calc"]);
    git(dir, &["rev-parse", "HEAD"])
}

pub fn edit(old: &str, new: &str) -> Step {
    call(
        "edit_file",
        json!({"path": "calc.py", "old_text": old, "new_text": new}),
    )
}

pub fn finish() -> Step {
    call("finish", json!({"summary": "fixed add", "done": true}))
}

pub fn spec(gates: &str) -> String {
    format!(
        r#"name = "guard"

[fleet]
repos = ["calc"]

[recipe]
prompt = "Make the failing test pass."
worker = "builtin"
model = "agent-model"
max_turns = 6

[gates]
commands = ["python3 -m unittest -q"]

{gates}

[stop]
max_iterations = 1

[budget]
shift_usd = 1
job_usd = "0.50"
"#
    )
}

/// Run one iteration of `steps` under `gates`; the job's report.
async fn run(steps: Vec<Step>, gates: &str, calc: &str) -> (World, Value) {
    let w = World::new(Script::new(steps)).await;
    calc_repo(&w.path("calc"), calc);
    w.spec(&spec(gates));
    let (code, report, stderr) = run_with_env(&w, &RUN, &[]);
    assert_eq!(code, 0, "{stderr}");
    (w, report["jobs"][0].clone())
}

/// The `calc` job's one iteration's result of `gate`.
pub async fn gate(w: &World, name: &str) -> nightshift_store::GateRow {
    gate_of(w, "calc", name).await
}

/// Job `job`'s first iteration's result of `gate`.
pub async fn gate_of(w: &World, job: &str, name: &str) -> nightshift_store::GateRow {
    let s = store(w).await;
    s.gate_results("guard", job, 1)
        .await
        .expect("gates")
        .into_iter()
        .find(|g| g.gate == name)
        .inspect(|g| eprintln!("{name}: {}\n{}", g.detail, g.excerpt))
        .unwrap_or_else(|| panic!("gate {name} ran"))
}

const KEY: &str = "AKIAZ3MRNDA6EXPLQ7VB";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fake_aws_key_is_a_defect_and_is_never_kept_whole() {
    let (w, job) = run(
        vec![
            edit("a - b", "a + b"),
            edit(
                "def classify(n):",
                &format!("AWS_ACCESS_KEY_ID = \"{KEY}\"\n\n\ndef classify(n):"),
            ),
            finish(),
        ],
        "",
        CALC,
    )
    .await;
    assert_eq!(
        summary(&job),
        ("max_iterations".into(), 1, 0, 1, json!({"secrets": 1})),
        "{job:#}"
    );
    let g = gate(&w, "secrets").await;
    assert_eq!(
        g.detail,
        "the change adds 1 credential-shaped string (aws-access-token at calc.py:5): take it out and read the secret from the environment or a secret store at run time"
    );
    assert_eq!(
        g.excerpt,
        "calc.py:5: aws-access-token (an AWS access key id): AKIA…[20 characters redacted]"
    );
    // The worker's events in the log (its edit's arguments) hold the key masked.
    let s = store(&w).await;
    let events = s.events("guard", 0).await.expect("events");
    let log = serde_json::to_string(&events.iter().map(|e| e.event.data()).collect::<Vec<_>>())
        .expect("json");
    assert!(log.contains("AKIA…[20 characters redacted]"), "{log}");
    assert!(!log.contains(KEY));
    // Nothing landed: the source repository has no branch of the shift.
    assert_eq!(
        git(&w.path("calc"), &["branch", "--list", "nightshift/*"]),
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_frozen_public_function_is_a_defect_naming_it() {
    let (w, job) = run(
        vec![
            edit("a - b", "a + b"),
            edit("def classify(n):", "def sign_of(n):"),
            call(
                "edit_file",
                json!({"path": "test_calc.py", "old_text": "from calc import add, classify", "new_text": "from calc import add, sign_of as classify"}),
            ),
            finish(),
        ],
        "[gates.api]\npython_modules = [\"calc.py\"]",
        CALC,
    )
    .await;
    assert_eq!(summary(&job).4, json!({"api": 1}), "{job:#}");
    assert_eq!(
        gate(&w, "api").await.excerpt,
        "calc.py: removed `def classify(n)`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_complexity_is_a_defect_with_its_figures() {
    let (w, job) = run(
        vec![
            edit(
                "    return a - b",
                "    if a is None:\n        return b\n    if b is None:\n        return a\n    return a + b",
            ),
            finish(),
        ],
        "[gates.health]\nmax_complexity_increase = 0",
        CALC,
    )
    .await;
    assert_eq!(summary(&job).4, json!({"health": 1}), "{job:#}");
    assert_eq!(
        gate(&w, "health").await.detail,
        "±0 duplicated lines, complexity of changed functions 1 → 3, ±0 tests: the changed functions' complexity rose by 2, more than `max_complexity_increase = 0` allows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copying_a_function_raises_duplication_and_is_a_defect() {
    let (w, job) = run(
        vec![
            edit("a - b", "a + b"),
            edit("    return total\n", &format!("    return total\n{COPY}")),
            finish(),
        ],
        "[gates.health]\nmax_duplication_increase_lines = 0",
        CALC,
    )
    .await;
    assert_eq!(summary(&job).4, json!({"health": 1}), "{job:#}");
    let g = gate(&w, "health").await;
    assert_eq!(
        g.detail,
        "+13 duplicated lines, complexity of changed functions 0 → 4, ±0 tests: duplicated lines rose by 13, more than `max_duplication_increase_lines = 0` allows"
    );
    let figures: Value =
        serde_json::from_str(g.figures.as_deref().expect("figures")).expect("json");
    assert_eq!(figures["duplicated_lines"], json!([0, 13]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ruff_warning_under_a_zero_threshold_is_a_defect() {
    let (w, job) = run(
        vec![
            edit(
                "def add(a, b):\n    return a - b",
                "import os\n\n\ndef add(a, b):\n    return a + b",
            ),
            finish(),
        ],
        "[gates.health]\nlint = [\"ruff\"]\nmax_new_lint_warnings = 0",
        CALC,
    )
    .await;
    assert_eq!(summary(&job).4, json!({"health": 1}), "{job:#}");
    assert_eq!(
        gate(&w, "health").await.detail,
        "+1 lint warnings, ±0 duplicated lines, no function's complexity changed, ±0 tests: lint warnings rose by 1, more than `max_new_lint_warnings = 0` allows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_refactor_lands_with_its_deltas_in_the_report() {
    // The copy also held ruff's one warning (F841, `name` assigned and never used).
    let with_copy = CALC.replace("    return total\n", &format!("    return total\n{COPY}"));
    let (w, job) = run(
        vec![
            edit("a - b", "a + b"),
            edit(COPY, "\n"),
            finish(),
        ],
        "[gates.health]\nlint = [\"ruff\"]\nmax_new_lint_warnings = 0\nmax_duplication_increase_lines = 0\nmax_complexity_increase = 0",
        &with_copy,
    )
    .await;
    assert_eq!(
        summary(&job),
        ("done".into(), 1, 1, 0, json!({})),
        "{job:#}"
    );
    assert_eq!(
        job["health"].as_str(),
        Some(
            "−1 lint warnings, −13 duplicated lines, complexity of changed functions 4 → 0, ±0 tests"
        )
    );
    assert_eq!(job["health_by_change"][0]["n"], json!(1));
    assert_eq!(
        gate(&w, "health").await.detail,
        "−1 lint warnings, −13 duplicated lines, complexity of changed functions 4 → 0, ±0 tests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_adding_clippy_warnings_is_a_defect_under_a_zero_threshold() {
    let w = World::new(Script::new([
        call(
            "edit_file",
            json!({"path": "src/lib.rs", "old_text": "    a - b\n}", "new_text": "    a + b\n}\n\npub fn len_of(v: &Vec<i32>) -> usize {\n    v.len()\n}"}),
        ),
        finish(),
    ]))
    .await;
    super::factory_rust::rust_repo(&w.path("adder"));
    w.spec(
        &spec("[gates.health]\nlint = [\"clippy\"]\nmax_new_lint_warnings = 0")
            .replace("repos = [\"calc\"]", "repos = [\"adder\"]")
            .replace("python3 -m unittest -q", "cargo test --quiet"),
    );
    let target = w.path("target");
    let (code, report, stderr) = run_with_env(&w, &RUN, &[("CARGO_TARGET_DIR", &target)]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job).4, json!({"health": 1}), "{job:#}");
    let health = gate_of(&w, "adder", "health").await;
    assert_eq!(
        health.detail,
        "+1 lint warnings, ±0 duplicated lines, complexity of changed functions 0 → 1, ±0 tests: lint warnings rose by 1, more than `max_new_lint_warnings = 0` allows",
        "{}",
        health.excerpt
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coverage_drop_past_its_threshold_is_a_defect() {
    // A stand-in coverage command whose figure falls as calc.py grows: 100 − its lines, in %.
    let coverage =
        "python3 -c \\\"print(str(100 - len(open('calc.py').read().splitlines())) + '%')\\\"";
    let (w, job) = run(
        vec![
            edit(
                "    return a - b",
                "    total = a\n    total += b\n    return total",
            ),
            finish(),
        ],
        &format!("[gates.health]\ncoverage = \"{coverage}\"\nmax_coverage_decrease = 1.5"),
        CALC,
    )
    .await;
    assert_eq!(summary(&job).4, json!({"health": 1}), "{job:#}");
    assert_eq!(
        gate(&w, "health").await.detail,
        "±0 duplicated lines, complexity of changed functions 1 → 1, ±0 tests, coverage 75.00% → 73.00%: coverage fell by 2.00 points, more than `max_coverage_decrease = 1.50` allows"
    );
}
