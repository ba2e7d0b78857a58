//! The shift spec (`shift.toml`): a fleet of repositories, a recipe, gates, stop rules,
//! a budget and where work lands. Everything is checked before anything runs.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Located, SpecError};
use crate::money;
use crate::money::UsdAmount;

/// Which worker runs an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerKind {
    /// The built-in tool-calling agent.
    Builtin,
    /// Any executable (`recipe.command`), run in the worktree.
    Command,
    /// The Codex CLI (`codex exec`), through the gateway's Responses API.
    Codex,
    /// The Claude Code CLI (`claude -p`), through the gateway's Messages API.
    ClaudeCode,
    /// The OpenCode CLI (`opencode run`), through the gateway's Chat Completions API.
    Opencode,
}

impl WorkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Command => "command",
            Self::Codex => "codex",
            Self::ClaudeCode => "claude-code",
            Self::Opencode => "opencode",
        }
    }
}

/// A command gate, resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GateCommand {
    pub name: String,
    pub run: String,
    pub timeout_secs: u64,
}

/// Policy checks, as written (defaults applied by the gates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Refuse an iteration whose change is empty (default true).
    pub require_change: Option<bool>,
    /// Refuse deleted or weakened tests: fewer test functions or assertions, new skip markers (default true).
    pub protect_tests: Option<bool>,
    /// Globs of test files (default: common layouts of Rust, Python, JS/TS, Go, Java).
    pub test_globs: Option<Vec<String>>,
    /// Globs no iteration may touch (default: .github/**, .nightshift/**, .git/**).
    pub protected_paths: Option<Vec<String>>,
    /// Largest change, in inserted plus deleted lines (default 2000).
    pub max_changed_lines: Option<u64>,
    /// Refuse changes that bypass git hooks (default true).
    pub forbid_hook_bypass: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gates {
    pub commands: Vec<GateCommand>,
    /// Runs only when the agent claims the work is done; must pass for the job to be done.
    pub done_check: Option<GateCommand>,
    pub policy: PolicySpec,
}

/// One job: a repository of the fleet with its recipe after overrides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobSpec {
    /// Unique within the shift; used in branch and ref names.
    pub name: String,
    /// An absolute local path or a git URL.
    pub source: String,
    pub prompt: String,
    pub worker: WorkerKind,
    pub command: Option<String>,
    pub model: String,
    pub max_turns: u32,
    /// External agent CLIs: seconds without a line of output before the run is taken to be
    /// stuck (waiting for input) and ended.
    pub silence_secs: u64,
    pub gates: Gates,
    pub job_nanos: i64,
    pub max_iterations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StopRules {
    pub max_iterations: u32,
    /// Milliseconds a job may run (from `wall_clock_minutes`, which may be fractional).
    pub wall_clock_ms: Option<u64>,
    /// Stop after this many iterations in a row without an accepted change.
    pub stall_iterations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShiftSpec {
    pub file: PathBuf,
    pub name: String,
    pub jobs: Vec<JobSpec>,
    pub stop: StopRules,
    pub shift_nanos: i64,
    pub concurrency: usize,
    /// Branch name template: `{shift}` and `{job}` are replaced.
    pub branch_template: String,
}

// ---- as written ----

/// A shift: a recipe applied to a fleet of repositories under a budget.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nightshift shift spec")]
struct RawShift {
    /// The shift's name: letters, digits, `-` and `_`.
    #[schemars(with = "String")]
    name: Spanned<String>,
    fleet: RawFleet,
    recipe: RawRecipe,
    #[serde(default)]
    gates: RawGates,
    stop: Option<RawStop>,
    budget: RawBudget,
    run: Option<RawRun>,
    landing: Option<RawLanding>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    /// Local paths (globs allowed, relative to this file) or git URLs.
    #[schemars(with = "Vec<String>")]
    repos: Spanned<Vec<Spanned<String>>>,
    /// Settings for some repositories only.
    #[serde(default, rename = "override")]
    overrides: Vec<RawOverride>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    /// The job name (the repository's folder name) this override applies to.
    #[schemars(with = "String")]
    repo: Spanned<String>,
    prompt: Option<String>,
    model: Option<String>,
    #[schemars(with = "Option<f64>")]
    job_usd: Option<Spanned<UsdAmount>>,
    max_iterations: Option<u32>,
    gate_commands: Option<Vec<RawGateCommand>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    /// The prompt given to every iteration (or `prompt_file`).
    prompt: Option<String>,
    /// A file holding the prompt, relative to this file.
    #[schemars(with = "Option<String>")]
    prompt_file: Option<Spanned<String>>,
    #[schemars(with = "WorkerKind")]
    worker: Spanned<WorkerKind>,
    /// For `worker = "command"`: the command line, run with `sh -c` in the worktree.
    command: Option<String>,
    /// A model name from the configuration file.
    model: String,
    /// Most agent turns (model calls) in one iteration (default 40).
    max_turns: Option<u32>,
    /// For the agent CLIs (`codex`, `claude-code`, `opencode`): end an iteration whose CLI
    /// writes nothing for this many seconds, as stuck waiting for input (default 300).
    #[schemars(with = "Option<u64>")]
    silence_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum RawGateCommand {
    Line(String),
    Full {
        name: Option<String>,
        run: String,
        timeout_secs: Option<u64>,
    },
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct RawGates {
    /// Commands run on every iteration's committed tree (build, tests, lint).
    #[serde(default)]
    commands: Vec<RawGateCommand>,
    /// Default timeout of a gate command, in seconds (default 600).
    timeout_secs: Option<u64>,
    /// Run when the agent claims done; the job is done only if it passes.
    done_check: Option<RawGateCommand>,
    #[serde(default)]
    policy: PolicySpec,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawStop {
    #[schemars(with = "Option<u32>")]
    max_iterations: Option<Spanned<u32>>,
    /// Stop a job after this many minutes of wall-clock time (fractions allowed).
    #[schemars(with = "Option<f64>")]
    wall_clock_minutes: Option<Spanned<f64>>,
    /// Stop after this many iterations in a row without an accepted change (default 3).
    stall_iterations: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    /// The whole shift's budget in US dollars.
    #[schemars(with = "f64")]
    shift_usd: Spanned<UsdAmount>,
    /// Each job's budget in US dollars.
    #[schemars(with = "f64")]
    job_usd: Spanned<UsdAmount>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRun {
    /// Jobs running at once (default 4).
    #[schemars(with = "Option<u32>")]
    concurrency: Option<Spanned<u32>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLanding {
    /// Branch name template; `{shift}` and `{job}` are replaced (default `nightshift/{shift}/{job}`).
    branch: Option<String>,
}

/// The JSON Schema of `shift.toml`.
pub fn shift_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawShift)).unwrap_or_default()
}

const DEFAULT_GATE_TIMEOUT: u64 = 600;

fn usd(v: &Spanned<UsdAmount>, key: &str, at: &dyn Fn(usize) -> Located) -> Result<i64, SpecError> {
    let parsed = v.get_ref().nanos();
    match parsed {
        Ok(n) if n > 0 => Ok(n),
        Ok(_) => Err(SpecError::invalid(
            at(v.span().start),
            key.to_string(),
            "a budget must be more than $0",
        )),
        Err(e) => Err(SpecError::invalid(at(v.span().start), key.to_string(), e)),
    }
}

fn gate_command(raw: &RawGateCommand, default_timeout: u64, index: usize) -> GateCommand {
    match raw {
        RawGateCommand::Line(run) => GateCommand {
            name: run.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            run: run.clone(),
            timeout_secs: default_timeout,
        },
        RawGateCommand::Full {
            name,
            run,
            timeout_secs,
        } => GateCommand {
            name: name
                .clone()
                .unwrap_or_else(|| format!("gate-{}", index + 1)),
            run: run.clone(),
            timeout_secs: timeout_secs.unwrap_or(default_timeout),
        },
    }
}

fn is_url(s: &str) -> bool {
    s.contains("://") || (s.contains('@') && s.contains(':') && !s.starts_with('/'))
}

fn is_git_repo(p: &Path) -> bool {
    p.join(".git").exists() || (p.join("HEAD").is_file() && p.join("objects").is_dir())
}

/// Expand a local path pattern (globs in any component) into existing directories.
fn expand(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = base.join(pattern);
    let has_glob = |s: &str| s.contains(['*', '?', '[', '{']);
    if !has_glob(pattern) {
        return Ok(vec![path]);
    }
    let mut current = vec![PathBuf::new()];
    for comp in path.components() {
        let c = comp.as_os_str().to_string_lossy().to_string();
        let mut next = Vec::new();
        if has_glob(&c) {
            let m = globset::Glob::new(&c)
                .map_err(|e| format!("bad glob `{c}`: {e}"))?
                .compile_matcher();
            for dir in &current {
                let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }) else {
                    continue;
                };
                let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
                names.sort();
                for name in names {
                    if m.is_match(&name) {
                        let p = dir.join(&name);
                        if p.is_dir() {
                            next.push(p);
                        }
                    }
                }
            }
        } else {
            next = current.iter().map(|d| d.join(comp.as_os_str())).collect();
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

impl ShiftSpec {
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::parse(path, &crate::error::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecError> {
        let at = |offset: usize| Located::at(path, text, offset);
        let raw: RawShift = crate::error::from_toml(path, text)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));

        let name = raw.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SpecError::invalid(
                at(raw.name.span().start),
                "name".to_string(),
                format!("`{name}` is not a valid shift name: use letters, digits, `-` and `_`"),
            ));
        }

        // Recipe.
        let r = &raw.recipe;
        let prompt = match (&r.prompt, &r.prompt_file) {
            (Some(p), None) => p.clone(),
            (None, Some(f)) => {
                let file = base.join(f.get_ref());
                std::fs::read_to_string(&file).map_err(|e| {
                    SpecError::invalid(
                        at(f.span().start),
                        "recipe.prompt_file".to_string(),
                        format!("cannot read prompt file {}: {e}", file.display()),
                    )
                })?
            }
            (Some(_), Some(f)) => {
                return Err(SpecError::invalid(
                    at(f.span().start),
                    "recipe.prompt_file".to_string(),
                    "give either `prompt` or `prompt_file`, not both",
                ));
            }
            (None, None) => {
                return Err(SpecError::invalid(
                    at(raw.recipe.worker.span().start),
                    "recipe.prompt".to_string(),
                    "the recipe needs a `prompt` (or a `prompt_file`)",
                ));
            }
        };
        if prompt.trim().is_empty() {
            return Err(SpecError::invalid(
                at(raw.recipe.worker.span().start),
                "recipe.prompt".to_string(),
                "the prompt is empty",
            ));
        }
        let worker = *r.worker.get_ref();
        match worker {
            WorkerKind::Builtin => {}
            WorkerKind::Command if r.command.as_deref().is_some_and(|c| !c.trim().is_empty()) => {}
            WorkerKind::Command => {
                return Err(SpecError::invalid(
                    at(r.worker.span().start),
                    "recipe.command".to_string(),
                    "worker `command` needs `command = \"…\"`, the command line to run in the worktree",
                ));
            }
            WorkerKind::Codex | WorkerKind::ClaudeCode | WorkerKind::Opencode => {}
        }
        let silence_secs = match &r.silence_secs {
            Some(v) if *v.get_ref() == 0 => {
                return Err(SpecError::invalid(
                    at(v.span().start),
                    "recipe.silence_secs".to_string(),
                    "must be at least 1",
                ));
            }
            Some(v) => *v.get_ref(),
            None => 300,
        };

        // Gates.
        let timeout = raw.gates.timeout_secs.unwrap_or(DEFAULT_GATE_TIMEOUT);
        let commands: Vec<GateCommand> = raw
            .gates
            .commands
            .iter()
            .enumerate()
            .map(|(i, c)| gate_command(c, timeout, i))
            .collect();
        let gates = Gates {
            commands,
            done_check: raw.gates.done_check.as_ref().map(|c| {
                let mut g = gate_command(c, timeout, 0);
                if matches!(c, RawGateCommand::Line(_)) {
                    g.name = "done-check".into();
                }
                g
            }),
            policy: raw.gates.policy.clone(),
        };
        for glob in gates
            .policy
            .test_globs
            .iter()
            .flatten()
            .chain(gates.policy.protected_paths.iter().flatten())
        {
            if let Err(e) = globset::Glob::new(glob) {
                return Err(SpecError::invalid(
                    at(0),
                    "gates.policy".to_string(),
                    format!("bad glob `{glob}`: {e}"),
                ));
            }
        }

        // Stop rules.
        let stop = raw.stop.as_ref();
        let max_iterations = match stop.and_then(|s| s.max_iterations.as_ref()) {
            Some(m) if *m.get_ref() == 0 => {
                return Err(SpecError::invalid(
                    at(m.span().start),
                    "stop.max_iterations".to_string(),
                    "must be at least 1",
                ));
            }
            Some(m) => *m.get_ref(),
            None => 10,
        };
        let stop = StopRules {
            max_iterations,
            wall_clock_ms: match stop.and_then(|s| s.wall_clock_minutes.as_ref()) {
                Some(m) if !(m.get_ref().is_finite() && *m.get_ref() > 0.0) => {
                    return Err(SpecError::invalid(
                        at(m.span().start),
                        "stop.wall_clock_minutes".to_string(),
                        "must be a number of minutes above 0",
                    ));
                }
                Some(m) => Some((m.get_ref() * 60_000.0).round() as u64),
                None => None,
            },
            stall_iterations: stop.and_then(|s| s.stall_iterations).unwrap_or(3).max(1),
        };

        // Budget.
        let shift_nanos = usd(&raw.budget.shift_usd, "budget.shift_usd", &at)?;
        let job_nanos = usd(&raw.budget.job_usd, "budget.job_usd", &at)?;
        if job_nanos > shift_nanos {
            return Err(SpecError::invalid(
                at(raw.budget.job_usd.span().start),
                "budget.job_usd".to_string(),
                format!(
                    "a job's budget ({}) cannot exceed the shift's ({})",
                    money::format_usd(job_nanos),
                    money::format_usd(shift_nanos)
                ),
            ));
        }
        let concurrency = match raw.run.as_ref().and_then(|r| r.concurrency.as_ref()) {
            Some(c) if *c.get_ref() == 0 => {
                return Err(SpecError::invalid(
                    at(c.span().start),
                    "run.concurrency".to_string(),
                    "must be at least 1",
                ));
            }
            Some(c) => *c.get_ref() as usize,
            None => 4,
        };

        // Fleet.
        let mut jobs: Vec<JobSpec> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        if raw.fleet.repos.get_ref().is_empty() {
            return Err(SpecError::invalid(
                at(raw.fleet.repos.span().start),
                "fleet.repos".to_string(),
                "the fleet has no repositories",
            ));
        }
        for entry in raw.fleet.repos.get_ref() {
            let text_entry = entry.get_ref();
            let sources: Vec<String> = if is_url(text_entry) {
                vec![text_entry.clone()]
            } else {
                let found = expand(base, text_entry).map_err(|e| {
                    SpecError::invalid(at(entry.span().start), "fleet.repos".to_string(), e)
                })?;
                let is_glob = text_entry.contains(['*', '?', '[', '{']);
                let mut repos = Vec::new();
                for p in found {
                    if is_git_repo(&p) {
                        repos.push(
                            std::path::absolute(&p)
                                .unwrap_or(p)
                                .to_string_lossy()
                                .into_owned(),
                        );
                    } else if !is_glob {
                        let why = if p.exists() {
                            "is not a git repository"
                        } else {
                            "does not exist"
                        };
                        return Err(SpecError::invalid(
                            at(entry.span().start),
                            "fleet.repos".to_string(),
                            format!("repository `{text_entry}` ({}) {why}", p.display()),
                        ));
                    }
                }
                if repos.is_empty() {
                    return Err(SpecError::invalid(
                        at(entry.span().start),
                        "fleet.repos".to_string(),
                        format!("`{text_entry}` matches no git repository"),
                    ));
                }
                repos
            };
            for source in sources {
                let mut name = job_name(&source);
                let mut n = 2;
                while names.contains(&name) {
                    name = format!("{}-{n}", job_name(&source));
                    n += 1;
                }
                names.insert(name.clone());
                jobs.push(JobSpec {
                    name,
                    source,
                    prompt: prompt.clone(),
                    worker,
                    command: r.command.clone(),
                    model: r.model.clone(),
                    max_turns: r.max_turns.unwrap_or(40),
                    silence_secs,
                    gates: gates.clone(),
                    job_nanos,
                    max_iterations,
                });
            }
        }
        let mut seen_overrides = BTreeMap::new();
        for o in &raw.fleet.overrides {
            let target = o.repo.get_ref();
            let Some(job) = jobs.iter_mut().find(|j| &j.name == target) else {
                let known: Vec<_> = names
                    .iter()
                    .map(String::as_str)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                return Err(SpecError::invalid(
                    at(o.repo.span().start),
                    "fleet.override.repo".to_string(),
                    format!(
                        "no repository of the fleet is named `{target}` (names: {})",
                        known.join(", ")
                    ),
                ));
            };
            if seen_overrides.insert(target.clone(), ()).is_some() {
                return Err(SpecError::invalid(
                    at(o.repo.span().start),
                    "fleet.override.repo".to_string(),
                    format!("`{target}` has two overrides; merge them"),
                ));
            }
            if let Some(p) = &o.prompt {
                job.prompt = p.clone();
            }
            if let Some(m) = &o.model {
                job.model = m.clone();
            }
            if let Some(u) = &o.job_usd {
                job.job_nanos = usd(u, "fleet.override.job_usd", &at)?;
                if job.job_nanos > shift_nanos {
                    return Err(SpecError::invalid(
                        at(u.span().start),
                        "fleet.override.job_usd".to_string(),
                        "a job's budget cannot exceed the shift's",
                    ));
                }
            }
            if let Some(m) = o.max_iterations {
                job.max_iterations = m.max(1);
            }
            if let Some(g) = &o.gate_commands {
                job.gates.commands = g
                    .iter()
                    .enumerate()
                    .map(|(i, c)| gate_command(c, timeout, i))
                    .collect();
            }
        }

        let branch_template = raw
            .landing
            .and_then(|l| l.branch)
            .unwrap_or_else(|| "nightshift/{shift}/{job}".to_string());
        // Mirrors are refreshed from upstream with pruning; only `nightshift/…` branches are
        // kept out of that, so a job branch elsewhere could be pruned away.
        if !branch_template.starts_with("nightshift/") || !branch_template.contains("{job}") {
            return Err(SpecError::invalid(
                at(text.find("branch").unwrap_or(0)),
                "landing.branch".to_string(),
                format!("`{branch_template}` must start with `nightshift/` and contain `{{job}}`"),
            ));
        }
        Ok(Self {
            file: path.to_path_buf(),
            name,
            jobs,
            stop,
            shift_nanos,
            concurrency,
            branch_template,
        })
    }

    /// The branch a job's accepted work lands on.
    pub fn branch_for(&self, job: &str) -> String {
        self.branch_template
            .replace("{shift}", &self.name)
            .replace("{job}", job)
    }
}

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
max_turns = 40

[gates]
commands = []          # e.g. ["cargo test --quiet"] or [{{ name = "tests", run = "pytest -q", timeout_secs = 900 }}]
timeout_secs = 600

[stop]
max_iterations = 10
stall_iterations = 3

[budget]
shift_usd = 10.00
job_usd = 2.00

[run]
concurrency = 4

[landing]
branch = "nightshift/{{shift}}/{{job}}"
"#
    )
}
