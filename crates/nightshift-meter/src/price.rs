//! The versioned price book and exact cost arithmetic.

use serde::Deserialize;

use nightshift_spec::money::parse_usd;
use nightshift_spec::{ModelConfig, PriceOverrides};
use nightshift_wire::Usage;

/// Nanodollars per million tokens, per kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    pub input: i64,
    pub output: i64,
    pub cached_input: i64,
    pub cache_write: i64,
    pub reasoning: i64,
}

const MTOK: i128 = 1_000_000;

fn ceil_div(n: i128, d: i128) -> i64 {
    let q = (n + d - 1).div_euclid(d);
    i64::try_from(q).unwrap_or(i64::MAX)
}

impl Price {
    /// Exact cost of a call's usage, rounded up to a whole nanodollar once per call.
    pub fn cost(&self, u: &Usage) -> i64 {
        let cached = u.cached_input_tokens.min(u.input_tokens);
        let written = u.cache_write_tokens.min(u.input_tokens - cached);
        let plain = u.input_tokens - cached - written;
        let reasoning = u.reasoning_tokens.min(u.output_tokens);
        let visible = u.output_tokens - reasoning;
        let total = i128::from(plain) * i128::from(self.input)
            + i128::from(cached) * i128::from(self.cached_input)
            + i128::from(written) * i128::from(self.cache_write)
            + i128::from(visible) * i128::from(self.output)
            + i128::from(reasoning) * i128::from(self.reasoning);
        ceil_div(total, MTOK)
    }

    /// The most one input token can cost (a cache write may cost more than plain input).
    pub fn worst_input(&self) -> i64 {
        self.input.max(self.cache_write)
    }

    /// The most one output token can cost.
    pub fn worst_output(&self) -> i64 {
        self.output.max(self.reasoning)
    }

    /// Cost of `tokens` at `per_mtok`, rounded up.
    pub fn tokens_cost(tokens: u64, per_mtok: i64) -> i64 {
        ceil_div(i128::from(tokens) * i128::from(per_mtok), MTOK)
    }
}

/// A price and the version of the book (and config) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPrice {
    pub price: Price,
    pub version: String,
}

impl ResolvedPrice {
    /// The version recorded for models of a `local` provider.
    pub const LOCAL: &'static str = "local";

    /// A model run in the gateway's own process (a provider of kind `local`): $0 for every
    /// kind of token, said explicitly by the provider's kind rather than by a missing price.
    /// Its calls are still metered: tokens are counted and written to the ledger.
    pub fn local() -> Self {
        Self {
            price: Price::default(),
            version: Self::LOCAL.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PriceBookError {
    #[error("price book {file}: {message}")]
    Invalid { file: String, message: String },
    #[error(
        "model `{model}` (upstream `{upstream}`) has no price: it is not in price book {version} and nightshift.toml sets no {missing}; add input_usd_per_mtok and output_usd_per_mtok to its [[model]] table (0 for a free local model)"
    )]
    Unpriced {
        model: String,
        upstream: String,
        version: String,
        missing: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBook {
    version: String,
    price: Vec<RawEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    model: String,
    #[expect(dead_code, reason = "documentation for people reading the book")]
    provider: String,
    input_usd_per_mtok: String,
    output_usd_per_mtok: String,
    cached_input_usd_per_mtok: Option<String>,
    cache_write_usd_per_mtok: Option<String>,
    reasoning_usd_per_mtok: Option<String>,
    effective_from: String,
    #[expect(dead_code, reason = "documentation for people reading the book")]
    source: String,
}

#[derive(Debug, Clone)]
struct Entry {
    model: String,
    effective_from: String,
    price: Price,
}

/// The versioned price book.
#[derive(Debug, Clone)]
pub struct PriceBook {
    version: String,
    entries: Vec<Entry>,
}

/// The book shipped with this build.
const BUILTIN: &str = include_str!("../data/pricebook.toml");

impl PriceBook {
    pub fn builtin() -> Self {
        // The shipped book is checked by a unit test; a broken one is a build defect.
        Self::parse("builtin pricebook.toml", BUILTIN).unwrap_or_else(|_| Self {
            version: "invalid".into(),
            entries: Vec::new(),
        })
    }

    pub fn parse(file: &str, text: &str) -> Result<Self, PriceBookError> {
        let invalid = |message: String| PriceBookError::Invalid {
            file: file.to_string(),
            message,
        };
        let raw: RawBook = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut entries = Vec::new();
        for e in raw.price {
            let p = |v: &str| parse_usd(v).map_err(|m| invalid(format!("model {}: {m}", e.model)));
            let input = p(&e.input_usd_per_mtok)?;
            let output = p(&e.output_usd_per_mtok)?;
            let price = Price {
                input,
                output,
                cached_input: e
                    .cached_input_usd_per_mtok
                    .as_deref()
                    .map(p)
                    .transpose()?
                    .unwrap_or(input),
                cache_write: e
                    .cache_write_usd_per_mtok
                    .as_deref()
                    .map(p)
                    .transpose()?
                    .unwrap_or(input),
                reasoning: e
                    .reasoning_usd_per_mtok
                    .as_deref()
                    .map(p)
                    .transpose()?
                    .unwrap_or(output),
            };
            entries.push(Entry {
                model: e.model,
                effective_from: e.effective_from,
                price,
            });
        }
        Ok(Self {
            version: raw.version,
            entries,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The price in force on `date` (`YYYY-MM-DD`) for `model`.
    pub fn lookup(&self, model: &str, date: &str) -> Option<Price> {
        self.entries
            .iter()
            .filter(|e| e.model == model && e.effective_from.as_str() <= date)
            .max_by(|a, b| a.effective_from.cmp(&b.effective_from))
            .map(|e| e.price)
    }

    /// The price for a configured model: the book's entry for its upstream name (or its
    /// own name), with the config's overrides on top. Refuses a model with no price.
    pub fn resolve(
        &self,
        model: &ModelConfig,
        date: &str,
    ) -> Result<ResolvedPrice, PriceBookError> {
        let book = self
            .lookup(&model.upstream, date)
            .or_else(|| self.lookup(&model.name, date));
        let o: &PriceOverrides = &model.prices;
        let (price, version) = match book {
            Some(b) => {
                let p = Price {
                    input: o.input.unwrap_or(b.input),
                    output: o.output.unwrap_or(b.output),
                    cached_input: o.cached_input.unwrap_or(b.cached_input),
                    cache_write: o.cache_write.unwrap_or(b.cache_write),
                    reasoning: o.reasoning.unwrap_or(b.reasoning),
                };
                let v = if o.is_empty() {
                    self.version.clone()
                } else {
                    format!("{}+config", self.version)
                };
                (p, v)
            }
            None => {
                let (Some(input), Some(output)) = (o.input, o.output) else {
                    let missing = match (o.input, o.output) {
                        (None, None) => "input_usd_per_mtok or output_usd_per_mtok",
                        (None, _) => "input_usd_per_mtok",
                        _ => "output_usd_per_mtok",
                    };
                    return Err(PriceBookError::Unpriced {
                        model: model.name.clone(),
                        upstream: model.upstream.clone(),
                        version: self.version.clone(),
                        missing: missing.to_string(),
                    });
                };
                let p = Price {
                    input,
                    output,
                    cached_input: o.cached_input.unwrap_or(input),
                    cache_write: o.cache_write.unwrap_or(input),
                    reasoning: o.reasoning.unwrap_or(output),
                };
                (p, "config".to_string())
            }
        };
        Ok(ResolvedPrice { price, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, prices: PriceOverrides) -> ModelConfig {
        ModelConfig {
            name: name.into(),
            provider: "p".into(),
            upstream: name.into(),
            prices,
            max_output_tokens: None,
            fallback: vec![],
        }
    }

    #[test]
    fn the_shipped_book_parses_and_prices_known_models() {
        let book = PriceBook::parse("builtin", BUILTIN).expect("shipped book is valid");
        assert_eq!(book.version(), "2026-11-01");
        let p = book
            .lookup("claude-sonnet-4-5", "2026-11-22")
            .expect("priced");
        assert_eq!(
            p,
            Price {
                input: 3_000_000_000,
                output: 15_000_000_000,
                cached_input: 300_000_000,
                cache_write: 3_750_000_000,
                reasoning: 15_000_000_000
            }
        );
        assert_eq!(
            book.lookup("gemma3-270m", "2026-11-22"),
            Some(Price::default())
        );
        assert_eq!(book.lookup("gpt-5", "2025-01-01"), None, "not yet in force");
    }

    #[test]
    fn cost_prices_every_kind_of_token_once() {
        let p = Price {
            input: 3_000_000_000,
            output: 15_000_000_000,
            cached_input: 300_000_000,
            cache_write: 3_750_000_000,
            reasoning: 15_000_000_000,
        };
        // 1000 prompt tokens of which 600 cache reads and 100 cache writes; 50 out, 20 reasoning.
        let u = Usage {
            input_tokens: 1000,
            cached_input_tokens: 600,
            cache_write_tokens: 100,
            output_tokens: 50,
            reasoning_tokens: 20,
        };
        // 300*3000 + 600*300 + 100*3750 + 30*15000 + 20*15000 nanos
        assert_eq!(p.cost(&u), 900_000 + 180_000 + 375_000 + 450_000 + 300_000);
        // One token at $0.15/Mtok is 150 nanodollars; a third of a nanodollar rounds up.
        let cheap = Price {
            input: 150_000_000,
            output: 600_000_000,
            cached_input: 75_000_000,
            cache_write: 150_000_000,
            reasoning: 600_000_000,
        };
        assert_eq!(
            cheap.cost(&Usage {
                input_tokens: 1,
                ..Usage::default()
            }),
            150
        );
        let tiny = Price {
            input: 333,
            ..Price::default()
        };
        assert_eq!(
            tiny.cost(&Usage {
                input_tokens: 1000,
                ..Usage::default()
            }),
            1
        );
    }

    #[test]
    fn unknown_models_are_refused_not_free() {
        let book = PriceBook::builtin();
        let err = book
            .resolve(&model("mystery-9", PriceOverrides::default()), "2026-11-22")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("model `mystery-9` (upstream `mystery-9`) has no price"),
            "{err}"
        );
        let only_input = PriceOverrides {
            input: Some(1),
            ..Default::default()
        };
        let err = book
            .resolve(&model("mystery-9", only_input), "2026-11-22")
            .unwrap_err();
        assert!(
            err.to_string().contains("sets no output_usd_per_mtok"),
            "{err}"
        );
    }

    #[test]
    fn a_local_model_is_free_and_says_why() {
        let local = ResolvedPrice::local();
        assert_eq!(
            local,
            ResolvedPrice {
                price: Price::default(),
                version: "local".into()
            }
        );
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            ..Usage::default()
        };
        assert_eq!(local.price.cost(&u), 0);
    }

    #[test]
    fn config_overrides_the_book_and_says_so() {
        let book = PriceBook::builtin();
        let r = book
            .resolve(
                &model(
                    "gpt-4o-mini",
                    PriceOverrides {
                        output: Some(1),
                        ..Default::default()
                    },
                ),
                "2026-11-22",
            )
            .expect("priced");
        assert_eq!(r.version, "2026-11-01+config");
        assert_eq!(
            (r.price.input, r.price.output, r.price.cached_input),
            (150_000_000, 1, 75_000_000)
        );
        let r = book
            .resolve(
                &model("gpt-4o-mini", PriceOverrides::default()),
                "2026-11-22",
            )
            .expect("priced");
        assert_eq!(r.version, "2026-11-01");
        let r = book
            .resolve(
                &model(
                    "x",
                    PriceOverrides {
                        input: Some(7),
                        output: Some(9),
                        ..Default::default()
                    },
                ),
                "2026-11-22",
            )
            .expect("priced");
        assert_eq!(
            (r.version.as_str(), r.price.cache_write, r.price.reasoning),
            ("config", 7, 9)
        );
    }
}
