//! `nightshift.toml`: the store, the gateway's settings, providers and models.
//!
//! `parse` reads the file as written (`raw`), then resolves one section at a time, each in
//! its own module: `[store]`, `[gateway]`, `[[provider]]`, `[[model]]`, `[[forge]]` and `[floor]`. Defaults are
//! declared beside the types they fill: `GatewaySettings::default()`,
//! `StoreConfig::DEFAULT_FILE`, `LocalProvider::DEFAULT_*`, `DEFAULT_LOCAL_MODEL`.

mod floor;
mod forge;
mod gateway;
mod model;
mod provider;
mod raw;
mod store;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Source, SpecError};

/// The whole configuration file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub file: PathBuf,
    pub store: StoreConfig,
    pub gateway: GatewaySettings,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelConfig>,
    pub forges: Vec<ForgeConfig>,
    pub floor: FloorSettings,
}

pub use floor::FloorSettings;
pub use forge::{ForgeApi, ForgeConfig};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `sqlite://PATH` (a relative path resolved against the config file's folder, which
    /// must exist) or `sqlite::memory:`.
    pub url: String,
}

impl StoreConfig {
    /// The database file used when there is no `[store]`, beside the config file.
    pub const DEFAULT_FILE: &str = "nightshift.db";
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

    pub(crate) fn default_base_url(self) -> Option<&'static str> {
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

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        Self::parse(path, &crate::error::read(path)?)
    }

    /// Validate configuration text; `path` is used for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecError> {
        let src = Source::new(path, text);
        let raw: raw::RawConfig = src.deserialize()?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let store = store::resolve(&src, folder, raw.store.as_ref())?;
        let gateway = gateway::resolve(&src, raw.gateway.as_ref())?;
        let providers = provider::resolve(&src, folder, &raw.provider)?;
        let models = model::resolve(&src, &providers, &raw.model)?;
        let forges = forge::resolve(&src, &raw.forge)?;
        let floor = floor::resolve(&src, raw.floor.as_ref())?;
        Ok(Self {
            file: path.to_path_buf(),
            store,
            gateway,
            providers,
            models,
            forges,
            floor,
        })
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub fn forge(&self, name: &str) -> Option<&ForgeConfig> {
        self.forges.iter().find(|f| f.name == name)
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }
}
