//! The shift spec's defaults, declared once. The parser applies them to what a spec leaves
//! out, the JSON Schema publishes them (each key's `"default"`) and `nightshift init`'s
//! scaffold writes them, so the three cannot drift; a test holds the schema to the parser.
//!
//! The configuration file's defaults live beside its types for the same reason:
//! `GatewaySettings::default()`, `StoreConfig::DEFAULT_FILE`, `LocalProvider::DEFAULT_*`
//! and `DEFAULT_LOCAL_MODEL`. The policy checks' defaults (`gates.policy`) are the gates'
//! own (`nightshift_gates::Policy::default()`): the spec passes on only what is written.

/// `recipe.max_turns`: model calls in one iteration.
pub const MAX_TURNS: u32 = 40;
/// `recipe.silence_secs`: seconds an agent CLI may write nothing before it is ended.
pub const SILENCE_SECS: u64 = 300;
/// `recipe.prompt_file_outside`: whether a prompt file may lie outside the spec's folder.
pub const PROMPT_FILE_OUTSIDE: bool = false;
/// `gates.timeout_secs`: a gate command's time limit, unless it sets its own.
pub const GATE_TIMEOUT_SECS: u64 = 600;
/// `gates.policy.allow_test_changes`: whether a change to an existing test assertion is
/// flagged for review rather than a defect.
pub const ALLOW_TEST_CHANGES: bool = false;
/// `gates.secrets.enabled`: whether a change adding a credential-shaped string is a defect.
pub const SECRETS_ENABLED: bool = true;
/// `gates.health.complexity`: whether the changed functions' complexity is measured.
pub const HEALTH_COMPLEXITY: bool = true;
/// `gates.health.duplication`: whether duplicated lines in the changed files are measured.
pub const HEALTH_DUPLICATION: bool = true;
/// `gates.health.tests`: whether the tests in the changed files are counted.
pub const HEALTH_TESTS: bool = true;
/// `gates.review.max_diff_tokens`: the most diff one reviewer call reads.
pub const REVIEW_MAX_DIFF_TOKENS: u32 = 12_000;
/// `gates.review.max_turns`: model calls per reviewed part.
pub const REVIEW_MAX_TURNS: u32 = 4;
/// `stop.max_iterations`: iterations of one job.
pub const MAX_ITERATIONS: u32 = 10;
/// `stop.stall_iterations`: iterations in a row without an accepted change before a job
/// is stalled.
pub const STALL_ITERATIONS: u32 = 3;
/// `run.concurrency`: jobs running at once.
pub const CONCURRENCY: u32 = 4;
/// `landing.branch`: where a job's accepted work lands; `{shift}` and `{job}` are replaced.
pub const BRANCH: &str = "nightshift/{shift}/{job}";
/// `landing.ci_fix_iterations`: iterations a job may spend on its pull request's failing checks.
pub const CI_FIX_ITERATIONS: u32 = 2;
/// `landing.review_fix_iterations`: iterations a job may spend on a review's requested changes.
pub const REVIEW_FIX_ITERATIONS: u32 = 0;
/// `landing.conflict_fix_iterations`: iterations a job may spend redoing a conflicting change.
pub const CONFLICT_FIX_ITERATIONS: u32 = 1;
/// `landing.ci_timeout_minutes`: how long a job watches one head's checks.
pub const CI_TIMEOUT_MINUTES: f64 = 30.0;
/// `landing.ci_poll_secs`: the first wait between two looks at the checks.
pub const CI_POLL_SECS: f64 = 5.0;
/// `landing.checks_grace_secs`: how long a head may show no check before it is taken as
/// having no CI.
pub const CHECKS_GRACE_SECS: f64 = 120.0;
/// `sandbox.processes`: processes (and threads) alive at once in one sandboxed run.
pub const SANDBOX_PROCESSES: u32 = 512;
/// `sandbox.memory_mb`: memory of one sandboxed run, in MiB.
pub const SANDBOX_MEMORY_MB: u64 = 4096;
/// `sandbox.file_mb`: the largest file a sandboxed process may write, in MiB.
pub const SANDBOX_FILE_MB: u64 = 1024;
/// `sandbox.tmp_mb`: the size of a sandboxed run's private `/tmp`, in MiB.
pub const SANDBOX_TMP_MB: u64 = 1024;
/// `sandbox.disk_mb`: the most a worktree may hold, in MiB, before an iteration is a defect.
pub const SANDBOX_DISK_MB: u64 = 20480;

/// `line.defect_window`: how many of the shift's latest judged iterations the line's
/// defect rate is read over.
pub const DEFECT_WINDOW: u32 = 10;
/// `line.spend_window_minutes`: the window the line's spend rate is read over.
pub const SPEND_WINDOW_MINUTES: u32 = 15;
