//! OpenAI Chat Completions client → Anthropic Messages upstream.

use serde_json::{Map, Value, json};

use super::{
    FinishReason, StreamTranslator, Tokens, TranslateError, as_object, copy_fields, event, invalid,
    parameters_schema, parse_arguments, str_of, text_of, unix_now, unsupported,
};
use crate::sse::SseEvent;

/// `max_tokens` sent when the Chat request names no output limit (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Translate a Chat Completions request into a Messages request. System and developer
/// messages become `system`; tool messages become `tool_result` blocks of a user message;
/// consecutive messages of one role are merged, as Anthropic requires alternation.
pub fn chat_request_to_anthropic(req: &Value) -> Result<Value, TranslateError> {
    let obj = as_object(req, "request")?;
    if obj.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(unsupported("`n` greater than 1"));
    }
    let input = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let (system, turns) = system_and_turns(input)?;

    let mut out = Map::new();
    copy_fields(obj, &mut out, &["model"]);
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_u64))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect();
    out.insert("messages".into(), Value::Array(messages));
    if let Some(t) = obj.get("temperature").and_then(Value::as_f64) {
        // Chat allows 0..2, Anthropic 0..1.
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    copy_fields(obj, &mut out, &["top_p"]);
    let stops: Vec<Value> = match obj.get("stop") {
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) => a.iter().filter(|s| s.is_string()).cloned().collect(),
        _ => Vec::new(),
    };
    if !stops.is_empty() {
        out.insert("stop_sequences".into(), Value::Array(stops));
    }
    if let Some(stream) = obj.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), json!(stream));
    }

    let tools = anthropic_tools(obj)?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(c) = anthropic_tool_choice(obj)? {
            out.insert("tool_choice".into(), c);
        }
    }
    if let Some(user) = obj.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
}

/// One turn of a Messages conversation: its role and its content blocks.
type Turn = (&'static str, Vec<Value>);

/// The system texts of Chat `messages` and the alternating turns of the rest. A message
/// that leaves no block is dropped, since Anthropic refuses a message with empty content.
fn system_and_turns(input: &[Value]) -> Result<(Vec<String>, Vec<Turn>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for m in input {
        let content = m.get("content").unwrap_or(&Value::Null);
        let (role, blocks) = match str_of(m, "role") {
            Some("system" | "developer") => {
                let text = text_of(content, "\n");
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Some("user") => ("user", user_blocks(content)?),
            Some("assistant") => ("assistant", assistant_blocks(m)?),
            Some("tool") => ("user", vec![tool_result_block(m, content)]),
            Some("function") => return Err(unsupported("legacy `function` role messages")),
            other => return Err(invalid(format!("message role {other:?}"))),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, prev)) if *last == role => prev.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok((system, turns))
}

/// A Chat `tool` message as a `tool_result` block.
fn tool_result_block(m: &Value, content: &Value) -> Value {
    let mut block = Map::new();
    block.insert("type".into(), json!("tool_result"));
    block.insert(
        "tool_use_id".into(),
        json!(str_of(m, "tool_call_id").unwrap_or("")),
    );
    let text = text_of(content, "\n");
    if !text.is_empty() {
        block.insert("content".into(), json!(text));
    }
    Value::Object(block)
}

/// The request's function tools as Anthropic tools; any other tool type is refused.
fn anthropic_tools(obj: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
    let mut tools = Vec::new();
    for t in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if str_of(t, "type").unwrap_or("function") != "function" {
            return Err(unsupported(format!("tool type {:?}", str_of(t, "type"))));
        }
        let f = t.get("function").unwrap_or(&Value::Null);
        let mut tool = Map::new();
        tool.insert("name".into(), json!(str_of(f, "name").unwrap_or("")));
        if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
            tool.insert("description".into(), d.clone());
        }
        tool.insert("input_schema".into(), parameters_schema(f));
        tools.push(Value::Object(tool));
    }
    Ok(tools)
}

/// The Anthropic `tool_choice` for the request's `tool_choice` and `parallel_tool_calls`,
/// or none where Anthropic's default says the same.
fn anthropic_tool_choice(obj: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let mut choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            other => return Err(unsupported(format!("tool_choice {other:?}"))),
        },
        Some(tc) => match tc.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Some(json!({"type": "tool", "name": name})),
            None => return Err(unsupported(format!("tool_choice {tc}"))),
        },
    };
    if obj.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if str_of(c, "type") != Some("none") {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    Ok(choice)
}

fn user_blocks(content: &Value) -> Result<Vec<Value>, TranslateError> {
    let parts = match content {
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![json!({"type": "text", "text": s})]),
        Value::Array(parts) => parts,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(invalid("user `content` must be a string or an array")),
    };
    let mut blocks = Vec::new();
    for p in parts {
        match str_of(p, "type") {
            Some("text") => {
                if let Some(t) = str_of(p, "text").filter(|t| !t.is_empty()) {
                    blocks.push(json!({"type": "text", "text": t}));
                }
            }
            Some("image_url") => {
                let url = p
                    .get("image_url")
                    .and_then(|i| str_of(i, "url").or_else(|| i.as_str()))
                    .unwrap_or("");
                let source = match data_url(url) {
                    Some((media_type, data)) => {
                        json!({"type": "base64", "media_type": media_type, "data": data})
                    }
                    None => json!({"type": "url", "url": url}),
                };
                blocks.push(json!({"type": "image", "source": source}));
            }
            Some("file") => {
                let file = p.get("file").unwrap_or(&Value::Null);
                let Some((media_type, data)) = str_of(file, "file_data").and_then(data_url) else {
                    return Err(unsupported("file parts other than inline `file_data`"));
                };
                blocks.push(json!({"type": "document", "source": {
                    "type": "base64", "media_type": media_type, "data": data,
                }}));
            }
            other => return Err(unsupported(format!("content part type {other:?}"))),
        }
    }
    Ok(blocks)
}

/// `data:MEDIA;base64,DATA` → `(MEDIA, DATA)`.
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

fn assistant_blocks(m: &Value) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    let text = text_of(m.get("content").unwrap_or(&Value::Null), "");
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    if let Some(r) = str_of(m, "refusal").filter(|r| !r.is_empty()) {
        blocks.push(json!({"type": "text", "text": r}));
    }
    for tc in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = tc
            .get("function")
            .ok_or_else(|| invalid("tool call without `function`"))?;
        blocks.push(json!({
            "type": "tool_use",
            "id": str_of(tc, "id").unwrap_or(""),
            "name": str_of(f, "name").unwrap_or(""),
            "input": parse_arguments(f.get("arguments").unwrap_or(&Value::Null)),
        }));
    }
    Ok(blocks)
}

/// Translate a non-streamed Messages response into a Chat Completions response.
pub fn anthropic_response_to_chat(resp: &Value) -> Result<Value, TranslateError> {
    if str_of(resp, "type") == Some("error") {
        return Err(invalid("upstream body is an error, not a message"));
    }
    let blocks = resp
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("message without `content` array"))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for b in blocks {
        match str_of(b, "type") {
            Some("text") => text.push_str(str_of(b, "text").unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": str_of(b, "id").unwrap_or(""),
                "type": "function",
                "function": {
                    "name": str_of(b, "name").unwrap_or(""),
                    "arguments": b.get("input").map_or_else(|| "{}".to_string(), Value::to_string),
                },
            })),
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    message.insert("content".into(), content);
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let finish =
        str_of(resp, "stop_reason").map_or(FinishReason::Stop, FinishReason::from_anthropic);
    let usage = resp
        .get("usage")
        .map(Tokens::from_anthropic)
        .unwrap_or_default();
    Ok(json!({
        "id": str_of(resp, "id").unwrap_or("chatcmpl-nightshift"),
        "object": "chat.completion",
        "created": unix_now(),
        "model": resp.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish.as_chat(),
        }],
        "usage": usage.to_chat(),
    }))
}

/// Turns a Messages stream into a Chat Completions stream: a role chunk, content and
/// tool-call deltas, a `finish_reason` chunk, a usage chunk when the client asked for
/// `stream_options.include_usage`, then `data: [DONE]`.
#[derive(Debug)]
pub struct AnthropicToChatStream {
    model: String,
    include_usage: bool,
    created: u64,
    id: String,
    started: bool,
    done: bool,
    /// Anthropic block index → Chat tool-call index.
    tools: Vec<(u64, usize)>,
    stop: Option<FinishReason>,
    usage: Tokens,
}

impl AnthropicToChatStream {
    /// `model` is the name reported to the client; `include_usage` is the client's
    /// `stream_options.include_usage`. `created` is taken from the clock.
    pub fn new(model: impl Into<String>, include_usage: bool) -> Self {
        Self {
            model: model.into(),
            include_usage,
            created: unix_now(),
            id: "chatcmpl-nightshift".to_string(),
            started: false,
            done: false,
            tools: Vec::new(),
            stop: None,
            usage: Tokens::default(),
        }
    }

    /// Fix the `created` timestamp of every chunk (for reproducible output).
    pub fn with_created(mut self, created: u64) -> Self {
        self.created = created;
        self
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> SseEvent {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        event(None, &c)
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
    }

    fn args_chunk(&self, index: usize, args: &str) -> SseEvent {
        self.chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]}),
            None,
        )
    }

    fn message_start(&mut self, v: &Value, out: &mut Vec<SseEvent>) {
        let msg = v.get("message").unwrap_or(&Value::Null);
        if let Some(id) = str_of(msg, "id") {
            self.id = id.to_string();
        }
        if let Some(u) = msg.get("usage") {
            self.usage.merge_anthropic(u);
        }
        self.start(out);
    }

    /// A text block's opening text, or a tool call's id and name (and its input, when the
    /// block carries it whole).
    fn block_start(&mut self, v: &Value, out: &mut Vec<SseEvent>) {
        self.start(out);
        let block = v.get("content_block").unwrap_or(&Value::Null);
        match str_of(block, "type") {
            Some("text") => {
                if let Some(t) = str_of(block, "text").filter(|t| !t.is_empty()) {
                    out.push(self.chunk(json!({"content": t}), None));
                }
            }
            Some("tool_use") => {
                let index = self.tools.len();
                let block_index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                self.tools.push((block_index, index));
                out.push(self.chunk(
                    json!({"tool_calls": [{
                        "index": index,
                        "id": str_of(block, "id").unwrap_or(""),
                        "type": "function",
                        "function": {"name": str_of(block, "name").unwrap_or(""), "arguments": ""},
                    }]}),
                    None,
                ));
                if let Some(input) = block.get("input").and_then(Value::as_object)
                    && !input.is_empty()
                {
                    out.push(self.args_chunk(index, &Value::Object(input.clone()).to_string()));
                }
            }
            _ => {}
        }
    }

    /// More text, or more of a tool call's arguments.
    fn block_delta(&mut self, v: &Value, out: &mut Vec<SseEvent>) {
        self.start(out);
        let delta = v.get("delta").unwrap_or(&Value::Null);
        let block_index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match str_of(delta, "type") {
            Some("text_delta") => {
                if let Some(t) = str_of(delta, "text").filter(|t| !t.is_empty()) {
                    out.push(self.chunk(json!({"content": t}), None));
                }
            }
            Some("input_json_delta") => {
                let tool = self.tools.iter().find(|(b, _)| *b == block_index);
                if let (Some((_, index)), Some(p)) = (
                    tool,
                    str_of(delta, "partial_json").filter(|p| !p.is_empty()),
                ) {
                    out.push(self.args_chunk(*index, p));
                }
            }
            _ => {}
        }
    }

    fn message_delta(&mut self, v: &Value) {
        if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
            self.stop = Some(FinishReason::from_anthropic(r));
        }
        if let Some(u) = v.get("usage") {
            self.usage.merge_anthropic(u);
        }
    }

    /// An upstream error ends the stream with the error in OpenAI's shape.
    fn error(&mut self, v: &Value, out: &mut Vec<SseEvent>) {
        self.done = true;
        let err = v.get("error").unwrap_or(&Value::Null);
        let message = str_of(err, "message").unwrap_or("upstream stream error");
        let kind = str_of(err, "type").unwrap_or("api_error");
        let body =
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
        out.push(event(None, &body));
    }
}

impl StreamTranslator for AnthropicToChatStream {
    fn push(&mut self, ev: &SseEvent) -> Vec<SseEvent> {
        if self.done {
            return Vec::new();
        }
        if ev.is_done() {
            return self.finish(None);
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match str_of(&v, "type") {
            Some("message_start") => self.message_start(&v, &mut out),
            Some("content_block_start") => self.block_start(&v, &mut out),
            Some("content_block_delta") => self.block_delta(&v, &mut out),
            Some("message_delta") => self.message_delta(&v),
            Some("message_stop") => return self.finish(None),
            Some("error") => self.error(&v, &mut out),
            _ => {}
        }
        out
    }

    fn finish(&mut self, reason: Option<FinishReason>) -> Vec<SseEvent> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut out = Vec::new();
        self.start(&mut out);
        let mut r = self.stop.or(reason).unwrap_or(FinishReason::Stop);
        if r == FinishReason::Stop && !self.tools.is_empty() {
            r = FinishReason::ToolCalls;
        }
        out.push(self.chunk(json!({}), Some(r.as_chat())));
        if self.include_usage {
            out.push(event(
                None,
                &json!({
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": self.usage.to_chat(),
                }),
            ));
        }
        out.push(SseEvent::new(None, "[DONE]"));
        out
    }

    fn is_finished(&self) -> bool {
        self.done
    }
}
