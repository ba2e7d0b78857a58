//! How a call ended, and where its billed usage came from: the ledger's two closed sets of
//! words, as types. Stored as TEXT in exactly these spellings (the schema's `CHECK`
//! constraints list the same ones), and as the same strings in the journal (serde).

use serde::{Deserialize, Serialize};

/// A value read from the ledger that is not one of a column's known words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {column} `{value}` in the ledger; expected one of: {expected}")]
pub struct UnknownValue {
    pub column: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// How a model call ended (`ledger.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// Answered in full.
    Ok,
    /// Refused before any upstream call (no budget left); its row costs nothing. The
    /// default, so that `LedgerRow::default()` is a refusal's row of zeros.
    #[default]
    Refused,
    /// A stream the gateway ended itself because the upstream ignored the output cap.
    Cut,
    /// The upstream failed, answered an error, or sent something unusable.
    UpstreamError,
    /// The client went away mid-stream; settled for what the upstream produced.
    ClientAbort,
    /// The gateway stopped while the call was in flight; billed at its reservation.
    Interrupted,
}

impl CallOutcome {
    /// Every outcome, in the order the docs list them.
    pub const ALL: [Self; 6] = [
        Self::Ok,
        Self::Refused,
        Self::Cut,
        Self::UpstreamError,
        Self::ClientAbort,
        Self::Interrupted,
    ];

    /// The word stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Cut => "cut",
            Self::UpstreamError => "upstream_error",
            Self::ClientAbort => "client_abort",
            Self::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CallOutcome {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownValue {
                column: "outcome",
                value: s.to_string(),
                expected: "ok, refused, cut, upstream_error, client_abort, interrupted",
            })
    }
}

/// Where a row's billed usage came from (`ledger.usage_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The upstream reported it.
    Upstream,
    /// The usage never arrived: billed at the reservation.
    Reserved,
    /// No upstream call produced anything billable. The default (a refusal's row).
    #[default]
    None,
}

impl UsageSource {
    pub const ALL: [Self; 3] = [Self::Upstream, Self::Reserved, Self::None];

    /// The word stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Reserved => "reserved",
            Self::None => "none",
        }
    }
}

impl std::fmt::Display for UsageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for UsageSource {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownValue {
                column: "usage_source",
                value: s.to_string(),
                expected: "upstream, reserved, none",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_round_trips_through_its_word_and_serde() {
        let words: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            words,
            [
                "ok",
                "refused",
                "cut",
                "upstream_error",
                "client_abort",
                "interrupted"
            ]
        );
        for o in CallOutcome::ALL {
            assert_eq!(o.as_str().parse::<CallOutcome>(), Ok(o));
            assert_eq!(
                serde_json::to_value(o).expect("json"),
                serde_json::Value::String(o.as_str().into())
            );
        }
        let words: Vec<&str> = UsageSource::ALL.iter().map(|u| u.as_str()).collect();
        assert_eq!(words, ["upstream", "reserved", "none"]);
        for u in UsageSource::ALL {
            assert_eq!(u.as_str().parse::<UsageSource>(), Ok(u));
            assert_eq!(
                serde_json::to_value(u).expect("json"),
                serde_json::Value::String(u.as_str().into())
            );
        }
    }

    #[test]
    fn an_unknown_word_is_an_error_that_names_the_column_and_the_choices() {
        assert_eq!(
            "OK".parse::<CallOutcome>().map_err(|e| e.to_string()),
            Err("unknown outcome `OK` in the ledger; expected one of: ok, refused, cut, upstream_error, client_abort, interrupted".to_string())
        );
        assert_eq!(
            "billed".parse::<UsageSource>().map_err(|e| e.to_string()),
            Err(
                "unknown usage_source `billed` in the ledger; expected one of: upstream, reserved, none"
                    .to_string()
            )
        );
        assert!(serde_json::from_str::<CallOutcome>("\"cancelled\"").is_err());
    }
}
