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
//! [`measure`] reads one side; the factory puts the worktree at the base and at the commit
//! (`git` is its business, not this crate's). [`Health::between`] gives the deltas and
//! [`check`] the gate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_process::{Command, End, Sandbox};
use serde::{Deserialize, Serialize};

use crate::result::{EXCERPT_MAX_BYTES, GateResult, head_excerpt};
use crate::test_scan::{Language, scan};

/// The gate's name.
pub const GATE: &str = "health";

/// The binaries of the analysers: `NIGHTSHIFT_LIZARD_BIN` / `NIGHTSHIFT_RUFF_BIN`, else the
/// name on `PATH`, else the newest complete install of `scripts/install-health-tools.sh`
/// (`$NIGHTSHIFT_TOOLS_CACHE`, default `~/.cache/nightshift`, `health/<versions>/bin`).
#[derive(Debug, Clone)]
pub struct Tools {
    pub lizard: Option<PathBuf>,
    pub ruff: Option<PathBuf>,
}

impl Tools {
    /// Find the tools with `env` reading a variable (the process environment in use).
    pub fn find(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let cache = env("NIGHTSHIFT_TOOLS_CACHE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache/nightshift")));
        let installed = cache.and_then(|c| newest_install(&c.join("health")));
        let find = |var: &str, name: &str| {
            env(var).map(PathBuf::from).or_else(|| {
                let on_path = env("PATH").and_then(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .find(|f| f.is_file())
                });
                on_path.or_else(|| {
                    installed
                        .as_ref()
                        .map(|d| d.join("bin").join(name))
                        .filter(|f| f.is_file())
                })
            })
        };
        Self {
            lizard: find("NIGHTSHIFT_LIZARD_BIN", "lizard"),
            ruff: find("NIGHTSHIFT_RUFF_BIN", "ruff"),
        }
    }
}

fn newest_install(dir: &Path) -> Option<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(".complete").is_file())
        .collect();
    all.sort();
    all.pop()
}

/// What to measure.
#[derive(Debug, Clone, Default)]
pub struct Analysers {
    pub clippy: bool,
    pub ruff: bool,
    pub complexity: bool,
    pub duplication: bool,
    pub tests: bool,
    /// A command printing the coverage.
    pub coverage: Option<String>,
    pub timeout: Duration,
}

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
    let mut excerpt = serde_json_text(h);
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
fn serde_json_text(h: &Health) -> String {
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

/// Extensions lizard reads.
const LIZARD_EXTENSIONS: &[&str] = &[
    "py", "rs", "js", "jsx", "mjs", "ts", "tsx", "go", "java", "kt", "c", "cc", "cpp", "h", "hpp",
    "cs", "rb", "php", "swift", "scala", "lua",
];

fn extension(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Measure one side: `dir` holds the tree, `files` the changed paths that exist on this side
/// (relative, `/`-separated) with their text.
pub async fn measure(
    dir: &Path,
    files: &[(String, String)],
    a: &Analysers,
    tools: &Tools,
    tag: &str,
    sandbox: Option<&Sandbox>,
) -> Side {
    let mut side = Side::default();
    if a.tests {
        let n = files
            .iter()
            .filter_map(|(p, text)| Language::from_path(p).map(|l| scan(l, text, true).tests.len()))
            .sum::<usize>();
        side.tests = Some(n as u64);
    }
    let run = |program: PathBuf, args: Vec<String>| {
        let mut cmd = Command::new(program, dir)
            .args(args)
            .tag(tag)
            .time_limit(a.timeout);
        if let Some(s) = sandbox {
            cmd = cmd.sandbox(s.clone());
        }
        cmd
    };
    if a.complexity || a.duplication {
        let sources: Vec<String> = files
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| LIZARD_EXTENSIONS.contains(&extension(p)))
            .collect();
        match (&tools.lizard, sources.is_empty()) {
            (_, true) => {
                if a.complexity {
                    side.functions = Some(Vec::new());
                }
                if a.duplication {
                    side.duplicated_lines = Some(0);
                }
            }
            (None, false) => side.errors.push(
                "lizard is not installed: run scripts/install-health-tools.sh or set NIGHTSHIFT_LIZARD_BIN".into(),
            ),
            (Some(lizard), false) => {
                let mut args = vec!["--csv".to_owned(), "-Eduplicate".to_owned()];
                args.extend(sources);
                match output(run(lizard.clone(), args)).await {
                    Ok(text) => {
                        let (functions, duplicated) = parse_lizard(&text);
                        if a.complexity {
                            side.functions = Some(functions);
                        }
                        if a.duplication {
                            side.duplicated_lines = Some(duplicated);
                        }
                    }
                    Err(e) => side.errors.push(format!("lizard: {e}")),
                }
            }
        }
    }
    let mut lint: Option<u64> = None;
    if a.ruff {
        let py: Vec<String> = files
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| matches!(extension(p), "py" | "pyi"))
            .collect();
        if py.is_empty() {
            lint = Some(0);
        } else if let Some(ruff) = &tools.ruff {
            let mut args: Vec<String> = [
                "check",
                "--output-format",
                "json",
                "--exit-zero",
                "--no-cache",
                "--",
            ]
            .map(str::to_owned)
            .into();
            args.extend(py);
            match output(run(ruff.clone(), args))
                .await
                .and_then(|t| parse_ruff(&t))
            {
                Ok(n) => lint = Some(n),
                Err(e) => side.errors.push(format!("ruff: {e}")),
            }
        } else {
            side.errors.push(
                "ruff is not installed: run scripts/install-health-tools.sh or set NIGHTSHIFT_RUFF_BIN".into(),
            );
        }
    }
    if a.clippy {
        let args = [
            "clippy",
            "--quiet",
            "--all-targets",
            "--message-format=json",
        ]
        .map(str::to_owned)
        .into();
        match output(run(PathBuf::from("cargo"), args)).await {
            Ok(text) => lint = Some(lint.unwrap_or(0) + parse_clippy(&text)),
            Err(e) => side.errors.push(format!("cargo clippy: {e}")),
        }
    }
    side.lint_warnings = if side
        .errors
        .iter()
        .any(|e| e.starts_with("ruff") || e.starts_with("cargo clippy"))
    {
        None
    } else {
        lint
    };
    if let Some(cov) = &a.coverage {
        let mut cmd = Command::shell(cov, dir).tag(tag).time_limit(a.timeout);
        if let Some(s) = sandbox {
            cmd = cmd.sandbox(s.clone());
        }
        match output(cmd).await.and_then(|t| {
            parse_coverage(&t).ok_or_else(|| format!("`{cov}` printed no percentage"))
        }) {
            Ok(c) => side.coverage_centi = Some(c),
            Err(e) => side.errors.push(format!("coverage: {e}")),
        }
    }
    side
}

/// Run to the end: the output when it exits 0 (clippy exits non-zero on errors; warnings
/// are exit 0).
async fn output(cmd: Command) -> Result<String, String> {
    let run = cmd
        .output(crate::command::OUTPUT_CAP_BYTES)
        .await
        .map_err(|e| e.source.to_string())?;
    let text = run.output.text();
    match run.end {
        End::Exited(0) => Ok(text),
        end => Err(format!(
            "ended with {end:?}: {}",
            crate::result::tail_excerpt(&text, 400)
        )),
    }
}

/// Lizard's `--csv -Eduplicate` output: the functions, and the duplicated lines (in every
/// copy after the first of each duplicate block).
pub fn parse_lizard(text: &str) -> (Vec<Function>, u64) {
    let mut functions = Vec::new();
    let mut duplicated = 0;
    let mut block: Vec<u64> = Vec::new();
    let mut in_dups = false;
    let flush = |block: &mut Vec<u64>, duplicated: &mut u64| {
        *duplicated += block.iter().skip(1).sum::<u64>();
        block.clear();
    };
    for line in text.lines() {
        if line.starts_with("Duplicates") {
            in_dups = true;
            continue;
        }
        if !in_dups {
            let fields = csv_fields(line);
            if fields.len() >= 11
                && let (Ok(ccn), Ok(tokens)) = (fields[1].parse(), fields[2].parse())
            {
                functions.push(Function {
                    file: fields[6].clone(),
                    name: fields[7].clone(),
                    ccn,
                    tokens,
                });
            }
            continue;
        }
        if line.starts_with("Duplicate block") {
            flush(&mut block, &mut duplicated);
        } else if let Some((_, range)) = line.rsplit_once(':')
            && let Some((a, b)) = range.split_once(" ~ ")
            && let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>())
        {
            block.push(b.saturating_sub(a) + 1);
        }
    }
    flush(&mut block, &mut duplicated);
    (functions, duplicated)
}

/// The fields of one CSV line (quotes, no escaped quotes: lizard writes none).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `ruff check --output-format json`: the number of diagnostics.
pub fn parse_ruff(text: &str) -> Result<u64, String> {
    let start = text.find('[').ok_or("no JSON list in its output")?;
    let end = text.rfind(']').ok_or("no JSON list in its output")?;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&text[start..=end]).map_err(|e| format!("unreadable JSON: {e}"))?;
    Ok(list.len() as u64)
}

/// `cargo clippy --message-format=json`: the warnings with a place in the code (not the
/// "N warnings emitted" summaries), each once.
pub fn parse_clippy(text: &str) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-message" || v["message"]["level"] != "warning" {
            continue;
        }
        let Some(span) = v["message"]["spans"].as_array().and_then(|s| s.first()) else {
            continue;
        };
        seen.insert((
            v["message"]["message"].as_str().unwrap_or("").to_owned(),
            span["file_name"].as_str().unwrap_or("").to_owned(),
            span["line_start"].as_u64().unwrap_or(0),
        ));
    }
    seen.len() as u64
}

/// The last percentage a coverage command printed, in hundredths of a point.
pub fn parse_coverage(text: &str) -> Option<u64> {
    let mut last = None;
    for (i, _) in text.match_indices('%') {
        let digits: String = text[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let (whole, frac) = digits.split_once('.').unwrap_or((&digits, ""));
        let Ok(whole) = whole.parse::<u64>() else {
            continue;
        };
        let frac: String = frac.chars().chain("00".chars()).take(2).collect();
        if let Ok(frac) = frac.parse::<u64>() {
            last = Some(whole * 100 + frac);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lizard_output_is_read() {
        let text = "13,4,93,2,13,\"load@1-13@c.py\",\"c.py\",\"load\",\"load( path , mode )\",1,13\n4,4,38,1,4,\"parse@1-4@b.rs\",\"b.rs\",\"parse\",\"parse s : & str\",1,4\nDuplicates\n===================================\nDuplicate block:\n--------------------------\nc.py:1 ~ 13\nc.py:15 ~ 27\n^^^^^^^^^^^^^^^^^^^^^^^^^^\n\nTotal duplicate rate: 81.61%\n";
        let (f, d) = parse_lizard(text);
        assert_eq!(d, 13);
        assert_eq!(
            f.iter()
                .map(|f| (f.name.as_str(), f.ccn))
                .collect::<Vec<_>>(),
            [("load", 4), ("parse", 4)]
        );
    }

    #[test]
    fn coverage_is_the_last_percentage() {
        assert_eq!(
            parse_coverage("a 50% b\nTOTAL  120  10  91.7%\n"),
            Some(9170)
        );
        assert_eq!(parse_coverage("TOTAL 88%"), Some(8800));
        assert_eq!(parse_coverage("none"), None);
    }

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
