//! The factory on a Rust crate with its own test suite: `cargo test` as the gate.
//!
//! The gate runs sandboxed: where the factory has a `CARGO_TARGET_DIR`, each job builds into
//! a target folder of its own in its scratch space (kept between its iterations, never
//! shared with another job), not into the worktree nor into the factory's folder.

use std::path::Path;

use serde_json::{Value, json};

use nightshift_store::FactoryStore as _;
use nightshift_testkit::{Script, Step};

use super::factory::{World, git};
use super::factory_resume::{RUN, mirror, run_with_env, store};
use super::factory_rules::{call, summary};

const LIB: &str = "pub fn add(a: i32, b: i32) -> i32 {
    a - b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(2, 3), 5);
    }
}
";

/// A library crate with no dependencies whose one test fails: `add` subtracts.
pub fn rust_repo(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"adder\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    )
    .expect("write");
    std::fs::write(dir.join("src/lib.rs"), LIB).expect("write");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "adder"]);
    git(dir, &["rev-parse", "HEAD"])
}

fn edit(old: &str, new: &str) -> Step {
    call(
        "edit_file",
        json!({"path": "src/lib.rs", "old_text": old, "new_text": new}),
    )
}

fn finish(done: bool) -> Step {
    call("finish", json!({"summary": "changed add", "done": done}))
}

/// Each call costs this much at the World's prices ($1 in, $4 out per Mtok).
const CALL: i64 = 3000 * 1000 + 40 * 4000;

fn spec(max_iterations: u32) -> String {
    format!(
        r#"name = "fix-adder"

[fleet]
repos = ["adder"]

[recipe]
prompt = "Make the failing test pass."
worker = "builtin"
model = "agent-model"
max_turns = 4

[gates]
commands = [{{ name = "cargo test", run = "cargo test --quiet", timeout_secs = 300 }}]

[stop]
max_iterations = {max_iterations}

[budget]
shift_usd = 1
job_usd = "0.50"
"#
    )
}

/// Run the shift (build output in the World's own `target/`); returns the job's report.
fn run_shift(w: &World) -> Value {
    let target = w.path("target");
    let (code, report, stderr) = run_with_env(w, &RUN, &[("CARGO_TARGET_DIR", &target)]);
    assert_eq!(code, 0, "{stderr}");
    report["jobs"][0].clone()
}

const BRANCH: &str = "nightshift/fix-adder/adder";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_crate_is_fixed_in_one_iteration() {
    let w = World::new(Script::new([edit("a - b", "a + b"), finish(true)])).await;
    let base = rust_repo(&w.path("adder"));
    w.spec(&spec(3));
    let job = run_shift(&w);
    assert_eq!(
        summary(&job),
        ("done".into(), 1, 1, 0, json!({})),
        "{job:#}"
    );
    assert_eq!(
        (job["calls"].as_i64(), job["spent_nanos"].as_i64()),
        (Some(2), Some(2 * CALL))
    );

    let s = store(&w).await;
    let gates = s
        .gate_results("fix-adder", "adder", 1)
        .await
        .expect("gates");
    let cargo = gates
        .iter()
        .find(|g| g.gate == "cargo test")
        .expect("the cargo test gate ran");
    assert!(cargo.passed && cargo.exit_code == Some(0), "{cargo:#?}");

    let m = mirror(&w);
    let first = git(&m, &["rev-parse", "refs/nightshift/fix-adder/adder/1"]);
    assert_eq!(
        git(&m, &["rev-list", &format!("{base}..{BRANCH}")]),
        first,
        "the branch holds exactly the accepted commit"
    );
    assert_eq!(job["head"].as_str(), Some(first.as_str()));
    assert_eq!(
        git(&m, &["show", &format!("{BRANCH}:src/lib.rs")]),
        LIB.replace("a - b", "a + b").trim_end()
    );
    assert_eq!(
        git(&m, &["ls-tree", "-r", "--name-only", BRANCH]),
        "Cargo.toml\nsrc/lib.rs",
        "nothing but the agent's change is committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_done_while_cargo_test_fails_is_a_defect() {
    let w = World::new(Script::new([finish(true)])).await;
    let base = rust_repo(&w.path("adder"));
    w.spec(&spec(1));
    let job = run_shift(&w);
    assert_eq!(
        summary(&job),
        ("max_iterations".into(), 1, 0, 1, json!({"cargo test": 1})),
        "{job:#}"
    );
    assert_eq!(job["head"].as_str(), Some(base.as_str()), "nothing landed");
    let s = store(&w).await;
    let gates = s
        .gate_results("fix-adder", "adder", 1)
        .await
        .expect("gates");
    let cargo = gates
        .iter()
        .find(|g| g.gate == "cargo test")
        .expect("the cargo test gate ran");
    assert_eq!(cargo.exit_code, Some(101), "{cargo:#?}");
    assert!(
        cargo.excerpt.contains("tests::adds"),
        "the evidence names the failing test: {}",
        cargo.excerpt
    );
    assert!(
        !w.path("adder/target").exists() && !w.path("adder/Cargo.lock").exists(),
        "the source repository is untouched"
    );
    assert!(
        !w.path("target").join("debug").exists(),
        "nothing was built into the factory's own CARGO_TARGET_DIR"
    );
    assert!(
        w.path(".nightshift/scratch/fix-adder/adder/cargo-target-gates/debug")
            .is_dir(),
        "the gates built into the job's own target folder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_failing_rust_test_is_a_defect() {
    let delete = edit(
        "    #[test]\n    fn adds() {\n        assert_eq!(add(2, 3), 5);\n    }\n",
        "",
    );
    let w = World::new(Script::new([delete, finish(true)])).await;
    let base = rust_repo(&w.path("adder"));
    w.spec(&spec(1));
    let job = run_shift(&w);
    // `cargo test` passes once the test is gone; the policy sees it go.
    assert_eq!(
        summary(&job),
        ("max_iterations".into(), 1, 0, 1, json!({"tests-intact": 1})),
        "{job:#}"
    );
    assert_eq!(job["head"].as_str(), Some(base.as_str()), "nothing landed");
    let m = mirror(&w);
    assert_eq!(git(&m, &["rev-parse", BRANCH]), base);
    assert!(
        !git(
            &m,
            &["show", "refs/nightshift/fix-adder/adder/1:src/lib.rs"]
        )
        .contains("fn adds"),
        "the rejected iteration is kept under its ref"
    );
}

/// What the gates leave in the worktree (here the `Cargo.lock` that `cargo test` writes
/// for a crate that has none) is not the agent's work: an iteration that changes nothing
/// after an accepted one is an empty change, and nothing the gates wrote is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_output_is_not_the_next_iterations_change() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(false),
        finish(false),
    ]))
    .await;
    let base = rust_repo(&w.path("adder"));
    w.spec(&spec(2));
    let job = run_shift(&w);
    let m = mirror(&w);
    assert_eq!(
        git(
            &m,
            &[
                "ls-tree",
                "-r",
                "--name-only",
                "refs/nightshift/fix-adder/adder/2"
            ]
        ),
        "Cargo.toml\nsrc/lib.rs",
        "iteration 2 committed nothing the agent did not write"
    );
    assert_eq!(
        summary(&job),
        (
            "max_iterations".into(),
            2,
            1,
            1,
            json!({"non-empty-change": 1})
        ),
        "{job:#}"
    );
    let first = git(&m, &["rev-parse", "refs/nightshift/fix-adder/adder/1"]);
    assert_eq!(git(&m, &["rev-list", &format!("{base}..{BRANCH}")]), first);
}
