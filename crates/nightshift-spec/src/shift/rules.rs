//! The shift's name, `[stop]`, `[budget]`, `[run]` and `[landing]`.

use toml::Spanned;

use super::StopRules;
use super::raw::{RawBudget, RawRun, RawStop};
use crate::defaults;
use crate::error::{Source, SpecError};
use crate::locate::Seg;
use crate::money::{self, UsdAmount};

pub(super) fn name(src: &Source<'_>, raw: Option<&Spanned<String>>) -> Result<String, SpecError> {
    let name = src.required(
        raw,
        &[],
        "name",
        "the spec has no `name`: add one such as `name = \"raise-coverage\"` (letters, digits, `-` and `_`)",
    )?;
    let text = name.get_ref();
    if text.is_empty()
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(src.invalid_at(
            name,
            "name",
            format!("`{text}` is not a valid shift name: use letters, digits, `-` and `_`"),
        ));
    }
    Ok(text.clone())
}

pub(super) fn stop(src: &Source<'_>, raw: Option<&RawStop>) -> Result<StopRules, SpecError> {
    let max_iterations = src
        .at_least(
            raw.and_then(|s| s.max_iterations.as_ref()),
            1,
            "stop.max_iterations",
        )?
        .unwrap_or(defaults::MAX_ITERATIONS);
    let stall_iterations = src
        .at_least(
            raw.and_then(|s| s.stall_iterations.as_ref()),
            1,
            "stop.stall_iterations",
        )?
        .unwrap_or(defaults::STALL_ITERATIONS);
    let wall_clock_ms = match raw.and_then(|s| s.wall_clock_minutes.as_ref()) {
        Some(m) if !(m.get_ref().is_finite() && *m.get_ref() > 0.0) => {
            return Err(src.invalid_at(
                m,
                "stop.wall_clock_minutes",
                "must be a number of minutes above 0",
            ));
        }
        // Rounded to the millisecond; a float's fraction of a millisecond means nothing here.
        Some(m) => Some((m.get_ref() * 60_000.0).round() as u64),
        None => None,
    };
    Ok(StopRules {
        max_iterations,
        wall_clock_ms,
        stall_iterations,
    })
}

/// `[budget]`, in nanodollars.
pub(super) struct Budget {
    pub shift_nanos: i64,
    pub job_nanos: i64,
}

pub(super) fn budget(src: &Source<'_>, raw: Option<&RawBudget>) -> Result<Budget, SpecError> {
    let b = src.required(
        raw,
        &[],
        "budget",
        "the spec has no [budget]: add one with `shift_usd` and `job_usd`",
    )?;
    let table = [Seg::Key("budget")];
    let shift = src.required(
        b.shift_usd.as_ref(),
        &table,
        "budget.shift_usd",
        "the budget needs `shift_usd`, the whole shift's budget in dollars",
    )?;
    let job = src.required(
        b.job_usd.as_ref(),
        &table,
        "budget.job_usd",
        "the budget needs `job_usd`, each job's budget in dollars",
    )?;
    let shift_nanos = usd(src, shift, "budget.shift_usd")?;
    let job_nanos = usd(src, job, "budget.job_usd")?;
    if job_nanos > shift_nanos {
        return Err(src.invalid_at(
            job,
            "budget.job_usd",
            format!(
                "a job's budget ({}) cannot exceed the shift's ({})",
                money::format_usd(job_nanos),
                money::format_usd(shift_nanos)
            ),
        ));
    }
    Ok(Budget {
        shift_nanos,
        job_nanos,
    })
}

/// A budget in dollars, as nanodollars above 0.
pub(super) fn usd(src: &Source<'_>, v: &Spanned<UsdAmount>, key: &str) -> Result<i64, SpecError> {
    match v.get_ref().nanos() {
        Ok(n) if n > 0 => Ok(n),
        Ok(_) => Err(src.invalid_at(v, key, "a budget must be more than $0")),
        Err(e) => Err(src.invalid_at(v, key, e)),
    }
}

pub(super) fn concurrency(src: &Source<'_>, raw: Option<&RawRun>) -> Result<usize, SpecError> {
    let n = src
        .at_least(
            raw.and_then(|r| r.concurrency.as_ref()),
            1,
            "run.concurrency",
        )?
        .unwrap_or(defaults::CONCURRENCY);
    Ok(n as usize)
}
