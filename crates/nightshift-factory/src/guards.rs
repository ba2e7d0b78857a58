//! The guardrails beyond the commands, as the factory runs them on an iteration: the
//! `secrets` and `api` gates on the change (with the policy checks), and the `health` gate
//! on the committed tree against its base (after the commands pass).

use std::time::Instant;

use globset::{Glob, GlobSet, GlobSetBuilder};
use nightshift_gates::api::Walls;
use nightshift_gates::health::{self, Analysers, Health, Thresholds, Tools};
use nightshift_gates::secrets::Rules;
use nightshift_gates::{Change, ChangeStatus, GateResult};
use nightshift_git::Worktree;
use nightshift_process::Sandbox;
use nightshift_spec::{Gates, HealthSpec, Linter, SecretsSpec};

use crate::error::FactoryError;

/// The secret rules of a spec: the shipped ones and the recipe's file.
pub fn secret_rules(s: &SecretsSpec) -> Result<Rules, FactoryError> {
    match &s.rules {
        None => Ok(Rules::builtin().clone()),
        Some((file, text)) => Rules::with_file(file, text)
            .map_err(|e| FactoryError::Invalid(format!("gates.secrets.rules: {e}"))),
    }
}

fn allowed(s: &SecretsSpec) -> Result<GlobSet, FactoryError> {
    let mut b = GlobSetBuilder::new();
    for g in &s.allow_paths {
        b.add(
            Glob::new(g)
                .map_err(|e| FactoryError::Invalid(format!("gates.secrets.allow_paths: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| FactoryError::Invalid(format!("gates.secrets.allow_paths: {e}")))
}

/// The `secrets` and `api` gates on `change`, as the spec turns them on (`rules`: the job's
/// secret rules, [`secret_rules`], compiled once for its loop).
pub fn on_change(
    gates: &Gates,
    rules: &Rules,
    change: &Change,
) -> Result<Vec<GateResult>, FactoryError> {
    let mut out = Vec::new();
    if gates.secrets.enabled {
        out.push(nightshift_gates::secrets::check(
            rules,
            change,
            &allowed(&gates.secrets)?,
        ));
    }
    if let Some(api) = &gates.api {
        let mut walls = Walls::from_frozen(&api.frozen);
        walls.rust_public_items = api.rust_public_items;
        walls.python_modules = api.python_modules.clone();
        out.push(
            nightshift_gates::api::check(&walls, change)
                .map_err(|e| FactoryError::Invalid(e.to_string()))?,
        );
    }
    Ok(out)
}

/// The folders the health analysers live in (a virtualenv under the factory user's home,
/// hidden in the sandbox unless bound back read-only): the install's root above `bin/`.
pub fn tool_dirs(gates: &Gates) -> Vec<std::path::PathBuf> {
    if gates.health.is_none() {
        return Vec::new();
    }
    let tools = Tools::find(&|k| std::env::var(k).ok());
    let mut dirs = Vec::new();
    for bin in [tools.lizard, tools.ruff].into_iter().flatten() {
        let real = std::fs::canonicalize(&bin).unwrap_or(bin);
        let Some(dir) = real.parent() else { continue };
        let root = if dir.ends_with("bin") {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        // A virtualenv's interpreter is the Python it was made from (`home` in its
        // `pyvenv.cfg`), which may live under the home too (pyenv).
        if let Ok(cfg) = std::fs::read_to_string(root.join("pyvenv.cfg"))
            && let Some(home) = cfg.lines().find_map(|l| {
                l.strip_prefix("home")
                    .map(|v| v.trim_start_matches([' ', '=']).trim())
            })
        {
            let home = std::path::Path::new(home);
            dirs.push(home.parent().unwrap_or(home).to_path_buf());
        }
        dirs.push(root.to_path_buf());
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn analysers(h: &HealthSpec) -> Analysers {
    Analysers {
        clippy: h.lint.contains(&Linter::Clippy),
        ruff: h.lint.contains(&Linter::Ruff),
        complexity: h.complexity,
        duplication: h.duplication,
        tests: h.tests,
        coverage: h.coverage.clone(),
        timeout: std::time::Duration::from_secs(h.timeout_secs),
    }
}

/// The `health` gate: the analysers on the commit (the worktree as the commands left it),
/// then on the base (the changed files put back as they were), then the worktree back at
/// the commit, however the runs went. Its figures (JSON) go with it.
pub async fn health(
    job: &str,
    wt: &Worktree,
    spec: &HealthSpec,
    change: &Change,
    (base, commit): (&str, &str),
    sandbox: Option<&Sandbox>,
) -> Result<(GateResult, String), FactoryError> {
    let started = Instant::now();
    let git = |source| FactoryError::Git {
        job: job.to_string(),
        source,
    };
    let a = analysers(spec);
    let tools = Tools::find(&|k| std::env::var(k).ok());
    let tag = crate::gating::process_tag(wt.path());
    let new_files: Vec<(String, String)> = change
        .files
        .iter()
        .filter_map(|f| f.new_text.clone().map(|t| (f.path.clone(), t)))
        .collect();
    let old_files: Vec<(String, String)> = change
        .files
        .iter()
        .filter_map(|f| f.old_text.clone().map(|t| (f.old_path().to_owned(), t)))
        .collect();
    let new = health::measure(wt.path(), &new_files, &a, &tools, &tag, sandbox).await;
    // The base: every changed path as it was (an added file goes, a deleted one comes back).
    let mut paths: Vec<&str> = old_files.iter().map(|(p, _)| p.as_str()).collect();
    for f in &change.files {
        if matches!(f.status, ChangeStatus::Added | ChangeStatus::Renamed { .. }) {
            let _ = std::fs::remove_file(wt.path().join(&f.path));
        }
    }
    paths.sort_unstable();
    paths.dedup();
    let restored = if paths.is_empty() {
        Ok(())
    } else {
        wt.restore_from(base, &paths).await
    };
    let old = match restored {
        Ok(()) => Ok(health::measure(wt.path(), &old_files, &a, &tools, &tag, sandbox).await),
        Err(e) => Err(git(e)),
    };
    wt.reset_to(commit).await.map_err(git)?;
    let h = Health::between(&old?, &new);
    let thresholds = Thresholds {
        max_new_lint_warnings: spec.max_new_lint_warnings,
        max_duplication_increase_lines: spec.max_duplication_increase_lines,
        max_complexity_increase: spec.max_complexity_increase,
        max_coverage_decrease_centi: spec.max_coverage_decrease_centi,
    };
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let figures = serde_json::to_string(&h).unwrap_or_default();
    Ok((health::check(&h, &thresholds, ms), figures))
}
