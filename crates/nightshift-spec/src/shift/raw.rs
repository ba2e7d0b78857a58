//! `shift.toml` as written: what serde reads and what the JSON Schema describes.
//!
//! Keys the spec cannot do without are `Option`s marked `required` for the schema: serde's
//! own "missing field" error has no key and, for some tables, no position, so the parser
//! checks them itself and points at the table that should hold them.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::WorkerKind;
use crate::defaults;
use crate::money::UsdAmount;

/// A shift: a recipe applied to a fleet of repositories under a budget.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nightshift shift spec")]
pub(super) struct RawShift {
    /// The shift's name: letters, digits, `-` and `_`.
    #[schemars(with = "String", required)]
    pub name: Option<Spanned<String>>,
    #[schemars(with = "RawFleet", required)]
    pub fleet: Option<RawFleet>,
    #[schemars(with = "RawRecipe", required)]
    pub recipe: Option<RawRecipe>,
    #[serde(default)]
    pub gates: RawGates,
    pub stop: Option<RawStop>,
    #[schemars(with = "RawBudget", required)]
    pub budget: Option<RawBudget>,
    pub run: Option<RawRun>,
    pub landing: Option<RawLanding>,
    pub sandbox: Option<super::sandbox::RawSandbox>,
    pub line: Option<super::line::RawLine>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFleet {
    /// Local paths (globs allowed, relative to this file) or git URLs.
    #[schemars(with = "Vec<String>", required)]
    pub repos: Option<Spanned<Vec<Spanned<String>>>>,
    /// Settings for some repositories only.
    #[serde(default, rename = "override")]
    pub overrides: Vec<RawOverride>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    /// The job name (the repository's folder name) this override applies to.
    #[schemars(with = "String", required)]
    pub repo: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub prompt: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub model: Option<Spanned<String>>,
    #[schemars(with = "Option<f64>")]
    pub job_usd: Option<Spanned<UsdAmount>>,
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_iterations: Option<Spanned<u32>>,
    pub gate_commands: Option<Vec<RawGateCommand>>,
    /// The `[[forge]]` (by name, from `nightshift.toml`) this repository's pull requests
    /// live on, when its URL does not say.
    #[schemars(with = "Option<String>")]
    pub forge: Option<Spanned<String>>,
    /// The repository's path on the forge (`owner/name`, `group/sub/name`), when its URL
    /// does not say.
    #[schemars(with = "Option<String>")]
    pub forge_repo: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecipe {
    /// The prompt given to every iteration (or `prompt_file`).
    #[schemars(with = "Option<String>")]
    pub prompt: Option<Spanned<String>>,
    /// A file holding the prompt, relative to this file; it must be inside this file's
    /// folder (after `..` and symbolic links) unless `prompt_file_outside` is true.
    #[schemars(with = "Option<String>")]
    pub prompt_file: Option<Spanned<String>>,
    /// Read `prompt_file` even when it lies outside this file's folder. Whatever it holds
    /// is sent to the model's provider.
    #[schemars(with = "Option<bool>", extend("default" = defaults::PROMPT_FILE_OUTSIDE))]
    pub prompt_file_outside: Option<Spanned<bool>>,
    #[schemars(with = "WorkerKind", required)]
    pub worker: Option<Spanned<WorkerKind>>,
    /// For `worker = "command"`: the command line, run with `sh -c` in the worktree.
    pub command: Option<String>,
    /// A model name from the configuration file.
    #[schemars(with = "String", required)]
    pub model: Option<Spanned<String>>,
    /// Most agent turns (model calls) in one iteration.
    #[schemars(
        with = "Option<u32>",
        range(min = 1),
        extend("default" = defaults::MAX_TURNS)
    )]
    pub max_turns: Option<Spanned<u32>>,
    /// For the agent CLIs (`codex`, `claude-code`, `opencode`): end an iteration whose CLI
    /// writes nothing for this many seconds, as stuck waiting for input.
    #[schemars(
        with = "Option<u64>",
        range(min = 1),
        extend("default" = defaults::SILENCE_SECS)
    )]
    pub silence_secs: Option<Spanned<u64>>,
}

/// A gate command: a command line, or a table naming it and its time limit.
#[derive(JsonSchema)]
#[serde(untagged)]
pub(super) enum RawGateCommand {
    /// Run with `sh -c` in the worktree; named by its first three words.
    Line(String),
    Full(RawFullGate),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFullGate {
    /// Shown in reports (default `gate-N`, N its place in the list).
    pub name: Option<String>,
    /// The command line, run with `sh -c` in the worktree.
    pub run: String,
    /// This command's time limit in seconds (default `gates.timeout_secs`).
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub timeout_secs: Option<Spanned<u64>>,
}

/// By hand rather than `untagged`: serde's untagged enums lose the positions of `Spanned`
/// values inside them, and their message ("data did not match any variant") says nothing
/// about what to write.
impl<'de> Deserialize<'de> for RawGateCommand {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Command;
        impl<'de> serde::de::Visitor<'de> for Command {
            type Value = RawGateCommand;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a command line (a string) or a table such as { name = \"tests\", run = \"make test\", timeout_secs = 900 }",
                )
            }
            fn visit_str<E>(self, v: &str) -> Result<RawGateCommand, E> {
                Ok(RawGateCommand::Line(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawGateCommand, A::Error> {
                RawFullGate::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawGateCommand::Full)
            }
        }
        d.deserialize_any(Command)
    }
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGates {
    /// Commands run on every iteration's committed tree (build, tests, lint).
    #[serde(default)]
    pub commands: Vec<RawGateCommand>,
    /// Default time limit of a gate command, in seconds.
    #[schemars(
        with = "Option<u64>",
        range(min = 1),
        extend("default" = defaults::GATE_TIMEOUT_SECS)
    )]
    pub timeout_secs: Option<Spanned<u64>>,
    /// Run when the agent claims done; the job is done only if it passes.
    pub done_check: Option<RawGateCommand>,
    #[serde(default)]
    pub policy: RawPolicy,
    pub secrets: Option<super::guards::RawSecrets>,
    pub api: Option<super::guards::RawApi>,
    pub health: Option<super::guards::RawHealth>,
    /// Reviewer models, each a gate after the commands pass.
    #[serde(default)]
    pub review: Vec<super::guards::RawReview>,
}

/// Policy checks on every iteration's change. Unset keys take the gates' defaults.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    /// Refuse an iteration whose change is empty (default true).
    pub require_change: Option<bool>,
    /// Refuse deleted or weakened tests: a test removed, an existing assertion removed or altered, a new skip marker; and run the original versions of modified test files against the change (default true).
    pub protect_tests: Option<bool>,
    /// When true, a change that removes or alters an existing test assertion is not a defect
    /// but is flagged for review.
    #[schemars(extend("default" = defaults::ALLOW_TEST_CHANGES))]
    pub allow_test_changes: Option<bool>,
    /// Globs of test files (default: common layouts of Rust, Python, JS/TS, Go, Java).
    #[schemars(with = "Option<Vec<String>>")]
    pub test_globs: Option<Vec<Spanned<String>>>,
    /// Globs no iteration may touch (default: .github/**, .nightshift/**, .git/**).
    #[schemars(with = "Option<Vec<String>>")]
    pub protected_paths: Option<Vec<Spanned<String>>>,
    /// Largest change, in inserted plus deleted lines (default 2000).
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub max_changed_lines: Option<Spanned<u64>>,
    /// Refuse changes that bypass git hooks (default true).
    pub forbid_hook_bypass: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStop {
    /// Most iterations of one job.
    #[schemars(
        with = "Option<u32>",
        range(min = 1),
        extend("default" = defaults::MAX_ITERATIONS)
    )]
    pub max_iterations: Option<Spanned<u32>>,
    /// Stop a job after this many minutes of wall-clock time (fractions allowed; no limit
    /// when unset).
    #[schemars(with = "Option<f64>")]
    pub wall_clock_minutes: Option<Spanned<f64>>,
    /// Stop after this many iterations in a row without an accepted change.
    #[schemars(
        with = "Option<u32>",
        range(min = 1),
        extend("default" = defaults::STALL_ITERATIONS)
    )]
    pub stall_iterations: Option<Spanned<u32>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    /// The whole shift's budget in US dollars.
    #[schemars(with = "f64", required)]
    pub shift_usd: Option<Spanned<UsdAmount>>,
    /// Each job's budget in US dollars.
    #[schemars(with = "f64", required)]
    pub job_usd: Option<Spanned<UsdAmount>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    /// Jobs running at once.
    #[schemars(
        with = "Option<u32>",
        range(min = 1),
        extend("default" = defaults::CONCURRENCY)
    )]
    pub concurrency: Option<Spanned<u32>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLanding {
    /// Branch name template; `{shift}` and `{job}` are replaced. It must start with
    /// `nightshift/` and contain `{job}`.
    #[schemars(with = "Option<String>", extend("default" = defaults::BRANCH))]
    pub branch: Option<Spanned<String>>,
    /// `branch` (push the branch), `pull_request` (push and open or update a pull request,
    /// then watch its checks); `merge` (the merge queue) is refused in this version.
    #[schemars(with = "Option<super::landing::LandingMode>")]
    pub mode: Option<Spanned<super::landing::LandingMode>>,
    /// The branch pull requests target (default: the forge's default branch).
    #[schemars(with = "Option<String>")]
    pub target: Option<Spanned<String>>,
    /// Open pull requests as drafts.
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub draft: Option<Spanned<bool>>,
    /// Labels put on every pull request.
    #[schemars(with = "Option<Vec<String>>")]
    pub labels: Option<Spanned<Vec<String>>>,
    /// Iterations a job may spend fixing its pull request's failing checks.
    #[schemars(with = "Option<u32>", extend("default" = defaults::CI_FIX_ITERATIONS))]
    pub ci_fix_iterations: Option<Spanned<u32>>,
    /// Iterations a job may spend answering a review that requests changes (0: the job
    /// stops at `changes_requested`).
    #[schemars(with = "Option<u32>", extend("default" = defaults::REVIEW_FIX_ITERATIONS))]
    pub review_fix_iterations: Option<Spanned<u32>>,
    /// Iterations a job may spend redoing its change on a target branch it conflicts with.
    #[schemars(with = "Option<u32>", extend("default" = defaults::CONFLICT_FIX_ITERATIONS))]
    pub conflict_fix_iterations: Option<Spanned<u32>>,
    /// Minutes to wait for a head's checks to finish before the job stops watching.
    #[schemars(with = "Option<f64>", extend("default" = defaults::CI_TIMEOUT_MINUTES))]
    pub ci_timeout_minutes: Option<Spanned<f64>>,
    /// Seconds between the first two looks at the checks; the wait doubles up to a minute.
    #[schemars(with = "Option<f64>", extend("default" = defaults::CI_POLL_SECS))]
    pub ci_poll_secs: Option<Spanned<f64>>,
    /// Seconds to wait for a head's first check; none by then means the repository has no
    /// CI, and the pull request is taken as green.
    #[schemars(with = "Option<f64>", extend("default" = defaults::CHECKS_GRACE_SECS))]
    pub checks_grace_secs: Option<Spanned<f64>>,
    /// Pull requests of this shift open at once; jobs ready beyond it wait
    /// (`queued_for_landing`).
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_open_pull_requests: Option<Spanned<u32>>,
    /// Pull requests this shift opens in any hour.
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub pull_requests_per_hour: Option<Spanned<u32>>,
}

/// The JSON Schema of `shift.toml`.
pub fn shift_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawShift)).unwrap_or_default()
}
