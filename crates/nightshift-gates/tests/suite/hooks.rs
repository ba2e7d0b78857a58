//! The `hooks` gate.

use nightshift_gates::{FileChange, Policy};

use super::{assert_fails, assert_passes, change, gate, gate_with};

const PRE_COMMIT: &str = "repos:\n  - repo: local\n    hooks:\n      - id: fmt\n      - id: clippy\n      # - id: commented\n      - id: tests\n";

#[test]
fn no_hook_changes_pass() {
    let c = change(vec![FileChange::modified("src/lib.rs", "a", "b")]);
    assert_passes(
        &gate(&c, "hooks"),
        "core.hooksPath is not set and no hooks were changed",
    );
}

#[test]
fn setting_core_hooks_path_fails() {
    let mut c = change(vec![FileChange::modified("src/lib.rs", "a", "b")]);
    c.hooks_path = Some("/dev/null".into());
    let r = gate(&c, "hooks");
    assert_fails(
        &r,
        "the agent set core.hooksPath to `/dev/null` to bypass hooks",
    );
    assert_eq!(r.excerpt, "core.hooksPath = /dev/null\n");
}

#[test]
fn changing_hook_scripts_fails() {
    let c = change(vec![
        FileChange::modified(".husky/pre-commit", "npm test\n", "exit 0\n"),
        FileChange::added(".git/hooks/pre-push", "exit 0\n"),
        FileChange::renamed("tools/.husky/commit-msg", "tools/commit-msg.bak", "x", "x"),
    ]);
    assert_fails(
        &gate(&c, "hooks"),
        "modified hook file `.husky/pre-commit`; added hook file `.git/hooks/pre-push`; \
         renamed hook file `tools/.husky/commit-msg` to `tools/commit-msg.bak`",
    );
}

#[test]
fn removing_pre_commit_hooks_fails() {
    let thinner = PRE_COMMIT.replace("      - id: clippy\n", "");
    let c = change(vec![FileChange::modified(
        ".pre-commit-config.yaml",
        PRE_COMMIT,
        thinner,
    )]);
    let r = gate(&c, "hooks");
    assert_fails(
        &r,
        "`.pre-commit-config.yaml` lost hooks: its `- id:` entries went from 3 to 2",
    );
    assert_eq!(r.excerpt, "removed hook `clippy`\n");
}

#[test]
fn commenting_out_a_pre_commit_hook_fails() {
    let thinner = PRE_COMMIT.replace("      - id: tests\n", "      # - id: tests\n");
    let c = change(vec![FileChange::modified(
        ".pre-commit-config.yaml",
        PRE_COMMIT,
        thinner,
    )]);
    assert_fails(
        &gate(&c, "hooks"),
        "`.pre-commit-config.yaml` lost hooks: its `- id:` entries went from 3 to 2",
    );
}

#[test]
fn deleting_or_renaming_the_pre_commit_config_fails() {
    let c = change(vec![FileChange::deleted(
        ".pre-commit-config.yaml",
        PRE_COMMIT,
    )]);
    assert_fails(
        &gate(&c, "hooks"),
        "deleted `.pre-commit-config.yaml`, which declared 3 hooks",
    );
    let c = change(vec![FileChange::renamed(
        ".pre-commit-config.yaml",
        "old-pre-commit.yaml",
        PRE_COMMIT,
        PRE_COMMIT,
    )]);
    assert_fails(
        &gate(&c, "hooks"),
        "renamed `.pre-commit-config.yaml` to `old-pre-commit.yaml`, so pre-commit no longer reads it",
    );
}

#[test]
fn adding_pre_commit_hooks_passes() {
    let more = format!("{PRE_COMMIT}      - id: typos\n");
    let c = change(vec![FileChange::modified(
        ".pre-commit-config.yaml",
        PRE_COMMIT,
        more,
    )]);
    assert_passes(
        &gate(&c, "hooks"),
        "core.hooksPath is not set and no hooks were changed",
    );
}

#[test]
fn the_policy_can_turn_hook_checks_off() {
    let mut c = change(vec![FileChange::modified(".husky/pre-commit", "a", "b")]);
    c.hooks_path = Some(".githooks".into());
    let p = Policy {
        forbid_hook_bypass: false,
        ..Policy::default()
    };
    assert_passes(
        &gate_with(&p, &c, "hooks"),
        "hook bypass checks are off in the policy",
    );
}
