//! Code-health figures of one side of a change (its base or its commit), their deltas, and
//! the `health` gate that holds a change to a recipe's thresholds.
//!
//! The analysers are well-kept tools, each run as a process (in the gates' sandbox) on the
//! files the change touches, never the whole tree, where the tool allows:
//! - **complexity and duplication**: `lizard` (PyPI; one run gives both: the cyclomatic
//!   complexity of every function, and its duplicate-code extension's blocks). Chosen over
//!   `rust-code-analysis` because one small pure-Python tool covers Rust, Python and twenty
//!   more languages with the same figures, and installs from PyPI in seconds;
//! - **lint warnings**: `ruff check` (Python, on the changed files, with the repository's own
//!   configuration) and `cargo clippy` (Rust: clippy compiles the workspace, so its count is
//!   the whole workspace's);
//! - **coverage**: the recipe's own command, its last printed percentage;
//! - **tests**: counted by this crate ([`crate::test_scan`]) in the changed files.
//!
//! [`measure`] reads one side (`measure.rs`, the tools' output read by `parse.rs`); the factory puts the worktree at the base and at the commit
//! (`git` is its business, not this crate's). [`Health::between`] gives the deltas and
//! [`check`] the gate.

mod measure;
mod parse;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::result::{EXCERPT_MAX_BYTES, GateResult, head_excerpt};

pub use measure::{Analysers, Tools, measure};
pub use parse::{parse_clippy, parse_coverage, parse_lizard, parse_ruff};

/// The gate's name.
pub const GATE: &str = "health";

/// Thresholds: a delta above one is a defect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub max_new_lint_warnings: Option<u64>,
    pub max_duplication_increase_lines: Option<u64>,
    pub max_complexity_increase: Option<u64>,
    /// Hundredths of a percentage point.
    pub max_coverage_decrease_centi: Option<u64>,
}

/// One function as lizard reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub file: String,
    pub name: String,
    /// Cyclomatic complexity.
    pub ccn: u32,
    /// Tokens: with the complexity, what tells a changed function from an unchanged one.
    pub tokens: u32,
}

/// One side's figures; `None` where not measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    pub lint_warnings: Option<u64>,
    pub duplicated_lines: Option<u64>,
    pub functions: Option<Vec<Function>>,
    pub tests: Option<u64>,
    pub coverage_centi: Option<u64>,
    /// What could not be measured, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The figures of a change: each measured on its base and its commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Lint warnings, base → change.
    pub lint_warnings: Option<(u64, u64)>,
    pub duplicated_lines: Option<(u64, u64)>,
    /// Summed complexity of the functions the change touched (added, removed or altered).
    pub changed_complexity: Option<(u64, u64)>,
    /// How many functions that is.
    pub changed_functions: u64,
    pub tests: Option<(u64, u64)>,
    pub coverage_centi: Option<(u64, u64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

fn signed(d: i128) -> String {
    if d > 0 {
        format!("+{d}")
    } else if d < 0 {
        format!("−{}", -d)
    } else {
        "±0".to_owned()
    }
}

fn pct(centi: u64) -> String {
    format!("{}.{:02}%", centi / 100, centi % 100)
}

impl Health {
    /// The deltas from `base` to `new`.
    pub fn between(base: &Side, new: &Side) -> Self {
        let pair = |a: Option<u64>, b: Option<u64>| a.zip(b);
        let (changed_complexity, changed_functions) = match (&base.functions, &new.functions) {
            (Some(a), Some(b)) => {
                let key = |f: &Function| (f.file.clone(), f.name.clone());
                let before: BTreeMap<_, &Function> = a.iter().map(|f| (key(f), f)).collect();
                let after: BTreeMap<_, &Function> = b.iter().map(|f| (key(f), f)).collect();
                let mut sums = (0_u64, 0_u64);
                let mut n = 0;
                for k in before
                    .keys()
                    .chain(after.keys().filter(|k| !before.contains_key(*k)))
                {
                    let (x, y) = (before.get(k), after.get(k));
                    if x == y {
                        continue;
                    }
                    n += 1;
                    sums.0 += x.map_or(0, |f| u64::from(f.ccn));
                    sums.1 += y.map_or(0, |f| u64::from(f.ccn));
                }
                (Some(sums), n)
            }
            _ => (None, 0),
        };
        let mut errors = base.errors.clone();
        errors.extend(new.errors.iter().cloned());
        errors.dedup();
        Self {
            lint_warnings: pair(base.lint_warnings, new.lint_warnings),
            duplicated_lines: pair(base.duplicated_lines, new.duplicated_lines),
            changed_complexity,
            changed_functions,
            tests: pair(base.tests, new.tests),
            coverage_centi: pair(base.coverage_centi, new.coverage_centi),
            errors,
        }
    }

    /// The deltas of several changes one after another, added up (a job's accepted
    /// changes): each figure's before and after summed over the changes that measured it.
    pub fn combined(all: &[Health]) -> Health {
        let add = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| match (a, b) {
            (Some((x, y)), Some((u, v))) => Some((x + u, y + v)),
            (a, b) => a.or(b),
        };
        let mut total = Health::default();
        for h in all {
            total.lint_warnings = add(total.lint_warnings, h.lint_warnings);
            total.duplicated_lines = add(total.duplicated_lines, h.duplicated_lines);
            total.changed_complexity = add(total.changed_complexity, h.changed_complexity);
            total.changed_functions += h.changed_functions;
            total.tests = add(total.tests, h.tests);
            total.errors.extend(h.errors.iter().cloned());
        }
        // Coverage is a level, not a count: the first change's before, the last's after.
        let first = all.iter().find_map(|h| h.coverage_centi);
        let last = all.iter().rev().find_map(|h| h.coverage_centi);
        total.coverage_centi = first.zip(last).map(|((a, _), (_, b))| (a, b));
        total
    }

    /// The deltas in words: "+3 lint warnings, −40 duplicated lines, complexity of changed
    /// functions 14 → 9, +6 tests".
    pub fn summary(&self) -> String {
        let d = |(a, b): (u64, u64)| i128::from(b) - i128::from(a);
        let mut parts = Vec::new();
        if let Some(p) = self.lint_warnings {
            parts.push(format!("{} lint warnings", signed(d(p))));
        }
        if let Some(p) = self.duplicated_lines {
            parts.push(format!("{} duplicated lines", signed(d(p))));
        }
        if let Some((a, b)) = self.changed_complexity {
            if self.changed_functions == 0 {
                parts.push("no function's complexity changed".to_owned());
            } else {
                parts.push(format!("complexity of changed functions {a} → {b}"));
            }
        }
        if let Some(p) = self.tests {
            parts.push(format!("{} tests", signed(d(p))));
        }
        if let Some((a, b)) = self.coverage_centi {
            parts.push(format!("coverage {} → {}", pct(a), pct(b)));
        }
        if parts.is_empty() {
            "nothing measured".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// The `health` gate: the deltas, held to the thresholds. A threshold whose figure could
/// not be measured fails (an analyser that broke is no pass); figures without a threshold
/// are reported only.
pub fn check(h: &Health, t: &Thresholds, duration_ms: u64) -> GateResult {
    let up = |p: Option<(u64, u64)>| p.map(|(a, b)| b.saturating_sub(a));
    let mut over = Vec::new();
    let mut rule = |limit: Option<u64>, value: Option<u64>, what: &str, key: &str| {
        let Some(limit) = limit else { return };
        match value {
            None => over.push(format!("{what} could not be measured (`{key}` needs it)")),
            Some(v) if v > limit => {
                over.push(format!(
                    "{what} rose by {v}, more than `{key} = {limit}` allows"
                ));
            }
            Some(_) => {}
        }
    };
    rule(
        t.max_new_lint_warnings,
        up(h.lint_warnings),
        "lint warnings",
        "max_new_lint_warnings",
    );
    rule(
        t.max_duplication_increase_lines,
        up(h.duplicated_lines),
        "duplicated lines",
        "max_duplication_increase_lines",
    );
    rule(
        t.max_complexity_increase,
        up(h.changed_complexity),
        "the changed functions' complexity",
        "max_complexity_increase",
    );
    let down = h.coverage_centi.map(|(a, b)| a.saturating_sub(b));
    if let Some(limit) = t.max_coverage_decrease_centi {
        match down {
            None => over
                .push("coverage could not be measured (`max_coverage_decrease` needs it)".into()),
            Some(v) if v > limit => over.push(format!(
                "coverage fell by {} points, more than `max_coverage_decrease = {}` allows",
                pct(v).trim_end_matches('%'),
                pct(limit).trim_end_matches('%')
            )),
            Some(_) => {}
        }
    }
    let mut excerpt = figures_text(h);
    if !h.errors.is_empty() {
        excerpt = format!("{}\n{excerpt}", h.errors.join("\n"));
    }
    let summary = h.summary();
    let (passed, detail) = if over.is_empty() {
        (true, summary)
    } else {
        (false, format!("{summary}: {}", over.join("; ")))
    };
    GateResult {
        gate: GATE.to_owned(),
        passed,
        duration_ms,
        exit_code: None,
        timed_out: false,
        detail,
        excerpt: head_excerpt(&excerpt, EXCERPT_MAX_BYTES),
        review: None,
    }
}

/// The figures, one per line, for the evidence.
fn figures_text(h: &Health) -> String {
    let mut lines = Vec::new();
    let mut line = |name: &str, p: Option<(u64, u64)>| {
        if let Some((a, b)) = p {
            lines.push(format!("{name}: {a} → {b}"));
        }
    };
    line("lint warnings", h.lint_warnings);
    line("duplicated lines", h.duplicated_lines);
    line("complexity of changed functions", h.changed_complexity);
    line("tests in changed files", h.tests);
    if let Some((a, b)) = h.coverage_centi {
        lines.push(format!("coverage: {} → {}", pct(a), pct(b)));
    }
    lines.push(format!("functions changed: {}", h.changed_functions));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_read_in_words_and_thresholds_hold() {
        let f = |name: &str, ccn| Function {
            file: "a.py".into(),
            name: name.into(),
            ccn,
            tokens: 10,
        };
        let base = Side {
            lint_warnings: Some(2),
            duplicated_lines: Some(40),
            functions: Some(vec![f("a", 9), f("b", 5), f("same", 3)]),
            tests: Some(4),
            ..Side::default()
        };
        let new = Side {
            lint_warnings: Some(5),
            duplicated_lines: Some(0),
            functions: Some(vec![f("a", 4), f("b", 3), f("c", 2), f("same", 3)]),
            tests: Some(10),
            ..Side::default()
        };
        let h = Health::between(&base, &new);
        assert_eq!(
            h.summary(),
            "+3 lint warnings, −40 duplicated lines, complexity of changed functions 14 → 9, +6 tests"
        );
        assert_eq!(h.changed_functions, 3);
        let strict = Thresholds {
            max_new_lint_warnings: Some(0),
            max_duplication_increase_lines: Some(0),
            max_complexity_increase: Some(0),
            ..Thresholds::default()
        };
        let r = check(&h, &strict, 0);
        assert!(!r.passed);
        assert_eq!(
            r.detail,
            "+3 lint warnings, −40 duplicated lines, complexity of changed functions 14 → 9, +6 tests: lint warnings rose by 3, more than `max_new_lint_warnings = 0` allows"
        );
        let unmeasured = Health::between(&Side::default(), &Side::default());
        assert!(!check(&unmeasured, &strict, 0).passed);
        assert!(check(&unmeasured, &Thresholds::default(), 0).passed);
    }
}
