//! How a call ended, and where its billed usage came from: the ledger's two closed sets of
//! words, as types. Stored as TEXT in exactly these spellings, and as the same strings in
//! the journal (serde); a `CHECK` on either column must list the same words.

use serde::{Deserialize, Serialize};

/// A value read from the ledger that is not one of a column's known words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {column} `{value}` in the ledger; expected one of: {expected}")]
pub struct UnknownValue {
    pub column: &'static str,
    pub value: String,
    pub expected: String,
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

/// `ALL`, `as_str`, `Display` and `FromStr` for an enum of ledger words, from its
/// variant-to-word table: one table per column, so a word is spelled once.
macro_rules! ledger_words {
    ($ty:ident, $column:literal, [$($variant:ident => $word:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in the order the docs list them.
            pub const ALL: [Self; [$($word),+].len()] = [$(Self::$variant),+];

            /// The word stored in the ledger.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownValue {
                        column: $column,
                        value: s.to_string(),
                        expected: [$($word),+].join(", "),
                    })
            }
        }
    };
}

ledger_words!(CallOutcome, "outcome", [
    Ok => "ok",
    Refused => "refused",
    Cut => "cut",
    UpstreamError => "upstream_error",
    ClientAbort => "client_abort",
    Interrupted => "interrupted",
]);

ledger_words!(UsageSource, "usage_source", [
    Upstream => "upstream",
    Reserved => "reserved",
    None => "none",
]);

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
