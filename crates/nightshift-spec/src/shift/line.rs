//! `[line]`: the rules by which a shift pauses itself (all off by default). A paused line
//! starts no job and no iteration until a supervisor resumes it (`nightshift resume`, the
//! floor); the pause says which rule fired.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::defaults;
use crate::error::{Source, SpecError};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLine {
    /// Pause the shift when at least this percentage of its last `defect_window` judged
    /// iterations (all jobs together) were defects.
    #[schemars(with = "Option<u32>", range(min = 1, max = 100))]
    pub max_defect_percent: Option<Spanned<u32>>,
    /// How many of the shift's latest judged iterations the defect rate is read over.
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = defaults::DEFECT_WINDOW))]
    pub defect_window: Option<Spanned<u32>>,
    /// Pause the shift when more than this many jobs failed their landing.
    #[schemars(with = "Option<u32>")]
    pub max_failed_landings: Option<Spanned<u32>>,
    /// Pause the shift when it spends faster than this many US dollars an hour, over the
    /// last `spend_window_minutes`.
    #[schemars(with = "Option<f64>")]
    pub max_usd_per_hour: Option<Spanned<crate::money::UsdAmount>>,
    /// The window the spend rate is read over, in minutes.
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = defaults::SPEND_WINDOW_MINUTES))]
    pub spend_window_minutes: Option<Spanned<u32>>,
}

/// The line's rules, after defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineSpec {
    pub max_defect_percent: Option<u32>,
    pub defect_window: u32,
    pub max_failed_landings: Option<u32>,
    /// Nanodollars an hour.
    pub max_nanos_per_hour: Option<i64>,
    pub spend_window_minutes: u32,
}

impl Default for LineSpec {
    fn default() -> Self {
        Self {
            max_defect_percent: None,
            defect_window: defaults::DEFECT_WINDOW,
            max_failed_landings: None,
            max_nanos_per_hour: None,
            spend_window_minutes: defaults::SPEND_WINDOW_MINUTES,
        }
    }
}

impl LineSpec {
    /// Serialized only when a rule is set (a spec stored before `[line]` existed compares
    /// equal to the same spec read now).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

pub(super) fn resolve(src: &Source<'_>, raw: Option<&RawLine>) -> Result<LineSpec, SpecError> {
    let Some(raw) = raw else {
        return Ok(LineSpec::default());
    };
    let max_defect_percent = match &raw.max_defect_percent {
        Some(p) if !(1..=100).contains(p.get_ref()) => {
            return Err(src.invalid_at(
                p,
                "line.max_defect_percent",
                "must be a percentage from 1 to 100",
            ));
        }
        p => p.as_ref().map(|p| *p.get_ref()),
    };
    let defect_window = src
        .at_least(raw.defect_window.as_ref(), 1, "line.defect_window")?
        .unwrap_or(defaults::DEFECT_WINDOW);
    let max_nanos_per_hour = match &raw.max_usd_per_hour {
        Some(v) => Some(match v.get_ref().nanos() {
            Ok(n) if n > 0 => n,
            Ok(_) => {
                return Err(src.invalid_at(
                    v,
                    "line.max_usd_per_hour",
                    "must be more than $0 an hour",
                ));
            }
            Err(e) => return Err(src.invalid_at(v, "line.max_usd_per_hour", e)),
        }),
        None => None,
    };
    let spend_window_minutes = src
        .at_least(
            raw.spend_window_minutes.as_ref(),
            1,
            "line.spend_window_minutes",
        )?
        .unwrap_or(defaults::SPEND_WINDOW_MINUTES);
    Ok(LineSpec {
        max_defect_percent,
        defect_window,
        max_failed_landings: raw.max_failed_landings.as_ref().map(|k| *k.get_ref()),
        max_nanos_per_hour,
        spend_window_minutes,
    })
}
