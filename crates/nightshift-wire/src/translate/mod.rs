//! Translation between wire formats, for a gateway that receives a request in the client's
//! format and must call an upstream that speaks another.
//!
//! | client | upstream | request | response | stream |
//! |---|---|---|---|---|
//! | Anthropic Messages | OpenAI Chat | [`anthropic_request_to_chat`] | [`chat_response_to_anthropic`] | [`ChatToAnthropicStream`] |
//! | OpenAI Chat | Anthropic Messages | [`chat_request_to_anthropic`] | [`anthropic_response_to_chat`] | [`AnthropicToChatStream`] |
//! | OpenAI Responses | OpenAI Chat | [`responses_request_to_chat`] | [`chat_response_to_responses`] | [`ChatToResponsesStream`] |
//!
//! Upstream error bodies are reshaped for the client by [`error_to_anthropic`] and
//! [`error_to_openai`] (the Responses API uses the OpenAI error shape).
//!
//! Usage is carried across formats: OpenAI `prompt_tokens` includes cached tokens while
//! Anthropic `input_tokens` excludes cache reads and writes; `output_tokens` of Anthropic's
//! `message_delta` is cumulative and is never summed.
//!
//! Everything here is a pure function of its input, except `created` timestamps where the
//! upstream gives none (Anthropic never does): those are read from the clock
//! ([`AnthropicToChatStream::with_created`] fixes them for reproducible output).
//!
//! Stream translators consume upstream events already decoded by [`crate::sse`] and return
//! the client's events. Feed every upstream event to [`StreamTranslator::push`]; when the
//! upstream ends without a terminal event, or the gateway cuts the stream, call
//! [`StreamTranslator::finish`], which closes whatever is open and emits the terminal events
//! exactly once.

mod anthropic_chat;
mod chat_anthropic;
mod chat_chunks;
mod errors;
mod responses_chat;
mod responses_stream;

use serde_json::{Map, Value, json};

use crate::sse::SseEvent;

pub use anthropic_chat::{
    ChatToAnthropicStream, anthropic_request_to_chat, chat_response_to_anthropic,
};
pub use chat_anthropic::{
    AnthropicToChatStream, DEFAULT_MAX_TOKENS, anthropic_response_to_chat,
    chat_request_to_anthropic,
};
pub use errors::{error_to_anthropic, error_to_openai};
pub use responses_chat::{chat_response_to_responses, responses_request_to_chat};
pub use responses_stream::ChatToResponsesStream;

/// Why a translation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// Well-formed input that the target format cannot express.
    #[error("cannot translate: {0}")]
    Unsupported(String),
    /// Input that is not what its format says it should be.
    #[error("invalid input: {0}")]
    Invalid(String),
}

/// Why a generation ended, independent of format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// Output limit reached; the gateway also uses it when it cuts a stream for budget.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Refused or filtered.
    ContentFilter,
}

impl FinishReason {
    /// From a Chat `finish_reason`; unknown values read as [`FinishReason::Stop`].
    pub fn from_chat(s: &str) -> Self {
        match s {
            "length" => Self::Length,
            "tool_calls" | "function_call" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            _ => Self::Stop,
        }
    }

    /// As a Chat `finish_reason`.
    pub fn as_chat(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }

    /// From an Anthropic `stop_reason`; unknown values read as [`FinishReason::Stop`].
    pub fn from_anthropic(s: &str) -> Self {
        match s {
            "max_tokens" | "model_context_window_exceeded" => Self::Length,
            "tool_use" => Self::ToolCalls,
            "refusal" => Self::ContentFilter,
            _ => Self::Stop,
        }
    }

    /// As an Anthropic `stop_reason`.
    pub fn as_anthropic(self) -> &'static str {
        match self {
            Self::Stop => "end_turn",
            Self::Length => "max_tokens",
            Self::ToolCalls => "tool_use",
            Self::ContentFilter => "refusal",
        }
    }
}

/// A stateful translator of one streamed response, upstream events in, client events out.
pub trait StreamTranslator: Send {
    /// Translate one upstream event (OpenAI's `[DONE]` included). Events after the terminal
    /// ones are ignored.
    fn push(&mut self, ev: &SseEvent) -> Vec<SseEvent>;

    /// The upstream ended (normally or not) or the gateway cut it: close any open block or
    /// item and emit well-formed terminal events. Idempotent: only the first call (or the
    /// upstream's own terminal event) emits anything. A finish reason the upstream already
    /// reported wins over `reason`; with neither, the stream ends as [`FinishReason::Stop`].
    fn finish(&mut self, reason: Option<FinishReason>) -> Vec<SseEvent>;

    /// Whether the terminal events have been emitted.
    fn is_finished(&self) -> bool;
}

/// Token counts in a format-neutral shape. `input` excludes cache reads and writes, as
/// Anthropic counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Tokens {
    /// From a Chat `usage` object.
    pub fn from_chat(u: &Value) -> Self {
        let prompt = num(u, &["prompt_tokens"]);
        let cached = u
            .pointer("/prompt_tokens_details/cached_tokens")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| num(u, &["prompt_cache_hit_tokens"]));
        Self {
            input: prompt.saturating_sub(cached),
            cache_read: cached,
            cache_write: 0,
            output: num(u, &["completion_tokens"]),
            reasoning: u
                .pointer("/completion_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        }
    }

    /// From an Anthropic `usage` object.
    pub fn from_anthropic(u: &Value) -> Self {
        let mut t = Self::default();
        t.merge_anthropic(u);
        t
    }

    /// Overwrite with the fields present in an Anthropic `usage` object (a `message_delta`
    /// carries cumulative counts, so they replace, never add).
    pub fn merge_anthropic(&mut self, u: &Value) {
        let set = |field: &mut u64, key: &str| {
            if let Some(n) = u.get(key).and_then(Value::as_u64) {
                *field = n;
            }
        };
        set(&mut self.input, "input_tokens");
        set(&mut self.cache_read, "cache_read_input_tokens");
        set(&mut self.cache_write, "cache_creation_input_tokens");
        set(&mut self.output, "output_tokens");
    }

    fn prompt_total(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }

    pub fn to_chat(self) -> Value {
        json!({
            "prompt_tokens": self.prompt_total(),
            "completion_tokens": self.output,
            "total_tokens": self.prompt_total().saturating_add(self.output),
            "prompt_tokens_details": {"cached_tokens": self.cache_read},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        })
    }

    pub fn to_anthropic(self) -> Value {
        json!({
            "input_tokens": self.input,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
        })
    }

    pub fn to_responses(self) -> Value {
        json!({
            "input_tokens": self.prompt_total(),
            "input_tokens_details": {"cached_tokens": self.cache_read},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.prompt_total().saturating_add(self.output),
        })
    }
}

fn num(v: &Value, keys: &[&str]) -> u64 {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .unwrap_or(0)
}

/// `v[key]` as a string, if it is one.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The text of a content value: a string as is, or the `text` (or `refusal`) of each part
/// of an array joined with `sep`. Parts without text are skipped.
pub(crate) fn text_of(content: &Value, sep: &str) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| str_of(p, "text").or_else(|| str_of(p, "refusal")))
            .collect::<Vec<_>>()
            .join(sep),
        _ => String::new(),
    }
}

/// Parse tool-call arguments (a JSON string) into an object. Empty or malformed arguments
/// become `{}` so one bad tool call does not fail a whole response; the client's own
/// schema validation then reports the problem to the model.
pub(crate) fn parse_arguments(args: &Value) -> Value {
    match args {
        Value::Object(_) => args.clone(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => Value::Object(Map::new()),
        },
        _ => Value::Object(Map::new()),
    }
}

/// A function tool's `parameters`, or an empty object schema where it declares none, so
/// that every translated tool carries a schema (Anthropic requires one).
pub(crate) fn parameters_schema(function: &Value) -> Value {
    function
        .get("parameters")
        .filter(|p| !p.is_null())
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}))
}

/// Copy `keys` of `from` that are present and not null into `to`.
pub(crate) fn copy_fields(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
            to.insert((*k).to_string(), v.clone());
        }
    }
}

/// A JSON event for a client stream.
pub(crate) fn event(name: Option<&str>, data: &Value) -> SseEvent {
    SseEvent::new(name, data.to_string())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

pub(crate) fn unsupported(msg: impl Into<String>) -> TranslateError {
    TranslateError::Unsupported(msg.into())
}

/// The request as a JSON object, or an `Invalid` error naming `what`.
pub(crate) fn as_object<'a>(
    v: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>, TranslateError> {
    v.as_object()
        .ok_or_else(|| invalid(format!("{what} is not a JSON object")))
}
