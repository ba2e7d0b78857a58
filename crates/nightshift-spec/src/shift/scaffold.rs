//! The `shift.toml` that `nightshift init` writes: every default spelled out, from
//! [`crate::defaults`], so that a person sees what they can change.

use crate::defaults;

/// A `shift.toml` to start from, for `nightshift init`.
pub fn scaffold(name: &str, repos: &[String], model: &str) -> String {
    let repos = if repos.is_empty() {
        vec!["./repos/*".to_string()]
    } else {
        repos.to_vec()
    };
    let list = repos
        .iter()
        .map(|r| format!("{r:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# A nightshift shift: a recipe applied to a fleet of repositories under a budget.
# Schema: `nightshift schema shift`. Run it with: nightshift run shift.toml --config nightshift.toml
name = "{name}"

[fleet]
repos = [{list}]

[recipe]
prompt = """
Read the code, find the most valuable small improvement (a failing test, a bug, missing
tests), make it, and keep the build and tests green. Leave notes for the next iteration.
"""
worker = "builtin"
model = "{model}"
max_turns = {max_turns}

[gates]
commands = []          # e.g. ["cargo test --quiet"] or [{{ name = "tests", run = "pytest -q", timeout_secs = 900 }}]
timeout_secs = {gate_timeout}

[gates.policy]
allow_test_changes = {allow_test_changes}   # true: a changed test assertion is flagged for review, not a defect

[gates.secrets]
enabled = {secrets}         # a change adding a credential-shaped string is a defect
# rules = "gitleaks.toml"   # more rules, in gitleaks' format
# allow_paths = ["tests/fixtures/**"]

# Guardrails beyond the commands (docs/guardrails.md):
# [gates.api]              # public-API walls: frozen paths and declarations
# frozen = ["src/api/**", "pub fn parse"]
# rust_public_items = true
# python_modules = ["mypkg/__init__.py"]
#
# [gates.health]           # code-health deltas per iteration, gates with thresholds
# lint = ["clippy"]        # or ["ruff"]
# complexity = {complexity}
# duplication = {duplication}
# tests = {tests}
# max_new_lint_warnings = 0
# max_duplication_increase_lines = 0
# max_complexity_increase = 0
#
# [[gates.review]]         # a reviewer model reads every change that passed the commands
# model = "{model}"
# max_diff_tokens = {review_tokens}
# max_turns = {review_turns}

[stop]
max_iterations = {max_iterations}
stall_iterations = {stall_iterations}

[budget]
shift_usd = 10.00
job_usd = 2.00

[run]
concurrency = {concurrency}

[landing]
mode = "branch"        # or "pull_request" (a [[forge]] in nightshift.toml): docs/landing.md
branch = "{branch}"
# With a pull request (mode = "pull_request"):
# draft = false
# labels = ["nightshift"]
# ci_fix_iterations = {ci_fix}
# review_fix_iterations = {review_fix}
# conflict_fix_iterations = {conflict_fix}
# ci_timeout_minutes = {ci_timeout:?}
# ci_poll_secs = {ci_poll:?}
# checks_grace_secs = {grace:?}

[sandbox]
mode = "on"            # "off" runs workers and gates unconfined, and every report says so
network = "gateway"    # or "none"
processes = {processes}
memory_mb = {memory_mb}
file_mb = {file_mb}
tmp_mb = {tmp_mb}
disk_mb = {disk_mb}

# [line]               # the line stops itself (every rule off by default): docs/floor.md
# max_defect_percent = 60
# defect_window = {defect_window}
# max_failed_landings = 3
# max_usd_per_hour = "50.00"
# spend_window_minutes = {spend_window}
"#,
        max_turns = defaults::MAX_TURNS,
        gate_timeout = defaults::GATE_TIMEOUT_SECS,
        allow_test_changes = defaults::ALLOW_TEST_CHANGES,
        secrets = defaults::SECRETS_ENABLED,
        complexity = defaults::HEALTH_COMPLEXITY,
        duplication = defaults::HEALTH_DUPLICATION,
        tests = defaults::HEALTH_TESTS,
        review_tokens = defaults::REVIEW_MAX_DIFF_TOKENS,
        review_turns = defaults::REVIEW_MAX_TURNS,
        max_iterations = defaults::MAX_ITERATIONS,
        stall_iterations = defaults::STALL_ITERATIONS,
        concurrency = defaults::CONCURRENCY,
        branch = defaults::BRANCH,
        ci_fix = defaults::CI_FIX_ITERATIONS,
        review_fix = defaults::REVIEW_FIX_ITERATIONS,
        conflict_fix = defaults::CONFLICT_FIX_ITERATIONS,
        ci_timeout = defaults::CI_TIMEOUT_MINUTES,
        ci_poll = defaults::CI_POLL_SECS,
        grace = defaults::CHECKS_GRACE_SECS,
        defect_window = defaults::DEFECT_WINDOW,
        spend_window = defaults::SPEND_WINDOW_MINUTES,
        processes = defaults::SANDBOX_PROCESSES,
        memory_mb = defaults::SANDBOX_MEMORY_MB,
        file_mb = defaults::SANDBOX_FILE_MB,
        tmp_mb = defaults::SANDBOX_TMP_MB,
        disk_mb = defaults::SANDBOX_DISK_MB,
    )
}
