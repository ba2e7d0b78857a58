//! `[fleet]`: repositories (local paths, globs, git URLs) expanded into jobs, then the
//! `[[fleet.override]]` entries applied to them.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::gates::{self, ResolvedGates};
use super::raw::{RawFleet, RawOverride};
use super::recipe::{self, Recipe};
use super::rules::{self, Budget};
use super::{JobSpec, Origin};
use crate::error::{Source, SpecError};
use crate::locate::Seg;

/// What every job starts from.
pub(super) struct Template<'a> {
    pub recipe: &'a Recipe,
    pub gates: &'a ResolvedGates,
    pub budget: &'a Budget,
    pub max_iterations: u32,
}

pub(super) fn jobs(
    src: &Source<'_>,
    folder: &Path,
    raw: Option<&RawFleet>,
    t: &Template<'_>,
) -> Result<Vec<JobSpec>, SpecError> {
    let fleet = src.required(
        raw,
        &[],
        "fleet",
        "the spec has no [fleet]: add one with `repos = [\"PATH\", …]`",
    )?;
    let repos = src.required(
        fleet.repos.as_ref(),
        &[Seg::Key("fleet")],
        "fleet.repos",
        "the fleet needs `repos`: local paths (globs allowed) or git URLs",
    )?;
    if repos.get_ref().is_empty() {
        return Err(src.invalid_at(repos, "fleet.repos", "the fleet has no repositories"));
    }
    let mut jobs: Vec<JobSpec> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for entry in repos.get_ref() {
        for source in sources(src, folder, entry)? {
            let base = job_name(&source);
            let mut name = base.clone();
            let mut n = 2;
            while names.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            names.insert(name.clone());
            jobs.push(job(name, source, t));
        }
    }
    let mut seen = HashSet::new();
    for (index, o) in fleet.overrides.iter().enumerate() {
        apply_override(src, &mut jobs, &mut seen, index, o, t)?;
    }
    Ok(jobs)
}

fn job(name: String, source: String, t: &Template<'_>) -> JobSpec {
    let r = t.recipe;
    JobSpec {
        name,
        source,
        prompt: r.prompt.clone(),
        worker: r.worker,
        command: r.command.clone(),
        model: r.model.clone(),
        model_origin: r.model_origin.clone(),
        max_turns: r.max_turns,
        silence_secs: r.silence_secs,
        gates: t.gates.gates.clone(),
        job_nanos: t.budget.job_nanos,
        max_iterations: t.max_iterations,
        forge: None,
        forge_repo: None,
    }
}

/// The repositories one `repos` entry names: a URL as it is, a path or a glob expanded
/// into the git repositories it matches (absolute paths).
fn sources(
    src: &Source<'_>,
    folder: &Path,
    entry: &Spanned<String>,
) -> Result<Vec<String>, SpecError> {
    const KEY: &str = "fleet.repos";
    let text = entry.get_ref();
    if is_url(text) {
        return Ok(vec![text.clone()]);
    }
    let found = expand(folder, text).map_err(|e| src.invalid_at(entry, KEY, e))?;
    let mut repos = Vec::new();
    for p in found {
        if is_git_repo(&p) {
            repos.push(
                std::path::absolute(&p)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned(),
            );
        } else if !has_glob(text) {
            let why = if p.exists() {
                "is not a git repository"
            } else {
                "does not exist"
            };
            return Err(src.invalid_at(
                entry,
                KEY,
                format!("repository `{text}` ({}) {why}", p.display()),
            ));
        }
    }
    if repos.is_empty() {
        return Err(src.invalid_at(entry, KEY, format!("`{text}` matches no git repository")));
    }
    Ok(repos)
}

/// One `[[fleet.override]]`: settings for the job it names.
fn apply_override(
    src: &Source<'_>,
    jobs: &mut [JobSpec],
    seen: &mut HashSet<String>,
    index: usize,
    o: &RawOverride,
    t: &Template<'_>,
) -> Result<(), SpecError> {
    let repo = src.required(
        o.repo.as_ref(),
        &[Seg::Key("fleet"), Seg::Key("override"), Seg::Index(index)],
        "fleet.override.repo",
        "an override needs `repo`, the job name (the repository's folder name) it applies to",
    )?;
    let target = repo.get_ref();
    let known: BTreeSet<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    if !known.contains(target.as_str()) {
        let known: Vec<&str> = known.into_iter().collect();
        return Err(src.invalid_at(
            repo,
            "fleet.override.repo",
            format!(
                "no repository of the fleet is named `{target}` (names: {})",
                known.join(", ")
            ),
        ));
    }
    if !seen.insert(target.clone()) {
        return Err(src.invalid_at(
            repo,
            "fleet.override.repo",
            format!("`{target}` has two overrides; merge them"),
        ));
    }
    let Some(job) = jobs.iter_mut().find(|j| &j.name == target) else {
        return Ok(());
    };
    if let Some(p) = &o.prompt {
        job.prompt = recipe::override_prompt(src, p)?;
    }
    if let Some(m) = &o.model {
        job.model = m.get_ref().clone();
        job.model_origin = Origin {
            key: "fleet.override.model".into(),
            at: src.at(m.span().start),
        };
    }
    if let Some(u) = &o.job_usd {
        job.job_nanos = rules::usd(src, u, "fleet.override.job_usd")?;
        if job.job_nanos > t.budget.shift_nanos {
            return Err(src.invalid_at(
                u,
                "fleet.override.job_usd",
                "a job's budget cannot exceed the shift's",
            ));
        }
    }
    if let Some(m) = src.at_least(
        o.max_iterations.as_ref(),
        1,
        "fleet.override.max_iterations",
    )? {
        job.max_iterations = m;
    }
    if let Some(f) = &o.forge {
        job.forge = Some(f.get_ref().clone());
    }
    if let Some(r) = &o.forge_repo {
        let path = r.get_ref();
        let segments: Vec<&str> = path.split('/').collect();
        let valid = segments.len() >= 2
            && segments.iter().all(|s| {
                !s.is_empty()
                    && *s != "."
                    && *s != ".."
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            });
        if !valid {
            return Err(src.invalid_at(
                r,
                "fleet.override.forge_repo",
                format!("`{path}` is not a repository path on a forge: write `owner/name` (or `group/subgroup/name`)"),
            ));
        }
        job.forge_repo = Some(path.clone());
    }
    if let Some(g) = &o.gate_commands {
        job.gates.commands =
            gates::commands(src, g, t.gates.timeout_secs, "fleet.override.gate_commands")?;
    }
    Ok(())
}

fn is_url(s: &str) -> bool {
    s.contains("://") || (s.contains('@') && s.contains(':') && !s.starts_with('/'))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn is_git_repo(p: &Path) -> bool {
    p.join(".git").exists() || (p.join("HEAD").is_file() && p.join("objects").is_dir())
}

/// Expand a local path pattern (globs in any of its components) into existing
/// directories. Only the pattern is a pattern: the spec's folder is taken as it is, even
/// when its name holds `[` or `{`.
fn expand(folder: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let pattern_path = Path::new(pattern);
    if !has_glob(pattern) {
        return Ok(vec![folder.join(pattern_path)]);
    }
    // An absolute pattern starts at its root component; a relative one in the folder.
    let start = if pattern_path.is_absolute() {
        PathBuf::new()
    } else {
        folder.to_path_buf()
    };
    let mut current = vec![start];
    for comp in pattern_path.components() {
        let c = comp.as_os_str().to_string_lossy().to_string();
        if !has_glob(&c) {
            current = current.iter().map(|d| d.join(comp.as_os_str())).collect();
            continue;
        }
        let m = globset::Glob::new(&c)
            .map_err(|e| format!("bad glob `{c}`: {e}"))?
            .compile_matcher();
        let mut next = Vec::new();
        for dir in &current {
            let listed = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let Ok(entries) = std::fs::read_dir(listed) else {
                continue;
            };
            let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for name in names {
                let p = dir.join(&name);
                if m.is_match(&name) && p.is_dir() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    Ok(current)
}

fn job_name(source: &str) -> String {
    let last = source
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches(['-', '.']).to_string();
    if clean.is_empty() {
        "repo".into()
    } else {
        clean
    }
}
