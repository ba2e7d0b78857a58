mod accepted;
mod api;
mod command;
mod hooks;
mod policy;
mod secrets;
mod symlinks;
mod tests_intact;
mod weakened;

use nightshift_gates::{Change, FileChange, GateResult, Policy, check};

/// A change of `files` with +10/-2 lines and no hooksPath.
pub fn change(files: Vec<FileChange>) -> Change {
    Change {
        files,
        insertions: 10,
        deletions: 2,
        hooks_path: None,
    }
}

/// Run the default policy and pick one gate's result.
pub fn gate(change: &Change, name: &str) -> GateResult {
    gate_with(&Policy::default(), change, name)
}

pub fn gate_with(policy: &Policy, change: &Change, name: &str) -> GateResult {
    let results = check(policy, change).expect("the policy is valid");
    results
        .into_iter()
        .find(|r| r.gate == name)
        .expect("every policy gate reports")
}

/// One gate's whole result, its duration zeroed so that it can be compared whole.
pub fn timeless(policy: &Policy, change: &Change, name: &str) -> GateResult {
    GateResult {
        duration_ms: 0,
        ..gate_with(policy, change, name)
    }
}

/// A `tests-intact` result as [`timeless`] answers it, not flagged for review.
pub fn tests_intact(passed: bool, detail: &str, excerpt: &str) -> GateResult {
    policy_result("tests-intact", passed, detail, excerpt)
}

/// A policy gate's result as [`timeless`] answers it, not flagged for review.
pub fn policy_result(gate: &str, passed: bool, detail: &str, excerpt: &str) -> GateResult {
    GateResult {
        gate: gate.into(),
        passed,
        duration_ms: 0,
        exit_code: None,
        timed_out: false,
        detail: detail.into(),
        excerpt: excerpt.into(),
        review: None,
    }
}

/// Assert a gate failed with exactly `detail`.
#[track_caller]
pub fn assert_fails(result: &GateResult, detail: &str) {
    assert!(!result.passed, "{} should fail: {result:#?}", result.gate);
    assert_eq!(result.detail, detail, "excerpt:\n{}", result.excerpt);
}

/// Assert a gate passed with exactly `detail`.
#[track_caller]
pub fn assert_passes(result: &GateResult, detail: &str) {
    assert!(result.passed, "{} should pass: {result:#?}", result.gate);
    assert_eq!(result.detail, detail);
}
