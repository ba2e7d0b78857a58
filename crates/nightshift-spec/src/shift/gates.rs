//! `[gates]`: the commands run on every iteration, the done-check and the policy checks.

use toml::Spanned;

use super::raw::{RawGateCommand, RawGates, RawPolicy};
use super::{GateCommand, Gates, PolicySpec};
use crate::defaults;
use crate::error::{Source, SpecError};

/// The gates, resolved, with the time limit that commands without their own take (an
/// override's `gate_commands` take it too).
pub(super) struct ResolvedGates {
    pub gates: Gates,
    pub timeout_secs: u64,
}

pub(super) fn resolve(
    src: &Source<'_>,
    folder: &std::path::Path,
    raw: &RawGates,
) -> Result<ResolvedGates, SpecError> {
    let timeout_secs = src
        .at_least(raw.timeout_secs.as_ref(), 1, "gates.timeout_secs")?
        .unwrap_or(defaults::GATE_TIMEOUT_SECS);
    let commands = commands(src, &raw.commands, timeout_secs, "gates.commands")?;
    let done_check = match &raw.done_check {
        Some(c) => {
            let mut gate = command(src, c, timeout_secs, 0, "gates.done_check")?;
            if matches!(c, RawGateCommand::Line(_)) {
                gate.name = "done-check".into();
            }
            Some(gate)
        }
        None => None,
    };
    Ok(ResolvedGates {
        gates: Gates {
            commands,
            done_check,
            policy: policy(src, &raw.policy)?,
            secrets: super::guards::secrets(src, folder, raw.secrets.as_ref())?,
            api: super::guards::api(src, raw.api.as_ref())?,
            health: super::guards::health(src, raw.health.as_ref(), timeout_secs)?,
            review: super::guards::reviews(src, folder, &raw.review)?,
        },
        timeout_secs,
    })
}

/// A list of gate commands written under `key`.
pub(super) fn commands(
    src: &Source<'_>,
    list: &[RawGateCommand],
    default_timeout: u64,
    key: &str,
) -> Result<Vec<GateCommand>, SpecError> {
    list.iter()
        .enumerate()
        .map(|(i, c)| command(src, c, default_timeout, i, key))
        .collect()
}

fn command(
    src: &Source<'_>,
    raw: &RawGateCommand,
    default_timeout: u64,
    index: usize,
    key: &str,
) -> Result<GateCommand, SpecError> {
    Ok(match raw {
        RawGateCommand::Line(run) => GateCommand {
            name: run.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            run: run.clone(),
            timeout_secs: default_timeout,
        },
        RawGateCommand::Full(full) => GateCommand {
            name: full
                .name
                .clone()
                .unwrap_or_else(|| format!("gate-{}", index + 1)),
            run: full.run.clone(),
            timeout_secs: src
                .at_least(
                    full.timeout_secs.as_ref(),
                    1,
                    &format!("{key}.timeout_secs"),
                )?
                .unwrap_or(default_timeout),
        },
    })
}

/// `[gates.policy]`: passed on as written, once its globs are known to compile and its
/// numbers to make sense.
fn policy(src: &Source<'_>, raw: &RawPolicy) -> Result<PolicySpec, SpecError> {
    Ok(PolicySpec {
        require_change: raw.require_change,
        protect_tests: raw.protect_tests,
        allow_test_changes: raw
            .allow_test_changes
            .unwrap_or(defaults::ALLOW_TEST_CHANGES),
        test_globs: globs(src, raw.test_globs.as_deref(), "gates.policy.test_globs")?,
        protected_paths: globs(
            src,
            raw.protected_paths.as_deref(),
            "gates.policy.protected_paths",
        )?,
        max_changed_lines: src.at_least(
            raw.max_changed_lines.as_ref(),
            1,
            "gates.policy.max_changed_lines",
        )?,
        forbid_hook_bypass: raw.forbid_hook_bypass,
    })
}

/// Globs, each checked where it is written.
pub(super) fn globs(
    src: &Source<'_>,
    list: Option<&[Spanned<String>]>,
    key: &str,
) -> Result<Option<Vec<String>>, SpecError> {
    let Some(list) = list else { return Ok(None) };
    for glob in list {
        if let Err(e) = globset::Glob::new(glob.get_ref()) {
            return Err(src.invalid_at(glob, key, format!("bad glob `{}`: {e}", glob.get_ref())));
        }
    }
    Ok(Some(list.iter().map(|g| g.get_ref().clone()).collect()))
}
