//! Policy gates: checks on the change itself, no command run.
//!
//! [`check`] answers one [`GateResult`] per gate, always all six and in this order
//! ([`GATE_NAMES`]); a gate the policy turns off passes and says so.
//!
//! | gate | fails when |
//! |---|---|
//! | `non-empty-change` | no file changed (with `require_change`) |
//! | `tests-intact` | a test was deleted or weakened: a test file deleted or moved out of the test globs, an assertion removed or altered, fewer tests, more skip markers (with `protect_tests`; see [`crate::tests_guard`]). With `allow_test_changes`, removed or altered assertions and removed tests pass with `review` set instead |
//! | `protected-paths` | a changed path, or a rename's old path, matches `protected_paths` |
//! | `diff-size` | insertions + deletions exceed `max_changed_lines` |
//! | `hooks` | `core.hooksPath` is set, a file under `.git/hooks/` or `.husky/` changed, or `.pre-commit-config.yaml` was deleted or lost `- id:` entries (with `forbid_hook_bypass`) |
//! | `symlinks` | a symbolic link added or modified points to an absolute path or, resolved from its folder, outside the repository (always on; see [`crate::symlinks`]) |
//!
//! Globs are matched against `/`-separated paths relative to the repository root; `*` stays
//! within one path segment and `**` crosses segments (`**/x` also matches `x` at the root).

use std::sync::LazyLock;
use std::time::Instant;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::change::{Change, ChangeStatus, FileChange};
use crate::result::GateResult;
use crate::tests_guard;

/// The policy gates, in the order [`check`] reports them.
pub const GATE_NAMES: [&str; 6] = [
    "non-empty-change",
    "tests-intact",
    "protected-paths",
    "diff-size",
    "hooks",
    crate::symlinks::GATE,
];

/// Where tests live by convention, per language.
pub const DEFAULT_TEST_GLOBS: &[&str] = &[
    // Rust: integration tests, and test modules in their own files.
    "**/tests/**/*.rs",
    "**/tests.rs",
    "**/*_test.rs",
    "**/*_tests.rs",
    // Python (pytest and unittest discovery).
    "**/test_*.py",
    "**/*_test.py",
    "**/conftest.py",
    // Python and JS/TS test folders.
    "**/{test,tests}/**/*.{py,js,jsx,mjs,cjs,ts,tsx,mts,cts}",
    // JS/TS (Jest, Vitest, Mocha).
    "**/*.{test,spec}.{js,jsx,mjs,cjs,ts,tsx,mts,cts}",
    "**/__tests__/**/*.{js,jsx,mjs,cjs,ts,tsx,mts,cts}",
    // Go.
    "**/*_test.go",
    // Java and Kotlin (Maven and Gradle layouts, JUnit naming).
    "**/src/test/**/*.{java,kt}",
    "**/*Test.{java,kt}",
    "**/*Tests.{java,kt}",
];

/// Paths an agent must not touch by default.
pub const DEFAULT_PROTECTED_PATHS: &[&str] = &[".github/**", ".nightshift/**", ".git/**"];

/// Hook scripts: changing one is a way around the hooks.
const HOOK_GLOBS: &[&str] = &["**/.git/hooks/**", "**/.husky/**"];

const PRE_COMMIT_CONFIG: &str = ".pre-commit-config.yaml";

static PRE_COMMIT_ID: LazyLock<Regex> = LazyLock::new(|| {
    #[expect(
        clippy::expect_used,
        reason = "a constant pattern, compiled by a unit test"
    )]
    Regex::new(r"^\s*-\s*id\s*:").expect("the `- id:` pattern compiles")
});

/// The policy checks of a shift, as `[gates.policy]` in the spec would hold them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Fail an iteration that changed no file.
    pub require_change: bool,
    /// Fail an iteration that deleted or weakened tests.
    pub protect_tests: bool,
    /// Let removed or altered assertions and removed tests pass `tests-intact`, flagged for a
    /// person to review (the result's `review`) instead of failing; for recipes whose job is
    /// to change tests. Deleted test files and new skip markers still fail.
    pub allow_test_changes: bool,
    /// Where test files live (globs); defaults to [`DEFAULT_TEST_GLOBS`].
    pub test_globs: Vec<String>,
    /// Paths the agent must not touch (globs); defaults to [`DEFAULT_PROTECTED_PATHS`].
    pub protected_paths: Vec<String>,
    /// The most changed lines (insertions + deletions) per iteration; `None` for no limit.
    pub max_changed_lines: Option<u64>,
    /// Fail an iteration that set `core.hooksPath` or changed hook scripts or the pre-commit
    /// configuration's hook list.
    pub forbid_hook_bypass: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            require_change: true,
            protect_tests: true,
            allow_test_changes: false,
            test_globs: DEFAULT_TEST_GLOBS.iter().map(|g| (*g).to_owned()).collect(),
            protected_paths: DEFAULT_PROTECTED_PATHS
                .iter()
                .map(|g| (*g).to_owned())
                .collect(),
            max_changed_lines: Some(2000),
            forbid_hook_bypass: true,
        }
    }
}

impl Policy {
    /// Check the policy's globs, so a bad spec is refused before anything runs.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.compile().map(|_| ())
    }

    /// The compiled `test_globs`.
    pub(crate) fn test_glob_set(&self) -> Result<GlobSet, PolicyError> {
        glob_set("test_globs", &self.test_globs)
    }

    fn compile(&self) -> Result<Compiled, PolicyError> {
        Ok(Compiled {
            tests: self.test_glob_set()?,
            protected: self
                .protected_paths
                .iter()
                .map(|g| Ok((g.clone(), glob("protected_paths", g)?.compile_matcher())))
                .collect::<Result<_, PolicyError>>()?,
        })
    }
}

/// A policy that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("invalid glob `{glob}` in `{field}`: {source}")]
    InvalidGlob {
        /// The policy field: `test_globs` or `protected_paths`.
        field: &'static str,
        glob: String,
        #[source]
        source: globset::Error,
    },
}

struct Compiled {
    tests: GlobSet,
    protected: Vec<(String, globset::GlobMatcher)>,
}

fn glob(field: &'static str, pattern: &str) -> Result<Glob, PolicyError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|source| PolicyError::InvalidGlob {
            field,
            glob: pattern.to_owned(),
            source,
        })
}

fn glob_set(field: &'static str, patterns: &[impl AsRef<str>]) -> Result<GlobSet, PolicyError> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(glob(field, p.as_ref())?);
    }
    builder.build().map_err(|source| PolicyError::InvalidGlob {
        field,
        glob: String::new(),
        source,
    })
}

static HOOKS: LazyLock<GlobSet> = LazyLock::new(|| {
    #[expect(
        clippy::expect_used,
        reason = "constant globs, compiled by a unit test"
    )]
    glob_set("hooks", HOOK_GLOBS).expect("the hook globs compile")
});

/// A path as globs see it: without a leading `./`.
pub(crate) fn normalize(path: &str) -> &str {
    path.trim_start_matches("./")
}

/// Run every policy gate on `change`: one [`GateResult`] per gate, in [`GATE_NAMES`] order.
pub fn check(policy: &Policy, change: &Change) -> Result<Vec<GateResult>, PolicyError> {
    let compiled = policy.compile()?;
    let results = vec![
        timed(|| non_empty_change(policy, change)),
        timed(|| tests_intact(policy, &compiled, change)),
        timed(|| protected_paths(&compiled, change)),
        timed(|| diff_size(policy, change)),
        timed(|| hooks(policy, change)),
        timed(|| crate::symlinks::symlinks(change)),
    ];
    for r in results.iter().filter(|r| !r.passed) {
        tracing::debug!(gate = %r.gate, detail = %r.detail, "policy gate failed");
    }
    Ok(results)
}

fn timed(gate: impl FnOnce() -> GateResult) -> GateResult {
    let start = Instant::now();
    let mut result = gate();
    result.duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    result
}

fn lines_summary(change: &Change) -> String {
    format!("+{}/-{}", change.insertions, change.deletions)
}

fn name_status(change: &Change) -> String {
    change
        .files
        .iter()
        .map(|f| match &f.status {
            ChangeStatus::Renamed { from } => format!("R {from} -> {}\n", f.path),
            _ => format!("{} {}\n", f.letter(), f.path),
        })
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn non_empty_change(policy: &Policy, change: &Change) -> GateResult {
    const GATE: &str = "non-empty-change";
    let n = change.files.len();
    if n > 0 {
        let detail = format!(
            "{} changed ({} lines)",
            plural(n, "file", "files"),
            lines_summary(change)
        );
        return GateResult::policy(GATE, true, detail, String::new());
    }
    if !policy.require_change {
        return GateResult::policy(
            GATE,
            true,
            "no files changed; the policy allows an empty change".into(),
            String::new(),
        );
    }
    GateResult::policy(
        GATE,
        false,
        "the iteration changed no files".into(),
        String::new(),
    )
}

fn tests_intact(policy: &Policy, compiled: &Compiled, change: &Change) -> GateResult {
    const GATE: &str = "tests-intact";
    if !policy.protect_tests {
        return GateResult::policy(
            GATE,
            true,
            "test protection is off in the policy".into(),
            String::new(),
        );
    }
    let outcome = tests_guard::check_change(&compiled.tests, change);
    if outcome.findings.is_empty() {
        let detail = match outcome.checked {
            0 => "no test files changed".to_owned(),
            n => format!(
                "no tests deleted or weakened in {}",
                plural(n, "changed test file", "changed test files")
            ),
        };
        return GateResult::policy(GATE, true, detail, String::new());
    }
    let allow = policy.allow_test_changes;
    let failing: Vec<String> = outcome
        .findings
        .iter()
        .filter_map(|f| f.describe(|c| !(allow && c.allowable)))
        .collect();
    let allowed: Vec<String> = outcome
        .findings
        .iter()
        .filter(|_| allow)
        .filter_map(|f| f.describe(|c| c.allowable))
        .collect();
    let excerpt = outcome
        .findings
        .iter()
        .filter(|f| !f.evidence.is_empty())
        .map(|f| format!("{}\n{}\n", f.subject, f.evidence.join("\n")))
        .collect::<Vec<_>>()
        .join("\n");
    let passed = failing.is_empty();
    let detail = if passed {
        format!("test changes the policy allows: {}", allowed.join("; "))
    } else {
        failing.join("; ")
    };
    let mut result = GateResult::policy(GATE, passed, detail, excerpt);
    if !allowed.is_empty() {
        let files: Vec<&str> = outcome
            .findings
            .iter()
            .filter(|f| f.has_allowable())
            .map(|f| f.subject.as_str())
            .collect();
        result.review = Some(format!(
            "`allow_test_changes` let tests be removed or weakened in {}; a person should check that they still test the code before this lands",
            files.join(", ")
        ));
    }
    result
}

fn protected_paths(compiled: &Compiled, change: &Change) -> GateResult {
    const GATE: &str = "protected-paths";
    let mut findings = Vec::new();
    let mut excerpt = String::new();
    for file in &change.files {
        for path in file.paths() {
            let Some((glob, _)) = compiled
                .protected
                .iter()
                .find(|(_, m)| m.is_match(normalize(path)))
            else {
                continue;
            };
            let what = if path == file.path {
                format!("{} `{path}` (protected by `{glob}`)", file.verb())
            } else {
                format!(
                    "renamed `{path}` (protected by `{glob}`) to `{}`",
                    file.path
                )
            };
            excerpt.push_str(&format!("{} {path}  ({glob})\n", file.letter()));
            findings.push(what);
        }
    }
    if findings.is_empty() {
        return GateResult::policy(
            GATE,
            true,
            "no protected paths touched".into(),
            String::new(),
        );
    }
    GateResult::policy(GATE, false, findings.join("; "), excerpt)
}

fn diff_size(policy: &Policy, change: &Change) -> GateResult {
    const GATE: &str = "diff-size";
    let total = change.insertions.saturating_add(change.deletions);
    let summary = lines_summary(change);
    match policy.max_changed_lines {
        None => GateResult::policy(
            GATE,
            true,
            format!("{total} changed lines ({summary}); no limit set"),
            String::new(),
        ),
        Some(max) if total <= max => GateResult::policy(
            GATE,
            true,
            format!("{total} changed lines ({summary}), within the limit of {max}"),
            String::new(),
        ),
        Some(max) => GateResult::policy(
            GATE,
            false,
            format!(
                "the change has {total} changed lines ({summary}), over the limit of {max}; split the work into smaller iterations"
            ),
            name_status(change),
        ),
    }
}

fn is_pre_commit_config(path: &str) -> bool {
    let path = normalize(path);
    path == PRE_COMMIT_CONFIG || path.ends_with(&format!("/{PRE_COMMIT_CONFIG}"))
}

/// The hook ids a pre-commit configuration declares (`- id: NAME` lines; comments do not match).
fn pre_commit_ids(text: Option<&str>) -> Vec<&str> {
    text.unwrap_or("")
        .lines()
        .filter_map(|l| PRE_COMMIT_ID.find(l).map(|m| l[m.end()..].trim()))
        .collect()
}

fn hooks(policy: &Policy, change: &Change) -> GateResult {
    const GATE: &str = "hooks";
    if !policy.forbid_hook_bypass {
        return GateResult::policy(
            GATE,
            true,
            "hook bypass checks are off in the policy".into(),
            String::new(),
        );
    }
    let mut findings = Vec::new();
    let mut excerpt = Vec::new();
    if let Some(hooks_path) = &change.hooks_path {
        findings.push(format!(
            "the agent set core.hooksPath to `{hooks_path}` to bypass hooks"
        ));
        excerpt.push(format!("core.hooksPath = {hooks_path}"));
    }
    for file in &change.files {
        if let Some(path) = file.paths().find(|p| HOOKS.is_match(normalize(p))) {
            findings.push(match &file.status {
                ChangeStatus::Renamed { from } => {
                    format!("renamed hook file `{from}` to `{}`", file.path)
                }
                _ => format!("{} hook file `{path}`", file.verb()),
            });
            excerpt.push(format!("{} {path}", file.letter()));
        }
        if let Some(finding) = pre_commit_finding(file, &mut excerpt) {
            findings.push(finding);
        }
    }
    if findings.is_empty() {
        return GateResult::policy(
            GATE,
            true,
            "core.hooksPath is not set and no hooks were changed".into(),
            String::new(),
        );
    }
    let mut excerpt = excerpt.join("\n");
    excerpt.push('\n');
    GateResult::policy(GATE, false, findings.join("; "), excerpt)
}

/// A deleted, renamed-away or thinned-out `.pre-commit-config.yaml`.
fn pre_commit_finding(file: &FileChange, excerpt: &mut Vec<String>) -> Option<String> {
    let was = is_pre_commit_config(file.old_path());
    let is = is_pre_commit_config(&file.path);
    if !was {
        return None;
    }
    let old_ids = pre_commit_ids(file.old_text.as_deref());
    match &file.status {
        ChangeStatus::Added => None,
        ChangeStatus::Deleted => {
            excerpt.extend(old_ids.iter().map(|id| format!("removed hook `{id}`")));
            Some(format!(
                "deleted `{}`, which declared {}",
                file.path,
                plural(old_ids.len(), "hook", "hooks")
            ))
        }
        ChangeStatus::Renamed { from } if !is => {
            excerpt.extend(old_ids.iter().map(|id| format!("removed hook `{id}`")));
            Some(format!(
                "renamed `{from}` to `{}`, so pre-commit no longer reads it",
                file.path
            ))
        }
        ChangeStatus::Modified | ChangeStatus::Renamed { .. } => {
            let new_ids = pre_commit_ids(file.new_text.as_deref());
            if new_ids.len() >= old_ids.len() {
                return None;
            }
            let mut left = new_ids.clone();
            for id in &old_ids {
                match left.iter().position(|n| n == id) {
                    Some(i) => {
                        left.swap_remove(i);
                    }
                    None => excerpt.push(format!("removed hook `{id}`")),
                }
            }
            Some(format!(
                "`{}` lost hooks: its `- id:` entries went from {} to {}",
                file.path,
                old_ids.len(),
                new_ids.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_globs_and_patterns_compile() {
        assert!(HOOKS.is_match(".husky/pre-commit"));
        assert!(HOOKS.is_match(".git/hooks/pre-commit"));
        assert!(PRE_COMMIT_ID.is_match("  - id: ruff"));
        Policy::default().validate().unwrap();
    }

    #[test]
    fn default_test_globs_match_each_language() {
        let set = glob_set("test_globs", DEFAULT_TEST_GLOBS).unwrap();
        for path in [
            "tests/parse.rs",
            "crates/x/tests/suite/a.rs",
            "src/parser/tests.rs",
            "test_app.py",
            "pkg/tests/test_x.py",
            "pkg/sub/app_test.py",
            "conftest.py",
            "web/src/app.test.tsx",
            "web/src/app.spec.js",
            "web/src/__tests__/app.ts",
            "test/mocha.js",
            "internal/x_test.go",
            "src/test/java/com/x/Thing.java",
            "app/src/test/kotlin/X.kt",
            "FooTest.java",
        ] {
            assert!(set.is_match(path), "{path} should be a test file");
        }
        for path in [
            "src/lib.rs",
            "src/testing.rs",
            "app.py",
            "web/src/app.tsx",
            "main.go",
            "src/main/java/Test/X.java",
            "contest.py",
        ] {
            assert!(!set.is_match(path), "{path} should not be a test file");
        }
    }

    #[test]
    fn star_stays_in_one_segment() {
        let m = glob("protected_paths", "*.lock").unwrap().compile_matcher();
        assert!(m.is_match("Cargo.lock"));
        assert!(!m.is_match("sub/Cargo.lock"));
    }
}
