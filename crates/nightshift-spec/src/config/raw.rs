//! `nightshift.toml` as written. Keys a section cannot do without are `Option`s that the
//! section's resolver requires itself, so that a missing one is reported with its key at
//! the table that should hold it.

use serde::Deserialize;
use toml::Spanned;

use super::ProviderKind;
use crate::money::UsdAmount;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub store: Option<RawStore>,
    pub gateway: Option<RawGateway>,
    #[serde(default)]
    pub provider: Vec<RawProvider>,
    #[serde(default)]
    pub model: Vec<RawModel>,
    #[serde(default)]
    pub forge: Vec<RawForge>,
    pub floor: Option<RawFloor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFloor {
    pub listen: Option<Spanned<String>>,
    pub require_token: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForge {
    pub name: Option<Spanned<String>>,
    pub kind: Option<Spanned<super::forge::ForgeApi>>,
    pub api_base: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
    pub hosts: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub url: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub listen: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<usize>>,
    pub max_retries: Option<Spanned<u32>>,
    pub retry_base_ms: Option<Spanned<u64>>,
    pub retry_after_cap_ms: Option<Spanned<u64>>,
    pub connect_timeout_ms: Option<Spanned<u64>>,
    pub request_timeout_ms: Option<Spanned<u64>>,
    pub stream_idle_timeout_ms: Option<Spanned<u64>>,
    pub header_read_timeout_ms: Option<Spanned<u64>>,
    pub body_read_timeout_ms: Option<Spanned<u64>>,
    pub input_bytes_per_token: Option<Spanned<u32>>,
    pub input_overhead_tokens: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    pub name: Option<Spanned<String>>,
    pub kind: Option<Spanned<ProviderKind>>,
    pub base_url: Option<Spanned<String>>,
    pub api_key_env: Option<Spanned<String>>,
    pub model_path: Option<Spanned<String>>,
    pub threads: Option<Spanned<RawThreads>>,
    pub context_tokens: Option<Spanned<u32>>,
    pub max_output_tokens: Option<Spanned<u32>>,
}

/// `threads`: `"auto"` or a count, as written (checked by the provider's resolver).
pub(super) enum RawThreads {
    Count(i64),
    Word(String),
}

/// By hand rather than `untagged`, for a message that says what to write.
impl<'de> Deserialize<'de> for RawThreads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Threads;
        impl serde::de::Visitor<'_> for Threads {
            type Value = RawThreads;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"auto\" or a whole number from 1 to 1024")
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawThreads, E> {
                Ok(RawThreads::Count(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawThreads, E> {
                Ok(RawThreads::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawThreads, E> {
                Ok(RawThreads::Word(v.to_owned()))
            }
        }
        d.deserialize_any(Threads)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub name: Option<Spanned<String>>,
    pub provider: Option<Spanned<String>>,
    pub upstream: Option<String>,
    pub input_usd_per_mtok: Option<Spanned<UsdAmount>>,
    pub output_usd_per_mtok: Option<Spanned<UsdAmount>>,
    pub cached_input_usd_per_mtok: Option<Spanned<UsdAmount>>,
    pub cache_write_usd_per_mtok: Option<Spanned<UsdAmount>>,
    pub reasoning_usd_per_mtok: Option<Spanned<UsdAmount>>,
    pub max_output_tokens: Option<Spanned<u32>>,
    #[serde(default)]
    pub fallback: Vec<Spanned<String>>,
}
