//! The script: what the scripted provider answers, one step per model request.
//!
//! Scripts are plain serde types, so they can be built in Rust or loaded from TOML or JSON
//! files (see [`Script::load`]). Every field of a [`Step`] is optional; unknown fields are
//! rejected so that a typo in a script file is an error rather than a silently ignored line.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A sequence of scripted responses.
///
/// Each model request (any format) consumes the next step. When the steps run out the provider
/// starts over if `cycle` is set, and otherwise answers `500` with an error saying that the
/// script is exhausted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Script {
    /// The responses, in order.
    pub steps: Vec<Step>,
    /// Start over from the first step when the steps run out.
    pub cycle: bool,
}

/// One scripted response.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Step {
    /// Assistant text. Split into output "tokens" at word boundaries (each word with the
    /// whitespace after it is one token) unless `chunks` is given.
    pub text: Option<String>,
    /// Explicit output tokens (stream deltas). When given, the text is their concatenation
    /// and `text` is ignored.
    pub chunks: Option<Vec<String>>,
    /// Tool calls, rendered in each format's native shape.
    pub tool_calls: Vec<ToolCall>,
    /// Token usage to report.
    pub usage: Usage,
    /// Delay before the response headers, in milliseconds.
    pub delay_ms: u64,
    /// Delay between stream events, in milliseconds.
    pub chunk_delay_ms: u64,
    /// Answer with this HTTP error instead of a completion.
    pub error: Option<ScriptedError>,
    /// Accept the request and never answer.
    pub hang: bool,
    /// Streaming: send this many SSE events, then drop the connection with no terminal event
    /// (when the stream has fewer events, all are sent and the connection is still dropped
    /// before the body ends cleanly). Not streaming (any value): send the first half of the
    /// body under a `Content-Length` for the whole, then drop the connection.
    pub cut_after_events: Option<usize>,
    /// Answer `200` with a body that is not valid JSON (streaming: one `data:` line with
    /// broken JSON).
    pub malformed: bool,
    /// Never report usage.
    pub omit_usage: bool,
    /// The model name to echo; by default the request's `model`.
    pub model: Option<String>,
    /// Misbehave like a server that ignores the request's output cap: send every chunk
    /// and report the scripted usage whatever the cap.
    pub ignore_cap: bool,
}

/// A scripted tool call.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ToolCall {
    /// The call id; generated (`call_…`, `toolu_…`) when absent.
    pub id: Option<String>,
    /// The tool (function) name.
    pub name: String,
    /// The arguments. A JSON string is sent verbatim as the arguments text (so scripts can
    /// send broken arguments); any other value is serialized.
    pub arguments: serde_json::Value,
}

/// Token usage, in the script's own neutral terms.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Usage {
    /// All prompt tokens, including cached and cache-write ones.
    pub input_tokens: u64,
    /// All output tokens, including reasoning ones.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache (part of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the cache (part of `input_tokens`; reported by Anthropic only).
    pub cache_write_tokens: u64,
    /// Reasoning tokens (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

/// A scripted HTTP error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptedError {
    /// The HTTP status.
    pub status: u16,
    /// The `Retry-After` header value, if any.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// The raw body; by default the request format's native error JSON.
    #[serde(default)]
    pub body: Option<String>,
}

/// Why a script file could not be loaded.
#[derive(Debug)]
pub enum ScriptError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The TOML was invalid.
    Toml(toml::de::Error),
    /// The JSON was invalid.
    Json(serde_json::Error),
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read script: {e}"),
            Self::Toml(e) => write!(f, "invalid TOML script: {e}"),
            Self::Json(e) => write!(f, "invalid JSON script: {e}"),
        }
    }
}

impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Toml(e) => Some(e),
            Self::Json(e) => Some(e),
        }
    }
}

impl Script {
    /// A script that plays `steps` once.
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            cycle: false,
        }
    }

    /// A script that plays `steps` over and over.
    pub fn cycling(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            cycle: true,
        }
    }

    /// Parses a TOML script.
    pub fn from_toml_str(s: &str) -> Result<Self, ScriptError> {
        toml::from_str(s).map_err(ScriptError::Toml)
    }

    /// Parses a JSON script.
    pub fn from_json_str(s: &str) -> Result<Self, ScriptError> {
        serde_json::from_str(s).map_err(ScriptError::Json)
    }

    /// Loads a script file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScriptError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(ScriptError::Io)?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            Self::from_json_str(&text)
        } else {
            Self::from_toml_str(&text)
        }
    }
}

impl Step {
    /// A step answering `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// A step answering one tool call.
    pub fn tool_call(name: impl Into<String>, arguments: serde_json::Value) -> Self {
        Self {
            tool_calls: vec![ToolCall {
                id: None,
                name: name.into(),
                arguments,
            }],
            ..Self::default()
        }
    }

    /// A step answering an HTTP error with the format's native error body.
    pub fn error(status: u16) -> Self {
        Self {
            error: Some(ScriptedError {
                status,
                retry_after: None,
                body: None,
            }),
            ..Self::default()
        }
    }

    /// A step that never answers.
    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    /// Sets the usage to `input` prompt tokens and `output` output tokens.
    #[must_use]
    pub fn with_usage(mut self, input: u64, output: u64) -> Self {
        self.usage.input_tokens = input;
        self.usage.output_tokens = output;
        self
    }

    /// Sets the whole usage.
    #[must_use]
    pub fn with_full_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// The output tokens of this step: the explicit chunks, or the text split at word
    /// boundaries.
    pub fn tokens(&self) -> Vec<String> {
        match (&self.chunks, &self.text) {
            (Some(chunks), _) => chunks.clone(),
            (None, Some(text)) => split_words(text),
            (None, None) => Vec::new(),
        }
    }
}

/// Splits text into tokens: each word together with the whitespace that follows it. Leading
/// whitespace belongs to the first token.
pub fn split_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else {
            if in_space && seen_word {
                out.push(text[start..i].to_owned());
                start = i;
            }
            in_space = false;
            seen_word = true;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_keep_their_trailing_whitespace() {
        assert_eq!(
            split_words("Hello big  world\n"),
            ["Hello ", "big  ", "world\n"]
        );
        assert_eq!(split_words("  lead x"), ["  lead ", "x"]);
        assert_eq!(split_words(""), Vec::<String>::new());
        assert_eq!(split_words("   "), ["   "]);
        assert_eq!(split_words("one"), ["one"]);
    }

    #[test]
    fn toml_and_json_scripts_parse() {
        let t = Script::from_toml_str(
            r#"
            cycle = true
            [[steps]]
            text = "hi"
            usage = { input_tokens = 3, output_tokens = 1 }
            [[steps]]
            tool_calls = [{ name = "f", arguments = { a = 1 } }]
            error = { status = 429, retry_after = "2" }
            "#,
        )
        .unwrap();
        assert!(t.cycle);
        assert_eq!(t.steps[0].usage.input_tokens, 3);
        assert_eq!(
            t.steps[1].tool_calls[0].arguments,
            serde_json::json!({"a": 1})
        );
        let j = Script::from_json_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(j, t);
        assert!(Script::from_toml_str("[[steps]]\ntxet = 'typo'").is_err());
    }
}
