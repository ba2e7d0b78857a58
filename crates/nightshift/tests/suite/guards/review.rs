//! The reviewer gate with the scripted provider as the reviewer: a rejection whose findings
//! reach the next iteration's prompt, the fixed change approved and landed, review dollars
//! exact; a verdict that does not read, twice, is a gate error.

use serde_json::json;

use nightshift_store::FactoryStore as _;
use nightshift_testkit::{Script, Step};

use super::super::factory::{World, git};
use super::super::factory_resume::{RUN, run_with_env, store};
use super::super::factory_rules::{call, summary};
use super::{CALC, calc_repo, edit, finish, gate, spec};

/// Each call costs this much at the World's prices ($1 in, $4 out per Mtok).
const CALL: i64 = 3000 * 1000 + 40 * 4000;

fn verdict(v: serde_json::Value) -> Step {
    call("submit_review", v)
}

const REVIEWER: &str = "[[gates.review]]\nmodel = \"agent-model\"\nmax_turns = 2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_reaches_the_next_iteration_and_the_fixed_change_lands() {
    let w = World::new(Script::new([
        // Iteration 1: the fix, with a stray debug print the tests do not mind.
        edit("    return a - b", "    print(\"debug\", a, b)\n    return a + b"),
        finish(),
        verdict(json!({
            "verdict": "reject",
            "findings": [{"file": "calc.py", "line": 2, "severity": "medium", "category": "maintainability", "message": "remove the debug print"}],
            "summary": "the fix is right but leaves a debug print"
        })),
        // Iteration 2: the fix alone.
        edit("a - b", "a + b"),
        finish(),
        verdict(json!({"verdict": "approve", "findings": [], "summary": "adds correctly"})),
    ]))
    .await;
    calc_repo(&w.path("calc"), CALC);
    w.spec(&spec(REVIEWER).replace("max_iterations = 1", "max_iterations = 3"));
    let (code, report, stderr) = run_with_env(&w, &RUN, &[]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(
        summary(job),
        ("done".into(), 2, 1, 1, json!({"review": 1})),
        "{job:#}"
    );
    // Six calls, two of them the reviewer's: exact to the nanodollar.
    assert_eq!(
        (
            job["calls"].as_i64(),
            job["spent_nanos"].as_i64(),
            job["review_nanos"].as_i64(),
            job["review_nanos_per_accepted"].as_i64()
        ),
        (Some(6), Some(6 * CALL), Some(2 * CALL), Some(2 * CALL))
    );
    let s = store(&w).await;
    let first = s.gate_results("guard", "calc", 1).await.expect("gates");
    let review = first
        .iter()
        .find(|g| g.gate == "review")
        .expect("review ran");
    assert_eq!(
        (
            review.passed,
            review.detail.as_str(),
            review.excerpt.as_str()
        ),
        (
            false,
            "`agent-model` rejected the change with 1 finding: the fix is right but leaves a debug print",
            "calc.py:2: medium/maintainability: remove the debug print"
        )
    );
    let figures: serde_json::Value =
        serde_json::from_str(review.figures.as_deref().expect("figures")).expect("json");
    assert_eq!(figures["spent_nanos"], json!(CALL));
    // The reviewer's request came with the diff; iteration 2's first request with the
    // findings.
    let requests = w.provider.requests();
    let text = |i: usize| requests[i].body["messages"].to_string();
    assert!(
        text(2).contains("print(\\\"debug\\\", a, b)"),
        "{}",
        text(2)
    );
    // It was offered the read-only tools and the verdict, and had to call one.
    let offered: Vec<&str> = requests[2].body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(
        offered,
        ["list_files", "read_file", "search", "submit_review"]
    );
    assert_eq!(requests[2].body["tool_choice"], json!("required"));
    assert!(
        text(3).contains("A reviewer rejected the last change"),
        "{}",
        text(3)
    );
    assert!(text(3).contains("remove the debug print"), "{}", text(3));
    // The approved change landed.
    let branch = git(&w.path("calc"), &["show", "nightshift/guard/calc:calc.py"]);
    assert!(
        branch.contains("return a + b") && !branch.contains("debug"),
        "{branch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_that_does_not_read_is_retried_once_then_a_gate_error() {
    let bad = || verdict(json!({"verdict": "maybe", "findings": [], "summary": "?"}));
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(),
        bad(),
        bad(),
    ]))
    .await;
    calc_repo(&w.path("calc"), CALC);
    w.spec(&spec(REVIEWER));
    let (code, report, stderr) = run_with_env(&w, &RUN, &[]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job).4, json!({"review": 1}), "{job:#}");
    assert_eq!(job["review_nanos"].as_i64(), Some(2 * CALL));
    let review = gate(&w, "review").await;
    assert!(!review.passed);
    assert_eq!(
        review.detail,
        "`agent-model` gave no verdict that reads, twice (the verdict does not follow its schema: unknown variant `maybe`, expected `approve` or `reject` at line 1 column 18): a gate error, not a pass"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_model_reviews_end_to_end() {
    let w = World::new(Script::new([edit("a - b", "a + b"), finish()])).await;
    let config = std::fs::read_to_string(w.path("nightshift.toml")).expect("config");
    std::fs::write(
        w.path("nightshift.toml"),
        format!(
            "{config}\n[[provider]]\nname = \"on-device\"\nkind = \"local\"\nmodel_path = {:?}\n\n[[model]]\nname = \"gemma3-270m\"\nprovider = \"on-device\"\n",
            nightshift_testkit::local_model_path().display().to_string()
        ),
    )
    .expect("config");
    calc_repo(&w.path("calc"), CALC);
    w.spec(&spec(
        "[[gates.review]]\nmodel = \"gemma3-270m\"\nmax_turns = 1",
    ));
    let (code, report, stderr) = run_with_env(&w, &RUN, &[]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    let review = gate(&w, "review").await;
    let figures: serde_json::Value =
        serde_json::from_str(review.figures.as_deref().expect("figures")).expect("json");
    // Its verdict is held to the schema by the model's grammar: it reads.
    assert!(
        matches!(figures["verdict"].as_str(), Some("approve" | "reject")),
        "{figures}"
    );
    // The review's call is the job's, metered at $0 with its tokens counted.
    assert_eq!(job["calls"].as_i64(), Some(3), "{job:#}");
    assert_eq!(job["review_nanos"].as_i64(), None, "a local model is free");
    assert_eq!(
        (review.passed, job["accepted"].as_i64()),
        (
            figures["verdict"] == "approve",
            Some(i64::from(figures["verdict"] == "approve"))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_can_read_but_never_write_or_run() {
    let w = World::new(Script::new([
        edit("a - b", "a + b"),
        finish(),
        // The reviewer reads, then tries to write and to run, then approves.
        call("read_file", json!({"path": "calc.py"})),
        call(
            "write_file",
            json!({"path": "planted.py", "content": "import os\n"}),
        ),
        call("run", json!({"command": "touch ran-by-reviewer"})),
        verdict(json!({"verdict": "approve", "findings": [], "summary": "fine"})),
    ]))
    .await;
    calc_repo(&w.path("calc"), CALC);
    w.spec(&spec(
        "[[gates.review]]\nmodel = \"agent-model\"\nmax_turns = 6",
    ));
    let (code, report, stderr) = run_with_env(&w, &RUN, &[]);
    assert_eq!(code, 0, "{stderr}");
    let job = &report["jobs"][0];
    assert_eq!(summary(job), ("done".into(), 1, 1, 0, json!({})), "{job:#}");
    // The read was answered with the file; the write and the run were refused, not done.
    let requests = w.provider.requests();
    let answers: Vec<String> = requests[3..6]
        .iter()
        .map(|r| {
            r.body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .map(|m| m["content"].to_string())
                .unwrap_or_default()
        })
        .collect();
    assert!(answers[0].contains("return a + b"), "{answers:?}");
    assert!(
        answers[1].contains("`write_file` is not a reviewer's tool"),
        "{answers:?}"
    );
    assert!(
        answers[2].contains("`run` is not a reviewer's tool"),
        "{answers:?}"
    );
    let landed = git(
        &w.path("calc"),
        &["ls-tree", "-r", "--name-only", "nightshift/guard/calc"],
    );
    assert_eq!(landed, "calc.py\ntest_calc.py");
}
