//! Token usage as each format reports it, normalised, and trackers that follow a stream.
//!
//! Normal form: `input_tokens` counts every prompt token, cached reads and cache writes
//! included; `output_tokens` counts every generated token, reasoning included. Anthropic
//! reports input without its cache reads and writes, so those are added back; its
//! streamed `message_delta` usage is cumulative, so it replaces, never adds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::WireFormat;
use crate::sse::SseEvent;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Self) {
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.output_tokens += o.output_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
    }
}

fn num(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_u64()
}

impl Usage {
    /// OpenAI Chat `usage` object.
    pub fn from_chat(usage: &Value) -> Option<Self> {
        let prompt = num(usage, &["prompt_tokens"]);
        let completion = num(usage, &["completion_tokens"]);
        if prompt.is_none() && completion.is_none() {
            return None; // `{}` or junk is no report: bill the reservation, never $0
        }
        let prompt = prompt.unwrap_or(0);
        // Some OpenAI-compatible servers leave reasoning out of completion_tokens while
        // total_tokens includes it: the larger reading is what was generated.
        let output = completion
            .unwrap_or(0)
            .max(num(usage, &["total_tokens"]).map_or(0, |t| t.saturating_sub(prompt)));
        Some(Self {
            input_tokens: prompt,
            // DeepSeek reports cache hits as prompt_cache_hit_tokens.
            cached_input_tokens: num(usage, &["prompt_tokens_details", "cached_tokens"])
                .or_else(|| num(usage, &["prompt_cache_hit_tokens"]))
                .unwrap_or(0),
            // Newer OpenAI-style servers report prompt-cache writes here.
            cache_write_tokens: num(usage, &["prompt_tokens_details", "cache_write_tokens"])
                .unwrap_or(0),
            output_tokens: output,
            reasoning_tokens: num(usage, &["completion_tokens_details", "reasoning_tokens"])
                .unwrap_or(0),
        })
    }

    /// OpenAI Responses `usage` object.
    pub fn from_responses(usage: &Value) -> Option<Self> {
        if num(usage, &["input_tokens"]).is_none() && num(usage, &["output_tokens"]).is_none() {
            return None;
        }
        Some(Self {
            input_tokens: num(usage, &["input_tokens"]).unwrap_or(0),
            cached_input_tokens: num(usage, &["input_tokens_details", "cached_tokens"])
                .unwrap_or(0),
            cache_write_tokens: 0,
            output_tokens: num(usage, &["output_tokens"]).unwrap_or(0),
            reasoning_tokens: num(usage, &["output_tokens_details", "reasoning_tokens"])
                .unwrap_or(0),
        })
    }

    /// Anthropic `usage` object (input excludes cache reads and writes).
    pub fn from_messages(usage: &Value) -> Option<Self> {
        if num(usage, &["input_tokens"]).is_none() && num(usage, &["output_tokens"]).is_none() {
            return None;
        }
        let cached = num(usage, &["cache_read_input_tokens"]).unwrap_or(0);
        let written = num(usage, &["cache_creation_input_tokens"]).unwrap_or(0);
        Some(Self {
            input_tokens: num(usage, &["input_tokens"])
                .unwrap_or(0)
                .saturating_add(cached)
                .saturating_add(written),
            cached_input_tokens: cached,
            cache_write_tokens: written,
            output_tokens: num(usage, &["output_tokens"]).unwrap_or(0),
            reasoning_tokens: 0,
        })
    }

    /// Usage of a whole (non-streamed) response body in `format`.
    pub fn from_body(format: WireFormat, body: &Value) -> Option<Self> {
        Self::from_usage(format, body.get("usage")?)
    }

    /// A `usage` object in `format`.
    pub fn from_usage(format: WireFormat, usage: &Value) -> Option<Self> {
        match format {
            WireFormat::Chat => Self::from_chat(usage),
            WireFormat::Responses => Self::from_responses(usage),
            WireFormat::Messages => Self::from_messages(usage),
        }
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Follows a streamed response in one format: its usage, its output so far, and whether
/// its terminal event was seen.
#[derive(Debug, Clone)]
pub struct StreamTracker {
    format: WireFormat,
    usage: Option<Usage>,
    /// Events that carried generated content (text, tool arguments, reasoning). Each carries
    /// at least one token, so this never exceeds the true output token count.
    pub content_events: u64,
    /// Bytes of generated content seen.
    pub content_bytes: u64,
    /// The terminal event (`[DONE]`, `message_stop`, `response.completed`…) was seen.
    pub finished: bool,
    /// The upstream reported an error inside the stream.
    pub errored: bool,
    /// Chat: a choice reported its finish_reason.
    saw_finish: bool,
    /// Anthropic: the index of a content block started and not yet stopped.
    pub open_block: Option<u64>,
    /// Responses: the response id and the last `sequence_number` seen.
    pub response_id: Option<String>,
    pub last_sequence: Option<u64>,
}

impl StreamTracker {
    pub fn new(format: WireFormat) -> Self {
        Self {
            format,
            usage: None,
            content_events: 0,
            content_bytes: 0,
            finished: false,
            saw_finish: false,
            errored: false,
            open_block: None,
            response_id: None,
            last_sequence: None,
        }
    }

    /// The usage reported so far, if the stream reported any.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Observe one event. Returns its parsed JSON (when it is JSON), so callers need not
    /// parse twice.
    pub fn observe(&mut self, ev: &SseEvent) -> Option<Value> {
        if ev.is_done() {
            self.finished = true;
            return None;
        }
        let v: Value = serde_json::from_str(&ev.data).ok()?;
        match self.format {
            WireFormat::Chat => self.observe_chat(&v),
            WireFormat::Responses => self.observe_responses(&v),
            WireFormat::Messages => self.observe_messages(&v),
        }
        Some(v)
    }

    fn content(&mut self, bytes: usize) {
        if bytes > 0 {
            self.content_events += 1;
            self.content_bytes += bytes as u64;
        }
    }

    fn observe_chat(&mut self, v: &Value) {
        if v.get("error").is_some() {
            self.errored = true;
        }
        if v.pointer("/choices/0/finish_reason")
            .is_some_and(|f| !f.is_null())
        {
            self.saw_finish = true;
        }
        if let Some(u) = v.get("usage").and_then(Usage::from_chat) {
            self.usage = Some(u);
            // Usage after the finish reason is the end of the answer, even from servers
            // that never send `[DONE]`.
            if self.saw_finish {
                self.finished = true;
            }
        }
        let mut bytes = 0;
        if let Some(choices) = v.get("choices").and_then(Value::as_array) {
            for c in choices {
                let Some(d) = c.get("delta") else { continue };
                for key in ["content", "reasoning_content", "reasoning", "refusal"] {
                    bytes += d.get(key).and_then(Value::as_str).map_or(0, str::len);
                }
                if let Some(calls) = d.get("tool_calls").and_then(Value::as_array) {
                    for call in calls {
                        bytes += call
                            .get("function")
                            .and_then(|f| f.get("arguments"))
                            .and_then(Value::as_str)
                            .map_or(0, str::len);
                    }
                }
            }
        }
        self.content(bytes);
    }

    fn observe_responses(&mut self, v: &Value) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        if let Some(seq) = v.get("sequence_number").and_then(Value::as_u64) {
            self.last_sequence = Some(seq);
        }
        if kind == "response.created" {
            self.response_id = v
                .get("response")
                .and_then(|r| r.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        match kind {
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning_summary_text.delta"
            | "response.refusal.delta" => {
                let n = v.get("delta").and_then(Value::as_str).map_or(0, str::len);
                self.content(n);
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(u) = v
                    .get("response")
                    .and_then(|r| r.get("usage"))
                    .and_then(Usage::from_responses)
                {
                    self.usage = Some(u);
                }
                self.finished = true;
                if kind == "response.failed" {
                    self.errored = true;
                }
            }
            "error" => self.errored = true,
            _ => {}
        }
    }

    fn observe_messages(&mut self, v: &Value) {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "message_start" => {
                if let Some(u) = v
                    .get("message")
                    .and_then(|m| m.get("usage"))
                    .and_then(Usage::from_messages)
                {
                    self.usage = Some(u);
                }
            }
            "content_block_start" => self.open_block = v.get("index").and_then(Value::as_u64),
            "content_block_stop" => self.open_block = None,
            "content_block_delta" => {
                let d = v.get("delta");
                let n = ["text", "partial_json", "thinking"]
                    .iter()
                    .filter_map(|k| d.and_then(|d| d.get(*k)).and_then(Value::as_str))
                    .map(str::len)
                    .sum();
                self.content(n);
            }
            "message_delta" => {
                // Cumulative: every field present replaces the one from message_start.
                if let Some(u) = v.get("usage") {
                    let mut cur = self.usage.unwrap_or_default();
                    if let Some(out) = u.get("output_tokens").and_then(Value::as_u64) {
                        cur.output_tokens = out;
                    }
                    if u.get("input_tokens").is_some()
                        || u.get("cache_read_input_tokens").is_some()
                        || u.get("cache_creation_input_tokens").is_some()
                    {
                        let cached = u
                            .get("cache_read_input_tokens")
                            .and_then(Value::as_u64)
                            .unwrap_or(cur.cached_input_tokens);
                        let written = u
                            .get("cache_creation_input_tokens")
                            .and_then(Value::as_u64)
                            .unwrap_or(cur.cache_write_tokens);
                        let plain = u.get("input_tokens").and_then(Value::as_u64).unwrap_or(
                            cur.input_tokens - cur.cached_input_tokens - cur.cache_write_tokens,
                        );
                        cur.input_tokens = plain.saturating_add(cached).saturating_add(written);
                        cur.cached_input_tokens = cached;
                        cur.cache_write_tokens = written;
                    }
                    self.usage = Some(cur);
                }
            }
            "message_stop" => self.finished = true,
            "error" => self.errored = true,
            _ => {}
        }
    }
}
