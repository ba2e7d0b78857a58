//! `[landing]`: where a job's accepted work goes — its branch, a pull request watched until
//! its checks settle, or the target branch through the merge queue — and how fast.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::raw::RawLanding;
use crate::defaults;
use crate::error::{Source, SpecError};

/// How a job's accepted work lands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LandingMode {
    /// The branch is pushed to the source repository; nothing else.
    #[default]
    Branch,
    /// The branch is pushed and a pull request opened (or updated), then its checks are
    /// watched and failing ones fixed.
    PullRequest,
    /// The merge queue: as `pull_request`, then the green branch rebased onto the target,
    /// re-gated there and landed, one job of a repository at a time. Not built in this
    /// version: the parser refuses it with what to write instead.
    Merge,
}

impl LandingMode {
    /// Whether the job talks to a forge.
    pub fn uses_forge(self) -> bool {
        !matches!(self, Self::Branch)
    }
}

/// `[landing]`, after defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LandingSpec {
    pub mode: LandingMode,
    /// The branch pull requests target (`None`: the forge's default branch).
    pub target: Option<String>,
    pub draft: bool,
    pub labels: Vec<String>,
    pub ci_fix_iterations: u32,
    pub review_fix_iterations: u32,
    pub conflict_fix_iterations: u32,
    pub ci_timeout_ms: u64,
    pub ci_poll_ms: u64,
    pub checks_grace_ms: u64,
    pub max_open_pull_requests: Option<u32>,
    pub pull_requests_per_hour: Option<u32>,
}

impl Eq for LandingSpec {}

impl Default for LandingSpec {
    fn default() -> Self {
        Self {
            mode: LandingMode::Branch,
            target: None,
            draft: false,
            labels: Vec::new(),
            ci_fix_iterations: defaults::CI_FIX_ITERATIONS,
            review_fix_iterations: defaults::REVIEW_FIX_ITERATIONS,
            conflict_fix_iterations: defaults::CONFLICT_FIX_ITERATIONS,
            ci_timeout_ms: minutes_ms(defaults::CI_TIMEOUT_MINUTES),
            ci_poll_ms: secs_ms(defaults::CI_POLL_SECS),
            checks_grace_ms: secs_ms(defaults::CHECKS_GRACE_SECS),
            max_open_pull_requests: None,
            pull_requests_per_hour: None,
        }
    }
}

impl LandingSpec {
    /// Serialized only when a key is off its default, so a spec stored before
    /// `[landing]` had more than `branch` reads the same.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn minutes_ms(m: f64) -> u64 {
    (m * 60_000.0).round() as u64
}

fn secs_ms(s: f64) -> u64 {
    (s * 1000.0).round() as u64
}

/// The branch template and the rest of `[landing]`.
pub(super) fn resolve(
    src: &Source<'_>,
    raw: Option<&RawLanding>,
) -> Result<(String, LandingSpec), SpecError> {
    let template = branch(src, raw)?;
    let Some(raw) = raw else {
        return Ok((template, LandingSpec::default()));
    };
    let d = LandingSpec::default();
    let count =
        |v: &Option<Spanned<u32>>, default: u32| v.as_ref().map_or(default, |v| *v.get_ref());
    let spec = LandingSpec {
        mode: raw.mode.as_ref().map_or(d.mode, |m| *m.get_ref()),
        target: target(src, raw.target.as_ref())?,
        draft: raw.draft.as_ref().is_some_and(|v| *v.get_ref()),
        labels: labels(src, raw.labels.as_ref())?,
        ci_fix_iterations: count(&raw.ci_fix_iterations, d.ci_fix_iterations),
        review_fix_iterations: count(&raw.review_fix_iterations, d.review_fix_iterations),
        conflict_fix_iterations: count(&raw.conflict_fix_iterations, d.conflict_fix_iterations),
        ci_timeout_ms: positive(
            src,
            raw.ci_timeout_minutes.as_ref(),
            "landing.ci_timeout_minutes",
            60_000.0,
        )?
        .unwrap_or(d.ci_timeout_ms),
        ci_poll_ms: positive(
            src,
            raw.ci_poll_secs.as_ref(),
            "landing.ci_poll_secs",
            1000.0,
        )?
        .unwrap_or(d.ci_poll_ms),
        checks_grace_ms: positive(
            src,
            raw.checks_grace_secs.as_ref(),
            "landing.checks_grace_secs",
            1000.0,
        )?
        .unwrap_or(d.checks_grace_ms),
        max_open_pull_requests: src.at_least(
            raw.max_open_pull_requests.as_ref(),
            1,
            "landing.max_open_pull_requests",
        )?,
        pull_requests_per_hour: src.at_least(
            raw.pull_requests_per_hour.as_ref(),
            1,
            "landing.pull_requests_per_hour",
        )?,
    };
    // The merge queue (rebase onto the target's tip, re-gate there, land one at a time) is
    // not built yet: refuse the mode rather than quietly land as a pull request.
    if let Some(mode) = raw.mode.as_ref()
        && *mode.get_ref() == LandingMode::Merge
    {
        return Err(src.invalid_at(
            mode,
            "landing.mode",
            "`merge` (the merge queue) is not built in this version: use `\"pull_request\"`, which ends at `ci_green` for a person or the forge's own merge queue to merge (docs/landing.md)",
        ));
    }
    if spec.mode == LandingMode::Branch {
        let forge_only = [
            ("landing.draft", raw.draft.as_ref().map(|v| v.span().start)),
            (
                "landing.labels",
                raw.labels.as_ref().map(|v| v.span().start),
            ),
            (
                "landing.max_open_pull_requests",
                raw.max_open_pull_requests.as_ref().map(|v| v.span().start),
            ),
            (
                "landing.pull_requests_per_hour",
                raw.pull_requests_per_hour.as_ref().map(|v| v.span().start),
            ),
        ];
        if let Some((key, Some(at))) = forge_only.into_iter().find(|(_, at)| at.is_some()) {
            return Err(src.invalid(
                at,
                key,
                "applies to pull requests only: set `landing.mode = \"pull_request\"`, or remove it",
            ));
        }
    }
    Ok((template, spec))
}

fn branch(src: &Source<'_>, raw: Option<&RawLanding>) -> Result<String, SpecError> {
    let Some(branch) = raw.and_then(|l| l.branch.as_ref()) else {
        return Ok(defaults::BRANCH.to_string());
    };
    let template = branch.get_ref();
    // Mirrors are refreshed from upstream with pruning; only `nightshift/…` branches are
    // kept out of that, so a job branch elsewhere could be pruned away. And the factory
    // force-pushes (with a lease) only to branches it owns: these.
    if !template.starts_with("nightshift/") || !template.contains("{job}") {
        return Err(src.invalid_at(
            branch,
            "landing.branch",
            format!("`{template}` must start with `nightshift/` and contain `{{job}}`"),
        ));
    }
    Ok(template.clone())
}

fn target(src: &Source<'_>, raw: Option<&Spanned<String>>) -> Result<Option<String>, SpecError> {
    let Some(t) = raw else { return Ok(None) };
    let name = t.get_ref();
    let bad = name.is_empty()
        || name.starts_with(['-', '/'])
        || name.starts_with("nightshift/")
        || name.contains("..")
        || name
            .chars()
            .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad {
        return Err(src.invalid_at(
            t,
            "landing.target",
            format!("`{name}` is not a branch pull requests can target (a branch name such as `main`, not one of the factory's `nightshift/…`)"),
        ));
    }
    Ok(Some(name.clone()))
}

fn labels(src: &Source<'_>, raw: Option<&Spanned<Vec<String>>>) -> Result<Vec<String>, SpecError> {
    let Some(l) = raw else { return Ok(Vec::new()) };
    if let Some(bad) = l
        .get_ref()
        .iter()
        .find(|s| s.trim().is_empty() || s.contains(','))
    {
        return Err(src.invalid_at(
            l,
            "landing.labels",
            format!("`{bad}` is not a label: labels are not empty and hold no comma"),
        ));
    }
    Ok(l.get_ref().clone())
}

/// A positive number of units, in milliseconds (`per_unit` milliseconds each).
fn positive(
    src: &Source<'_>,
    raw: Option<&Spanned<f64>>,
    key: &str,
    per_unit: f64,
) -> Result<Option<u64>, SpecError> {
    match raw {
        Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0) => {
            Err(src.invalid_at(v, key, "must be a number above 0"))
        }
        Some(v) => Ok(Some(((v.get_ref() * per_unit).round() as u64).max(1))),
        None => Ok(None),
    }
}
