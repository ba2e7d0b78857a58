//! `nightshift.toml`: the store, the gateway's settings, providers and models.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Located, SpecError};
use crate::money::UsdAmount;

/// The whole configuration file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub file: PathBuf,
    pub store: StoreConfig,
    pub gateway: GatewaySettings,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://PATH` (relative paths are relative to the config file's folder).
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    pub listen: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Attempts after the first for 429, 5xx and connection errors before any byte is relayed.
    pub max_retries: u32,
    /// First backoff; doubles each retry unless the upstream sends `Retry-After`.
    pub retry_base_ms: u64,
    /// Longest `Retry-After` honoured before giving up on that upstream.
    pub retry_after_cap_ms: u64,
    pub connect_timeout_ms: u64,
    /// Time allowed for the upstream's response headers (and, non-streaming, its body).
    pub request_timeout_ms: u64,
    /// Longest silence allowed between two chunks of a stream.
    pub stream_idle_timeout_ms: u64,
    /// Time a client has to send a request's headers (and the most a kept-alive
    /// connection may sit idle); past it the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a request's whole body once its headers are in; past it
    /// the call is answered 408.
    pub body_read_timeout_ms: u64,
    /// Bytes of request body counted as one input token when reserving. 1 is a true upper
    /// bound for byte-level BPE tokenizers, which makes input overshoot impossible.
    pub input_bytes_per_token: u32,
    /// Tokens a provider may add that the body does not show (tool-use system prompts).
    pub input_overhead_tokens: u32,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8787".into(),
            max_body_bytes: 16 * 1024 * 1024,
            max_retries: 2,
            retry_base_ms: 250,
            retry_after_cap_ms: 30_000,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 600_000,
            stream_idle_timeout_ms: 300_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            input_bytes_per_token: 1,
            input_overhead_tokens: 512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// api.openai.com: Chat Completions and Responses.
    Openai,
    /// api.anthropic.com: Messages.
    Anthropic,
    /// Any server speaking OpenAI Chat Completions (vLLM, Ollama, llama-server, OpenRouter).
    OpenaiCompatible,
    /// The test kit's scripted provider: speaks all three formats natively.
    Scripted,
    /// A GGUF model run inside the gateway's process (llama.cpp), spoken to in OpenAI Chat.
    Local,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::OpenaiCompatible => "openai-compatible",
            Self::Scripted => "scripted",
            Self::Local => "local",
        }
    }

    fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Openai => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com/v1"),
            Self::OpenaiCompatible | Self::Scripted | Self::Local => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Up to and including the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The environment variable holding the key; `None` for keyless local servers.
    pub api_key_env: Option<String>,
    /// For kind `local` only: the model file and how to run it.
    pub local: Option<LocalProvider>,
}

/// Where the default local model is, relative to the config file's folder; written there
/// by `scripts/fetch-model.sh` (from the repository root).
pub const DEFAULT_LOCAL_MODEL: &str = ".cache/models/gemma3-270m-q4_k_m.gguf";

/// A provider of kind `local`: a GGUF file run in-process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProvider {
    /// The GGUF file; a relative `model_path` is resolved against the config file's folder.
    pub model_path: PathBuf,
    pub threads: LocalThreads,
    /// Most tokens of prompt plus output in one call; a longer prompt is refused (400).
    pub context_tokens: u32,
    /// Most tokens one answer generates, whatever the request or the budget allows.
    pub max_output_tokens: u32,
}

impl LocalProvider {
    pub const DEFAULT_CONTEXT_TOKENS: u32 = 8192;
    pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 1024;
}

/// How many CPU threads a local model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalThreads {
    /// Chosen before each generation from the cores other processes leave idle.
    Auto,
    Fixed(u32),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawThreads {
    Count(i64),
    Word(String),
}

/// Per-model prices from the config file; each overrides the price book.
/// Values are nanodollars per million tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceOverrides {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cached_input: Option<i64>,
    pub cache_write: Option<i64>,
    pub reasoning: Option<i64>,
}

impl PriceOverrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// The name clients ask for.
    pub name: String,
    pub provider: String,
    /// The name sent upstream.
    pub upstream: String,
    pub prices: PriceOverrides,
    /// The model's own output ceiling, used when a client sets none.
    pub max_output_tokens: Option<u32>,
    /// Models tried, in order, when this one's provider fails before any byte is relayed.
    pub fallback: Vec<String>,
}

// ---- raw, as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<RawStore>,
    gateway: Option<RawGateway>,
    #[serde(default)]
    provider: Vec<RawProvider>,
    #[serde(default)]
    model: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    listen: Option<String>,
    max_body_bytes: Option<usize>,
    max_retries: Option<u32>,
    retry_base_ms: Option<u64>,
    retry_after_cap_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    stream_idle_timeout_ms: Option<u64>,
    header_read_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    input_bytes_per_token: Option<Spanned<u32>>,
    input_overhead_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: Spanned<String>,
    kind: Spanned<ProviderKind>,
    base_url: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    model_path: Option<Spanned<String>>,
    threads: Option<Spanned<RawThreads>>,
    context_tokens: Option<Spanned<u32>>,
    max_output_tokens: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: Spanned<String>,
    provider: Spanned<String>,
    upstream: Option<String>,
    input_usd_per_mtok: Option<Spanned<UsdAmount>>,
    output_usd_per_mtok: Option<Spanned<UsdAmount>>,
    cached_input_usd_per_mtok: Option<Spanned<UsdAmount>>,
    cache_write_usd_per_mtok: Option<Spanned<UsdAmount>>,
    reasoning_usd_per_mtok: Option<Spanned<UsdAmount>>,
    max_output_tokens: Option<u32>,
    #[serde(default)]
    fallback: Vec<Spanned<String>>,
}

/// The settings of a `local` provider, checked; `base_url` and `api_key_env` are refused.
fn local_provider(
    p: &RawProvider,
    path: &Path,
    at: &dyn Fn(usize) -> Located,
) -> Result<LocalProvider, SpecError> {
    let name = p.name.get_ref();
    let refused = [
        ("base_url", p.base_url.as_ref().map(|v| v.span().start)),
        (
            "api_key_env",
            p.api_key_env.as_ref().map(|v| v.span().start),
        ),
    ];
    if let Some((key, Some(offset))) = refused.into_iter().find(|(_, o)| o.is_some()) {
        return Err(SpecError::invalid(
            at(offset),
            format!("provider.{key}"),
            format!(
                "provider `{name}` of kind `local` runs in the gateway's process and takes no `{key}`; for a model server at a URL (Ollama, vLLM, llama-server) use kind `openai-compatible`"
            ),
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let model_path = match &p.model_path {
        Some(v) if v.get_ref().trim().is_empty() => {
            return Err(SpecError::invalid(
                at(v.span().start),
                "provider.model_path".to_string(),
                "model_path is empty; name a GGUF file",
            ));
        }
        Some(v) => base.join(v.get_ref()),
        None => base.join(DEFAULT_LOCAL_MODEL),
    };
    let threads = match &p.threads {
        None => LocalThreads::Auto,
        Some(t) => match t.get_ref() {
            RawThreads::Word(w) if w == "auto" => LocalThreads::Auto,
            RawThreads::Count(n) if (1..=1024).contains(n) => LocalThreads::Fixed(*n as u32),
            _ => {
                return Err(SpecError::invalid(
                    at(t.span().start),
                    "provider.threads".to_string(),
                    "threads is \"auto\" or a whole number from 1 to 1024",
                ));
            }
        },
    };
    let context_tokens = p
        .context_tokens
        .as_ref()
        .map_or(LocalProvider::DEFAULT_CONTEXT_TOKENS, |v| *v.get_ref());
    if context_tokens < 16 {
        let offset = p.context_tokens.as_ref().map_or(0, |v| v.span().start);
        return Err(SpecError::invalid(
            at(offset),
            "provider.context_tokens".to_string(),
            "context_tokens must be at least 16",
        ));
    }
    let max_output_tokens = p.max_output_tokens.as_ref().map_or(
        LocalProvider::DEFAULT_MAX_OUTPUT_TOKENS.min(context_tokens - 1),
        |v| *v.get_ref(),
    );
    if max_output_tokens == 0 || max_output_tokens >= context_tokens {
        let offset = p.max_output_tokens.as_ref().map_or(0, |v| v.span().start);
        return Err(SpecError::invalid(
            at(offset),
            "provider.max_output_tokens".to_string(),
            format!(
                "max_output_tokens must be at least 1 and less than context_tokens ({context_tokens})"
            ),
        ));
    }
    Ok(LocalProvider {
        model_path,
        threads,
        context_tokens,
        max_output_tokens,
    })
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::parse(path, &crate::error::read(path)?)
    }

    /// Validate configuration text; `path` is used for messages and relative store paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecError> {
        let at = |offset: usize| Located::at(path, text, offset);
        let raw: RawConfig = crate::error::from_toml(path, text)?;

        let store = match raw.store {
            Some(s) => {
                let url = s.url.get_ref();
                let Some(rest) = url.strip_prefix("sqlite://") else {
                    return Err(SpecError::invalid(
                        at(s.url.span().start),
                        "store.url".to_string(),
                        format!("`{url}` is not a supported store; write `sqlite://PATH`"),
                    ));
                };
                let p = Path::new(rest);
                let resolved = if p.is_absolute() || rest.starts_with(':') {
                    rest.to_string()
                } else {
                    let base = path.parent().unwrap_or(Path::new("."));
                    base.join(p).to_string_lossy().into_owned()
                };
                StoreConfig {
                    url: format!("sqlite://{resolved}"),
                }
            }
            None => {
                let base = path.parent().unwrap_or(Path::new("."));
                StoreConfig {
                    url: format!("sqlite://{}", base.join("nightshift.db").display()),
                }
            }
        };

        let mut gateway = GatewaySettings::default();
        if let Some(g) = raw.gateway {
            macro_rules! set {
                ($($f:ident),*) => { $( if let Some(v) = g.$f { gateway.$f = v; } )* };
            }
            set!(
                listen,
                max_body_bytes,
                max_retries,
                retry_base_ms,
                retry_after_cap_ms,
                connect_timeout_ms,
                request_timeout_ms,
                stream_idle_timeout_ms,
                header_read_timeout_ms,
                body_read_timeout_ms,
                input_overhead_tokens
            );
            if let Some(b) = g.input_bytes_per_token {
                if *b.get_ref() == 0 {
                    return Err(SpecError::invalid(
                        at(b.span().start),
                        "gateway.input_bytes_per_token".to_string(),
                        "must be at least 1",
                    ));
                }
                gateway.input_bytes_per_token = *b.get_ref();
            }
        }

        let mut providers = Vec::new();
        let mut names = HashSet::new();
        for p in raw.provider {
            let name = p.name.get_ref().clone();
            if !names.insert(name.clone()) {
                return Err(SpecError::invalid(
                    at(p.name.span().start),
                    "provider.name".to_string(),
                    format!(
                        "provider `{name}` is defined twice; give each [[provider]] its own name"
                    ),
                ));
            }
            let kind = *p.kind.get_ref();
            let local = if kind == ProviderKind::Local {
                Some(local_provider(&p, path, &at)?)
            } else {
                // Settings of a local model on a remote provider are a mistake, not a no-op.
                let stray = [
                    ("model_path", p.model_path.as_ref().map(|v| v.span().start)),
                    ("threads", p.threads.as_ref().map(|v| v.span().start)),
                    (
                        "context_tokens",
                        p.context_tokens.as_ref().map(|v| v.span().start),
                    ),
                    (
                        "max_output_tokens",
                        p.max_output_tokens.as_ref().map(|v| v.span().start),
                    ),
                ];
                if let Some((key, Some(offset))) = stray.into_iter().find(|(_, o)| o.is_some()) {
                    return Err(SpecError::invalid(
                        at(offset),
                        format!("provider.{key}"),
                        format!(
                            "`{key}` is a setting of `local` providers; provider `{name}` is of kind `{}`",
                            kind.as_str()
                        ),
                    ));
                }
                None
            };
            let base_url = match (&p.base_url, kind.default_base_url()) {
                (Some(u), _) => {
                    let s = u.get_ref();
                    // A user or password in the URL would be sent nowhere: keys go in
                    // `api_key_env`.
                    let host = s.parse::<http::Uri>().ok().and_then(|uri| {
                        uri.authority()
                            .filter(|a| !a.as_str().contains('@'))
                            .map(|a| a.host().to_string())
                            .filter(|h| !h.is_empty())
                    });
                    if !(s.starts_with("http://") || s.starts_with("https://")) || host.is_none() {
                        return Err(SpecError::invalid(
                            at(u.span().start),
                            "provider.base_url".to_string(),
                            format!(
                                "`{s}` is not an http:// or https:// URL with a host (and no user or password: a key goes in `api_key_env`)"
                            ),
                        ));
                    }
                    s.trim_end_matches('/').to_string()
                }
                (None, Some(d)) => d.to_string(),
                // A local model is called in-process, not at a URL.
                (None, None) if local.is_some() => String::new(),
                (None, None) => {
                    return Err(SpecError::invalid(
                        at(p.name.span().start),
                        "provider.base_url".to_string(),
                        format!(
                            "provider `{name}` of kind `{}` needs a base_url such as http://127.0.0.1:8080/v1",
                            kind.as_str()
                        ),
                    ));
                }
            };
            providers.push(ProviderConfig {
                name,
                kind,
                base_url,
                api_key_env: p.api_key_env.map(Spanned::into_inner),
                local,
            });
        }

        let mut models = Vec::new();
        let mut model_names = HashSet::new();
        for m in &raw.model {
            let name = m.name.get_ref().clone();
            if !model_names.insert(name.clone()) {
                return Err(SpecError::invalid(
                    at(m.name.span().start),
                    "model.name".to_string(),
                    format!("model `{name}` is defined twice"),
                ));
            }
            if !names.contains(m.provider.get_ref()) {
                let known: Vec<_> = providers.iter().map(|p| p.name.as_str()).collect();
                return Err(SpecError::invalid(
                    at(m.provider.span().start),
                    "model.provider".to_string(),
                    format!(
                        "model `{name}` names provider `{}`, which no [[provider]] defines (defined: {})",
                        m.provider.get_ref(),
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            let price =
                |field: &Option<Spanned<UsdAmount>>, key: &str| -> Result<Option<i64>, SpecError> {
                    let Some(v) = field else { return Ok(None) };
                    let parsed = v.get_ref().nanos();
                    match parsed {
                        Ok(n) if n >= 0 => Ok(Some(n)),
                        Ok(_) => Err(SpecError::invalid(
                            at(v.span().start),
                            format!("model.{key}"),
                            "a price cannot be negative",
                        )),
                        Err(e) => Err(SpecError::invalid(
                            at(v.span().start),
                            format!("model.{key}"),
                            e,
                        )),
                    }
                };
            let on_local = providers
                .iter()
                .any(|p| &p.name == m.provider.get_ref() && p.kind == ProviderKind::Local);
            if on_local {
                // Inference on this machine has no bill: such a model is free by its
                // provider's kind, and a price other than 0 would be a mistake.
                let fields = [
                    ("input_usd_per_mtok", &m.input_usd_per_mtok),
                    ("output_usd_per_mtok", &m.output_usd_per_mtok),
                    ("cached_input_usd_per_mtok", &m.cached_input_usd_per_mtok),
                    ("cache_write_usd_per_mtok", &m.cache_write_usd_per_mtok),
                    ("reasoning_usd_per_mtok", &m.reasoning_usd_per_mtok),
                ];
                for (key, field) in fields {
                    if price(field, key)?.is_some_and(|n| n != 0) {
                        let offset = field.as_ref().map_or(0, |v| v.span().start);
                        return Err(SpecError::invalid(
                            at(offset),
                            format!("model.{key}"),
                            format!(
                                "model `{name}` runs on local provider `{}`, which costs $0; remove the price or write 0",
                                m.provider.get_ref()
                            ),
                        ));
                    }
                }
            }
            let prices = PriceOverrides {
                input: price(&m.input_usd_per_mtok, "input_usd_per_mtok")?,
                output: price(&m.output_usd_per_mtok, "output_usd_per_mtok")?,
                cached_input: price(&m.cached_input_usd_per_mtok, "cached_input_usd_per_mtok")?,
                cache_write: price(&m.cache_write_usd_per_mtok, "cache_write_usd_per_mtok")?,
                reasoning: price(&m.reasoning_usd_per_mtok, "reasoning_usd_per_mtok")?,
            };
            models.push(ModelConfig {
                upstream: m.upstream.clone().unwrap_or_else(|| name.clone()),
                name,
                provider: m.provider.get_ref().clone(),
                prices,
                max_output_tokens: m.max_output_tokens,
                fallback: m.fallback.iter().map(|f| f.get_ref().clone()).collect(),
            });
        }
        for m in &raw.model {
            for f in &m.fallback {
                if !model_names.contains(f.get_ref()) {
                    return Err(SpecError::invalid(
                        at(f.span().start),
                        "model.fallback".to_string(),
                        format!(
                            "fallback `{}` is not a [[model]] name in this file",
                            f.get_ref()
                        ),
                    ));
                }
            }
        }

        Ok(Self {
            file: path.to_path_buf(),
            store,
            gateway,
            providers,
            models,
        })
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/ns/nightshift.toml"), text).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[store]
url = "sqlite://ledger.db"

[[provider]]
name = "up"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1/"

[[model]]
name = "small"
provider = "up"
upstream = "small-2026"
input_usd_per_mtok = 0.15
output_usd_per_mtok = "0.60"
"#;

    #[test]
    fn reads_a_good_file() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.store.url, "sqlite:///etc/ns/ledger.db");
        assert_eq!(c.providers[0].base_url, "http://127.0.0.1:9/v1");
        assert_eq!(c.models[0].upstream, "small-2026");
        assert_eq!(c.models[0].prices.input, Some(150_000_000));
        assert_eq!(c.models[0].prices.output, Some(600_000_000));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = GOOD.replace("upstream = ", "upstraem = ");
        let err = parse(&text).unwrap_err();
        assert!(
            err.starts_with("/etc/ns/nightshift.toml:13:1: unknown field `upstraem`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_provider_is_refused_where_it_is_named() {
        let text = GOOD.replace("provider = \"up\"", "provider = \"nope\"");
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err,
            "/etc/ns/nightshift.toml:12:12: model `small` names provider `nope`, which no [[provider]] defines (defined: up) (key `model.provider`)"
        );
    }

    #[test]
    fn bad_price_is_refused() {
        let text = GOOD.replace("\"0.60\"", "\"six\"");
        let err = parse(&text).unwrap_err();
        assert!(
            err.contains(":15:23: `six` is not a dollar amount"),
            "{err}"
        );
        assert!(err.ends_with("(key `model.output_usd_per_mtok`)"), "{err}");
    }

    #[test]
    fn a_base_url_must_be_an_http_url_with_a_host() {
        for bad in [
            "ftp://h/v1",
            "http:///v1",
            "http://exa mple/v1",
            "127.0.0.1:9/v1",
            "https://user:key@h/v1",
        ] {
            let text = GOOD.replace("http://127.0.0.1:9/v1/", bad);
            assert_eq!(
                parse(&text).unwrap_err(),
                format!(
                    "/etc/ns/nightshift.toml:8:12: `{bad}` is not an http:// or https:// URL with a host (and no user or password: a key goes in `api_key_env`) (key `provider.base_url`)"
                )
            );
        }
        let ok = GOOD.replace("http://127.0.0.1:9/v1/", "https://api.example.com/v1");
        assert_eq!(
            parse(&ok).expect("valid").providers[0].base_url,
            "https://api.example.com/v1"
        );
    }

    #[test]
    fn compatible_provider_needs_a_base_url() {
        let text = GOOD.replace("base_url = \"http://127.0.0.1:9/v1/\"\n", "");
        let err = parse(&text).unwrap_err();
        assert!(err.contains("needs a base_url"), "{err}");
    }

    const LOCAL: &str = r#"
[[provider]]
name = "here"
kind = "local"

[[model]]
name = "gemma"
provider = "here"
"#;

    /// The local example with more keys for its provider.
    fn with_local(keys: &str) -> String {
        LOCAL.replace("kind = \"local\"\n", &format!("kind = \"local\"\n{keys}"))
    }

    #[test]
    fn a_local_provider_needs_no_url_key_or_price() {
        let c = parse(LOCAL).expect("valid");
        assert_eq!(
            c.providers[0],
            ProviderConfig {
                name: "here".into(),
                kind: ProviderKind::Local,
                base_url: String::new(),
                api_key_env: None,
                local: Some(LocalProvider {
                    model_path: PathBuf::from("/etc/ns/.cache/models/gemma3-270m-q4_k_m.gguf"),
                    threads: LocalThreads::Auto,
                    context_tokens: 8192,
                    max_output_tokens: 1024,
                }),
            }
        );
        assert!(c.models[0].prices.is_empty(), "free by its provider's kind");
        let set = with_local(
            "model_path = \"m/other.gguf\"\nthreads = 1\ncontext_tokens = 2048\nmax_output_tokens = 256\n",
        );
        let c = parse(&set).expect("valid");
        assert_eq!(
            c.providers[0].local,
            Some(LocalProvider {
                model_path: PathBuf::from("/etc/ns/m/other.gguf"),
                threads: LocalThreads::Fixed(1),
                context_tokens: 2048,
                max_output_tokens: 256,
            })
        );
    }

    #[test]
    fn a_local_provider_refuses_a_url_a_key_and_a_price() {
        let url = with_local("base_url = \"http://x/v1\"\n");
        assert_eq!(
            parse(&url).unwrap_err(),
            "/etc/ns/nightshift.toml:5:12: provider `here` of kind `local` runs in the gateway's process and takes no `base_url`; for a model server at a URL (Ollama, vLLM, llama-server) use kind `openai-compatible` (key `provider.base_url`)"
        );
        let key = with_local("api_key_env = \"K\"\n");
        assert!(
            parse(&key)
                .unwrap_err()
                .ends_with("(key `provider.api_key_env`)")
        );
        let priced = format!("{LOCAL}output_usd_per_mtok = \"1.00\"\n");
        assert_eq!(
            parse(&priced).unwrap_err(),
            "/etc/ns/nightshift.toml:9:23: model `gemma` runs on local provider `here`, which costs $0; remove the price or write 0 (key `model.output_usd_per_mtok`)"
        );
        assert!(
            parse(&format!("{LOCAL}output_usd_per_mtok = 0\n")).is_ok(),
            "0 is fine"
        );
        let threads = with_local("threads = \"many\"\n");
        assert_eq!(
            parse(&threads).unwrap_err(),
            "/etc/ns/nightshift.toml:5:11: threads is \"auto\" or a whole number from 1 to 1024 (key `provider.threads`)"
        );
        let cap = with_local("context_tokens = 100\nmax_output_tokens = 100\n");
        assert!(
            parse(&cap)
                .unwrap_err()
                .contains("less than context_tokens (100)")
        );
    }

    #[test]
    fn local_settings_on_a_remote_provider_are_refused() {
        let text = GOOD.replace("base_url = ", "threads = 2\nbase_url = ");
        assert_eq!(
            parse(&text).unwrap_err(),
            "/etc/ns/nightshift.toml:8:11: `threads` is a setting of `local` providers; provider `up` is of kind `openai-compatible` (key `provider.threads`)"
        );
    }

    /// The README's example must stay a valid configuration.
    #[test]
    fn the_readme_example_is_valid() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("block end");
        let c = parse(&readme[start..end]).expect("README example parses");
        assert_eq!(c.providers.len(), 2);
        assert_eq!(
            c.models[1].prices.input,
            Some(0),
            "an integer price is a price"
        );
        assert_eq!(c.models[0].fallback, ["local-qwen"]);
        assert_eq!(
            c.gateway,
            GatewaySettings::default(),
            "the README shows the defaults"
        );
    }
}
