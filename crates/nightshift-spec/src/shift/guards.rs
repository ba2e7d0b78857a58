//! The guardrails beyond the commands: `[gates.secrets]`, `[gates.api]`, `[gates.health]`
//! and `[[gates.review]]`. Each is optional per recipe; only the secrets gate is on unless
//! a spec asks (it is a scan of the added lines, cheap).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::defaults;
use crate::error::{Source, SpecError};

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecrets {
    /// Refuse a change that adds a credential-shaped string (provider keys, private keys,
    /// tokens).
    #[schemars(extend("default" = defaults::SECRETS_ENABLED))]
    pub enabled: Option<bool>,
    /// More rules, in gitleaks' configuration format, added to the shipped ones (a path
    /// relative to this file).
    #[schemars(with = "Option<String>")]
    pub rules: Option<Spanned<String>>,
    /// Globs of paths whose credential-shaped strings are allowed (test fixtures).
    #[schemars(with = "Option<Vec<String>>")]
    pub allow_paths: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    /// Frozen surface: path globs (`src/api/**`), or declarations by their first words
    /// (`pub fn parse`, `def load`): an entry with a space is a declaration.
    #[schemars(with = "Option<Vec<String>>")]
    pub frozen: Option<Vec<Spanned<String>>>,
    /// Freeze every `pub` item of the Rust files a change touches.
    pub rust_public_items: Option<bool>,
    /// Python modules (path globs) whose exported names are frozen.
    #[schemars(with = "Option<Vec<String>>")]
    pub python_modules: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    /// The repository's linters whose warnings are counted: `clippy` (Rust, `cargo clippy`
    /// over the whole workspace) and `ruff` (Python, on the changed files).
    #[schemars(with = "Option<Vec<String>>")]
    pub lint: Option<Vec<Spanned<String>>>,
    /// Cyclomatic complexity of the changed functions (lizard, on the changed files).
    #[schemars(extend("default" = defaults::HEALTH_COMPLEXITY))]
    pub complexity: Option<bool>,
    /// Duplicated lines in the changed files (lizard's duplicate detector).
    #[schemars(extend("default" = defaults::HEALTH_DUPLICATION))]
    pub duplication: Option<bool>,
    /// Tests in the changed files.
    #[schemars(extend("default" = defaults::HEALTH_TESTS))]
    pub tests: Option<bool>,
    /// A command that prints the coverage as a percentage (its last `NN.N%`), run on the
    /// base and on the change.
    pub coverage: Option<String>,
    /// Refuse a change that adds more lint warnings than this.
    #[schemars(with = "Option<u64>")]
    pub max_new_lint_warnings: Option<Spanned<u64>>,
    /// Refuse a change that adds more duplicated lines than this.
    #[schemars(with = "Option<u64>")]
    pub max_duplication_increase_lines: Option<Spanned<u64>>,
    /// Refuse a change that raises the changed functions' summed complexity by more than this.
    #[schemars(with = "Option<u64>")]
    pub max_complexity_increase: Option<Spanned<u64>>,
    /// Refuse a change that lowers the coverage by more than this many percentage points.
    #[schemars(with = "Option<f64>")]
    pub max_coverage_decrease: Option<Spanned<f64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReview {
    /// The gate's name (default `review`, `review-2`, …).
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// The reviewer: any `[[model]]` of the configuration.
    #[schemars(with = "String")]
    pub model: Spanned<String>,
    /// The reviewer's instructions, a file inside this file's folder (default: the shipped
    /// prompt).
    #[schemars(with = "Option<String>")]
    pub prompt_file: Option<Spanned<String>>,
    /// The most diff, in tokens (about four characters each), one reviewer call reads; a
    /// larger diff is reviewed in parts, whole files together where they fit.
    #[schemars(with = "Option<u32>", range(min = 1000))]
    pub max_diff_tokens: Option<Spanned<u32>>,
    /// Model calls per part: reads of the surrounding code before the verdict.
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_turns: Option<Spanned<u32>>,
}

/// `[gates.secrets]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretsSpec {
    pub enabled: bool,
    /// The extra rules: the file's path as written, and its text.
    pub rules: Option<(String, String)>,
    pub allow_paths: Vec<String>,
}

impl SecretsSpec {
    pub fn is_default(&self) -> bool {
        self.enabled == defaults::SECRETS_ENABLED
            && self.rules.is_none()
            && self.allow_paths.is_empty()
    }
}

impl Default for SecretsSpec {
    fn default() -> Self {
        Self {
            enabled: defaults::SECRETS_ENABLED,
            rules: None,
            allow_paths: Vec::new(),
        }
    }
}

/// `[gates.api]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiSpec {
    pub frozen: Vec<String>,
    pub rust_public_items: bool,
    pub python_modules: Vec<String>,
}

/// A linter whose warnings `[gates.health]` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Linter {
    Clippy,
    Ruff,
}

/// `[gates.health]`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSpec {
    pub lint: Vec<Linter>,
    pub complexity: bool,
    pub duplication: bool,
    pub tests: bool,
    pub coverage: Option<String>,
    pub max_new_lint_warnings: Option<u64>,
    pub max_duplication_increase_lines: Option<u64>,
    pub max_complexity_increase: Option<u64>,
    /// Percentage points, in hundredths (exact: `0.5` is 50).
    pub max_coverage_decrease_centi: Option<u64>,
    /// The time limit of each analyser run (the gates' `timeout_secs`).
    pub timeout_secs: u64,
}

impl Eq for HealthSpec {}

/// One `[[gates.review]]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewSpec {
    pub name: String,
    pub model: String,
    /// The recipe's own reviewer prompt, when it has one.
    pub prompt: Option<String>,
    pub max_diff_tokens: u32,
    pub max_turns: u32,
}

pub(super) fn secrets(
    src: &Source<'_>,
    folder: &Path,
    raw: Option<&RawSecrets>,
) -> Result<SecretsSpec, SpecError> {
    let Some(raw) = raw else {
        return Ok(SecretsSpec::default());
    };
    let rules = match &raw.rules {
        None => None,
        Some(f) => {
            let text = super::recipe::file_inside(src, folder, f, false, "gates.secrets.rules")?;
            Some((f.get_ref().clone(), text))
        }
    };
    Ok(SecretsSpec {
        enabled: raw.enabled.unwrap_or(defaults::SECRETS_ENABLED),
        rules,
        allow_paths: super::gates::globs(
            src,
            raw.allow_paths.as_deref(),
            "gates.secrets.allow_paths",
        )?
        .unwrap_or_default(),
    })
}

pub(super) fn api(src: &Source<'_>, raw: Option<&RawApi>) -> Result<Option<ApiSpec>, SpecError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut frozen = Vec::new();
    for f in raw.frozen.iter().flatten() {
        let text = f.get_ref();
        if text.trim().is_empty() {
            return Err(src.invalid_at(f, "gates.api.frozen", "an empty entry freezes nothing: write a path glob (`src/api/**`) or a declaration's first words (`pub fn parse`)"));
        }
        if text.split_whitespace().count() == 1
            && let Err(e) = globset::Glob::new(text)
        {
            return Err(src.invalid_at(f, "gates.api.frozen", format!("bad glob `{text}`: {e}")));
        }
        frozen.push(text.trim().to_owned());
    }
    let python_modules = super::gates::globs(
        src,
        raw.python_modules.as_deref(),
        "gates.api.python_modules",
    )?
    .unwrap_or_default();
    Ok(Some(ApiSpec {
        frozen,
        rust_public_items: raw.rust_public_items.unwrap_or(false),
        python_modules,
    }))
}

pub(super) fn health(
    src: &Source<'_>,
    raw: Option<&RawHealth>,
    timeout_secs: u64,
) -> Result<Option<HealthSpec>, SpecError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut lint = Vec::new();
    for l in raw.lint.iter().flatten() {
        lint.push(match l.get_ref().as_str() {
            "clippy" => Linter::Clippy,
            "ruff" => Linter::Ruff,
            other => {
                return Err(src.invalid_at(
                    l,
                    "gates.health.lint",
                    format!("unknown linter `{other}`: write `clippy` (Rust) or `ruff` (Python)"),
                ));
            }
        });
    }
    let coverage_decrease = match &raw.max_coverage_decrease {
        None => None,
        Some(v) => {
            let points = *v.get_ref();
            if !(0.0..=100.0).contains(&points) {
                return Err(src.invalid_at(
                    v,
                    "gates.health.max_coverage_decrease",
                    "write percentage points between 0 and 100",
                ));
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked to lie in 0..=100 above"
            )]
            Some((points * 100.0).round() as u64)
        }
    };
    if coverage_decrease.is_some() && raw.coverage.is_none() {
        return Err(src.invalid_at(
            raw.max_coverage_decrease
                .as_ref()
                .unwrap_or_else(|| unreachable!()),
            "gates.health.max_coverage_decrease",
            "a coverage threshold needs `coverage`, the command that prints the coverage",
        ));
    }
    let complexity = raw.complexity.unwrap_or(defaults::HEALTH_COMPLEXITY);
    let duplication = raw.duplication.unwrap_or(defaults::HEALTH_DUPLICATION);
    let needs = |on: bool, v: &Option<Spanned<u64>>, key: &str, what: &str| match v {
        Some(v) if !on => Err(src.invalid_at(v, key, format!("this threshold needs {what}"))),
        _ => Ok(v.as_ref().map(|v| *v.get_ref())),
    };
    Ok(Some(HealthSpec {
        max_new_lint_warnings: needs(
            !lint.is_empty(),
            &raw.max_new_lint_warnings,
            "gates.health.max_new_lint_warnings",
            "a linter: `lint = [\"clippy\"]` or `[\"ruff\"]`",
        )?,
        max_duplication_increase_lines: needs(
            duplication,
            &raw.max_duplication_increase_lines,
            "gates.health.max_duplication_increase_lines",
            "`duplication = true`",
        )?,
        max_complexity_increase: needs(
            complexity,
            &raw.max_complexity_increase,
            "gates.health.max_complexity_increase",
            "`complexity = true`",
        )?,
        lint,
        complexity,
        duplication,
        tests: raw.tests.unwrap_or(defaults::HEALTH_TESTS),
        coverage: raw.coverage.clone(),
        max_coverage_decrease_centi: coverage_decrease,
        timeout_secs,
    }))
}

pub(super) fn reviews(
    src: &Source<'_>,
    folder: &Path,
    raw: &[RawReview],
) -> Result<Vec<ReviewSpec>, SpecError> {
    let mut out: Vec<ReviewSpec> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let model = &r.model;
        let prompt = match &r.prompt_file {
            None => None,
            Some(f) => Some(super::recipe::file_inside(
                src,
                folder,
                f,
                false,
                "gates.review.prompt_file",
            )?),
        };
        let name = match &r.name {
            Some(n) => n.get_ref().trim().to_owned(),
            None if i == 0 => "review".to_owned(),
            None => format!("review-{}", i + 1),
        };
        if out.iter().any(|o| o.name == name) || name.is_empty() {
            let at = r.name.as_ref().unwrap_or(model);
            return Err(src.invalid_at(
                at,
                "gates.review.name",
                format!("two reviewers are named `{name}`: give each its own `name`"),
            ));
        }
        out.push(ReviewSpec {
            name,
            model: model.get_ref().clone(),
            prompt,
            max_diff_tokens: src
                .at_least(
                    r.max_diff_tokens.as_ref(),
                    1000,
                    "gates.review.max_diff_tokens",
                )?
                .unwrap_or(defaults::REVIEW_MAX_DIFF_TOKENS),
            max_turns: src
                .at_least(r.max_turns.as_ref(), 1, "gates.review.max_turns")?
                .unwrap_or(defaults::REVIEW_MAX_TURNS),
        });
    }
    Ok(out)
}
