//! The `tests-intact` gate: agents "fix" failing tests by deleting or weakening them.
//!
//! The rules, kept simple enough to explain in one breath:
//!
//! - A **deleted** file fails the gate when it matches the policy's `test_globs`, or when it is
//!   a Rust file that held tests (`#[test]`, `#[tokio::test]`, `#[rstest]`, `#[cfg(test)]`).
//!   So does a file **renamed** from a path that matches `test_globs` to one that does not: the
//!   test runner no longer finds it.
//! - A **modified or renamed** file is compared, old text against new, when it is a test file
//!   (its path, or a rename's old path, matches `test_globs`) or a Rust file that holds tests on
//!   either side. It fails when, in its language,
//!   - an **assertion** of the old version is not in the new one, unchanged: assertions are
//!     compared as whole statements (see [`crate::assertions`]: multi-line ones joined,
//!     whitespace and a formatter's trailing comma or quotes ignored), as a multiset, so an
//!     assertion may move within or between tests but not be removed or altered,
//!   - the number of **tests** went down, or
//!   - the number of **skip/ignore markers** went up.
//! - **Added** files never fail: adding tests or assertions is always fine.
//!
//! With the policy's `allow_test_changes`, removed or altered assertions and removed tests do
//! not fail the gate; the result passes with its `review` set and the same evidence, so a
//! person looks before the work lands. Deleted test files, files moved out of the test globs
//! and new skip markers still fail.
//!
//! The evidence names each assertion that went (`- L12 …`) and, where the same test gained a
//! new assertion, the one that took its place (`+ L12 …`).
//!
//! Scanning is over *code*: comments are removed first (`//` and `/* … */` in Rust, JS/TS, Go
//! and Java; `#` and triple-quoted strings in Python), so commenting a test or an assertion out
//! counts as removing it. In a Rust file outside the test globs (a source file with a
//! `#[cfg(test)] mod tests`), scanning starts at its first `#[cfg(test)]` or test attribute, so
//! production `assert!`s above it are not guarded (and a side with neither holds nothing:
//! removing the tests module removes its assertions). See [`Language`] for what counts as a
//! test, an assertion and a skip marker in each language.
//!
//! What this cannot see, by design: an assertion whose meaning changed while its text did not
//! (a helper it calls, a fixture or constant it compares with, or the code under test, edited
//! elsewhere); a test that stops reaching its assertions (an early `return`, a condition, a
//! loop over nothing) or whose body gained code that makes them pass; a condition that is the
//! real check but is not an assertion (Go's `if got != want { t.Errorf(…) }` guards the call,
//! not the `if`), and the body of a `with self.assertRaises(…):` or `pytest.raises(…)` block
//! (the call is the assertion, not what runs under it); and assertions in forms the patterns
//! do not know. Running the base version of the changed test files against the new code
//! ([`modified_test_files`]) covers part of this.
//!
//! What it sees too eagerly: an assertion edited without being weakened — a renamed variable,
//! a clearer message, a reformatting beyond whitespace, trailing commas and quotes (black
//! wrapping a long `assert` in parentheses) — reads as altered. The gate fails it, or flags it
//! for review under `allow_test_changes`.

use globset::GlobSet;

use crate::assertions::{self, Gone};
use crate::change::{Change, ChangeStatus, FileChange};
use crate::policy::{Policy, PolicyError, normalize};
pub use crate::test_scan::{Hit, Language, Scan, code_lines, rust_has_tests, scan};

/// The existing test files that `change` modified or renamed, with their old text known and
/// different from their new text: the files whose base version the factory runs against the
/// changed code, because the repository's original tests must still pass.
///
/// A file is an existing test file when its old path ([`FileChange::old_path`]) matches the
/// policy's `test_globs`; there the base version lived, and `old_text` is what it held. Rust
/// source files whose only tests are an inline `#[cfg(test)]` module are left out: their old
/// text is the old code too, so running it would not test the change (`tests-intact` still
/// compares their assertions). The answer does not depend on `protect_tests`.
pub fn modified_test_files<'a>(
    policy: &Policy,
    change: &'a Change,
) -> Result<Vec<&'a FileChange>, PolicyError> {
    let globs = policy.test_glob_set()?;
    Ok(change
        .files
        .iter()
        .filter(|f| {
            matches!(
                f.status,
                ChangeStatus::Modified | ChangeStatus::Renamed { .. }
            )
        })
        .filter(|f| globs.is_match(normalize(f.old_path())))
        .filter(|f| f.old_text.is_some() && f.old_text != f.new_text)
        .collect())
}

/// One thing that happened to a test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    pub(crate) text: String,
    /// Removed tests and removed or altered assertions: what `allow_test_changes` lets pass
    /// for review. Everything else fails whatever the policy says.
    pub(crate) allowable: bool,
}

/// A test file that was deleted or weakened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The file, as named in messages.
    pub(crate) subject: String,
    /// What happened to it, in order.
    pub(crate) clauses: Vec<Clause>,
    /// The clauses name the file themselves (`deleted test file …`) instead of following the
    /// subject.
    pub(crate) named: bool,
    /// Evidence lines: `- L12 …` gone, `+ L20 …` added.
    pub(crate) evidence: Vec<String>,
}

impl Finding {
    fn blocking(subject: String, text: String, named: bool, evidence: Vec<String>) -> Self {
        Self {
            subject,
            clauses: vec![Clause {
                text,
                allowable: false,
            }],
            named,
            evidence,
        }
    }

    /// The clauses `keep` selects, as one clause about the file; `None` when it selects none.
    pub(crate) fn describe(&self, keep: impl Fn(&Clause) -> bool) -> Option<String> {
        let texts: Vec<&str> = self
            .clauses
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.text.as_str())
            .collect();
        match (texts.is_empty(), self.named) {
            (true, _) => None,
            (false, true) => Some(texts.join(", ")),
            (false, false) => Some(format!("{}: {}", self.subject, texts.join(", "))),
        }
    }

    /// Whether `allow_test_changes` has a say in this finding.
    pub(crate) fn has_allowable(&self) -> bool {
        self.clauses.iter().any(|c| c.allowable)
    }
}

/// The outcome of the rule over a whole change.
pub(crate) struct Outcome {
    pub(crate) findings: Vec<Finding>,
    /// How many changed files were test files or held tests.
    pub(crate) checked: usize,
}

fn subject(file: &FileChange) -> String {
    match &file.status {
        ChangeStatus::Renamed { from } => format!("`{}` (renamed from `{from}`)", file.path),
        _ => format!("`{}`", file.path),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Apply the rule to every file of `change`.
pub(crate) fn check_change(test_globs: &GlobSet, change: &Change) -> Outcome {
    let mut findings = Vec::new();
    let mut checked = 0;
    for file in &change.files {
        let by_glob = file.paths().any(|p| test_globs.is_match(normalize(p)));
        let lang = Language::from_path(&file.path).or_else(|| Language::from_path(file.old_path()));
        let rust_tests = |text: &Option<String>| {
            lang == Some(Language::Rust) && text.as_deref().is_some_and(rust_has_tests)
        };
        let finding = match &file.status {
            ChangeStatus::Added => continue,
            ChangeStatus::Deleted => {
                let inline = rust_tests(&file.old_text);
                if !by_glob && !inline {
                    continue;
                }
                Some(deleted(file, lang, by_glob))
            }
            ChangeStatus::Renamed { from }
                if test_globs.is_match(normalize(from))
                    && !test_globs.is_match(normalize(&file.path)) =>
            {
                Some(moved_out(file, lang))
            }
            ChangeStatus::Modified | ChangeStatus::Renamed { .. } => {
                if !by_glob && !rust_tests(&file.old_text) && !rust_tests(&file.new_text) {
                    continue;
                }
                lang.and_then(|lang| {
                    let old = scan(lang, file.old_text.as_deref().unwrap_or(""), by_glob);
                    let new = scan(lang, file.new_text.as_deref().unwrap_or(""), by_glob);
                    compare(file, &old, &new)
                })
            }
        };
        checked += 1;
        findings.extend(finding);
    }
    Outcome { findings, checked }
}

fn deleted(file: &FileChange, lang: Option<Language>, by_glob: bool) -> Finding {
    let held = match (lang, &file.old_text) {
        (Some(lang), Some(old)) => scan(lang, old, by_glob).tests,
        _ => Vec::new(),
    };
    let what = match (by_glob, held.len()) {
        (true, 0) => format!("deleted test file `{}`", file.path),
        (true, n) => format!(
            "deleted test file `{}` ({})",
            file.path,
            plural(n, "test", "tests")
        ),
        (false, n) => format!(
            "deleted `{}`, which held {}",
            file.path,
            plural(n, "test", "tests")
        ),
    };
    let evidence = held
        .iter()
        .map(|h| format!("- L{} {}", h.line, test_label(h)));
    Finding::blocking(format!("`{}`", file.path), what, true, evidence.collect())
}

/// Moved where the test runner no longer looks: as good as deleted.
fn moved_out(file: &FileChange, lang: Option<Language>) -> Finding {
    let held = match (lang, &file.old_text) {
        (Some(lang), Some(old)) => scan(lang, old, true).tests,
        _ => Vec::new(),
    };
    let what = format!(
        "moved out of the test files, so its {} no longer run",
        plural(held.len(), "test", "tests")
    );
    let evidence = held
        .iter()
        .map(|h| format!("- L{} {}", h.line, test_label(h)));
    Finding::blocking(subject(file), what, false, evidence.collect())
}

/// A removed test as evidence: its marker line, and its name when the line does not show it.
fn test_label(h: &Hit) -> String {
    match &h.name {
        Some(name) if !h.code.contains(name.as_str()) => format!("{} … {name}", h.code),
        _ => h.code.clone(),
    }
}

/// Hits of `a` whose code has no counterpart in `b` (a multiset difference by code text).
fn missing_from<'a>(a: &'a [Hit], b: &[Hit]) -> Vec<&'a Hit> {
    assertions::minus(a, b, |h| h.code.as_str())
}

/// Test names of `a` with no counterpart in `b`.
fn names_missing_from(a: &[Hit], b: &[Hit]) -> Vec<String> {
    // Unnamed tests pair with each other under "" and are never named in the answer.
    assertions::minus(a, b, |h| h.name.as_deref().unwrap_or(""))
        .into_iter()
        .filter_map(|h| h.name.clone())
        .collect()
}

/// `1 assertion altered in test_add`: how many of `gone` there are, and in which tests.
fn assertion_clause(gone: &[&Gone<'_>], verb: &str) -> Option<Clause> {
    if gone.is_empty() {
        return None;
    }
    let mut tests: Vec<&str> = Vec::new();
    for name in gone.iter().filter_map(|g| g.old.test.as_deref()) {
        if !tests.contains(&name) {
            tests.push(name);
        }
    }
    let mut text = format!("{} {verb}", plural(gone.len(), "assertion", "assertions"));
    if !tests.is_empty() {
        text.push_str(&format!(" in {}", tests.join(", ")));
    }
    Some(Clause {
        text,
        allowable: true,
    })
}

fn compare(file: &FileChange, old: &Scan, new: &Scan) -> Option<Finding> {
    let mut clauses = Vec::new();
    let mut evidence = Vec::new();
    if new.tests.len() < old.tests.len() {
        let removed = names_missing_from(&old.tests, &new.tests);
        let mut text = format!("tests went from {} to {}", old.tests.len(), new.tests.len());
        if !removed.is_empty() {
            text.push_str(&format!(" (removed: {})", removed.join(", ")));
        }
        clauses.push(Clause {
            text,
            allowable: true,
        });
        for h in missing_from(&old.tests, &new.tests) {
            evidence.push(format!("- L{} {}", h.line, test_label(h)));
        }
    }
    let gone = assertions::compare(&old.assertions, &new.assertions);
    let (altered, removed): (Vec<&Gone<'_>>, Vec<&Gone<'_>>) =
        gone.iter().partition(|g| g.replaced_by.is_some());
    clauses.extend(assertion_clause(&altered, "altered"));
    clauses.extend(assertion_clause(&removed, "removed"));
    for g in &gone {
        evidence.push(format!("- L{} {}", g.old.line, g.old.code));
        if let Some(n) = g.replaced_by {
            evidence.push(format!("+ L{} {}", n.line, n.code));
        }
    }
    if new.skips.len() > old.skips.len() {
        clauses.push(Clause {
            text: format!(
                "skip/ignore markers went from {} to {}",
                old.skips.len(),
                new.skips.len()
            ),
            allowable: false,
        });
        for h in missing_from(&new.skips, &old.skips) {
            evidence.push(format!("+ L{} {}", h.line, h.code));
        }
    }
    if clauses.is_empty() {
        return None;
    }
    evidence.dedup();
    Some(Finding {
        subject: subject(file),
        clauses,
        named: false,
        evidence,
    })
}
