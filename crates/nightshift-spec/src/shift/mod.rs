//! The shift spec (`shift.toml`): a fleet of repositories, a recipe, gates, stop rules,
//! a budget and where work lands. Everything is checked before anything runs.
//!
//! `parse` reads the file as written (`raw`), then resolves one section at a time, each
//! in its own function: the recipe (`recipe`), the gates (`gates`), the stop rules, budget,
//! concurrency and landing (`rules`), and last the fleet, which expands into jobs and
//! applies the overrides (`fleet`). Defaults come from [`crate::defaults`].

mod fleet;
mod gates;
mod guards;
mod landing;
mod line;
mod raw;
mod recipe;
mod rules;
mod sandbox;
mod scaffold;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::Config;
use crate::error::{Located, Source, SpecError};

pub use guards::{ApiSpec, HealthSpec, Linter, ReviewSpec, SecretsSpec};
pub use landing::{LandingMode, LandingSpec};
pub use line::LineSpec;
pub use raw::shift_schema;
pub use sandbox::{SandboxMode, SandboxNetwork, SandboxSpec};
pub use scaffold::scaffold;

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

/// Policy checks as written: an unset check takes the gates' default
/// (`nightshift_gates::Policy::default()`); the globs are known to compile.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PolicySpec {
    /// Refuse an iteration whose change is empty (default true).
    pub require_change: Option<bool>,
    /// Refuse deleted or weakened tests: a test removed, an existing assertion removed or altered, a new skip marker; and run the original versions of modified test files against the change (default true).
    pub protect_tests: Option<bool>,
    /// When true, a change that removes or alters an existing test assertion is not a
    /// defect but is flagged for review (default [`crate::defaults::ALLOW_TEST_CHANGES`]).
    // Left out at its default, so the spec of a shift started before the setting existed
    // reads the same: a shift's stored spec is compared with the spec run under its name.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_test_changes: bool,
    /// Globs of test files (default: common layouts of Rust, Python, JS/TS, Go, Java).
    pub test_globs: Option<Vec<String>>,
    /// Globs no iteration may touch (default: .github/**, .nightshift/**, .git/**).
    pub protected_paths: Option<Vec<String>>,
    /// Largest change, in inserted plus deleted lines (default 2000); at least 1.
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
    // The guardrails are left out where they are as a spec without them reads, so the
    // stored spec of a shift started before they existed reads the same.
    #[serde(skip_serializing_if = "SecretsSpec::is_default")]
    pub secrets: SecretsSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<ReviewSpec>,
}

/// Which key of which file set a value, for messages about it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The dotted key, e.g. `recipe.model` or `fleet.override.model`.
    pub key: String,
    pub at: Located,
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
    /// Where `model` was named: the recipe's `model`, or this job's override.
    #[serde(skip)]
    pub model_origin: Origin,
    pub max_turns: u32,
    /// External agent CLIs: seconds without a line of output before the run is taken to be
    /// stuck (waiting for input) and ended.
    pub silence_secs: u64,
    pub gates: Gates,
    pub job_nanos: i64,
    pub max_iterations: u32,
    /// The `[[forge]]` its pull requests live on, by name, when its URL does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forge: Option<String>,
    /// Its path on the forge (`owner/name`), when its URL does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forge_repo: Option<String>,
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
    #[serde(skip_serializing_if = "LandingSpec::is_default")]
    pub landing: LandingSpec,
    #[serde(skip_serializing_if = "SandboxSpec::is_default")]
    pub sandbox: SandboxSpec,
    #[serde(skip_serializing_if = "LineSpec::is_default")]
    pub line: LineSpec,
}

impl ShiftSpec {
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::parse(path, &crate::error::read(path)?)
    }

    /// Validate spec text; `path` is used for messages and for what is relative to it.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecError> {
        let src = Source::new(path, text);
        let raw: raw::RawShift = src.deserialize()?;
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = rules::name(&src, raw.name.as_ref())?;
        let recipe = recipe::resolve(&src, folder, raw.recipe.as_ref())?;
        let gates = gates::resolve(&src, folder, &raw.gates)?;
        let stop = rules::stop(&src, raw.stop.as_ref())?;
        let budget = rules::budget(&src, raw.budget.as_ref())?;
        let concurrency = rules::concurrency(&src, raw.run.as_ref())?;
        let template = fleet::Template {
            recipe: &recipe,
            gates: &gates,
            budget: &budget,
            max_iterations: stop.max_iterations,
        };
        let jobs = fleet::jobs(&src, folder, raw.fleet.as_ref(), &template)?;
        let (branch_template, landing) = landing::resolve(&src, raw.landing.as_ref())?;
        let sandbox = sandbox::resolve(&src, raw.sandbox.as_ref())?;
        let line = line::resolve(&src, raw.line.as_ref())?;
        Ok(Self {
            file: path.to_path_buf(),
            name,
            jobs,
            stop,
            shift_nanos: budget.shift_nanos,
            concurrency,
            branch_template,
            landing,
            sandbox,
            line,
        })
    }

    /// The branch a job's accepted work lands on.
    pub fn branch_for(&self, job: &str) -> String {
        self.branch_template
            .replace("{shift}", &self.name)
            .replace("{job}", job)
    }

    /// Every job's model is one `config` configures; if not, the error points at the key
    /// that named it (the recipe's `model` or the job's override) and lists the models
    /// there are.
    pub fn check_models(&self, config: &Config) -> Result<(), SpecError> {
        let Some(job) = self.jobs.iter().find(|j| config.model(&j.model).is_none()) else {
            return Ok(());
        };
        let configured: Vec<String> = config
            .models
            .iter()
            .map(|m| format!("`{}`", m.name))
            .collect();
        let configured = if configured.is_empty() {
            "none".to_string()
        } else {
            configured.join(", ")
        };
        Err(SpecError::invalid(
            job.model_origin.at.clone(),
            job.model_origin.key.clone(),
            format!(
                "job `{}` asks for model `{}`, which {} does not configure (configured: {configured}); add a [[model]] named `{}` there or name one it has",
                job.name,
                job.model,
                config.file.display(),
                job.model
            ),
        ))
    }
}
