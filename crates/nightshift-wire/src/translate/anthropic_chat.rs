//! Anthropic Messages client → OpenAI Chat Completions upstream (Claude Code against an
//! OpenAI-compatible server).

use serde_json::{Map, Value, json};

use super::chat_chunks::{ChatChunkParser, Piece};
use super::{
    FinishReason, StreamTranslator, Tokens, TranslateError, as_object, copy_fields, event, invalid,
    parse_arguments, str_of, text_of, unsupported,
};
use crate::sse::SseEvent;

/// Translate a Messages request into a Chat Completions request. Anthropic-only fields
/// (`thinking`, `metadata`, `context_management`, `output_config`, `cache_control`, `top_k`,
/// thinking blocks, server tools) are dropped.
pub fn anthropic_request_to_chat(req: &Value) -> Result<Value, TranslateError> {
    let obj = as_object(req, "request")?;
    let mut out = Map::new();
    copy_fields(obj, &mut out, &["model"]);

    let mut messages = Vec::new();
    match obj.get("system") {
        None | Some(Value::Null) => {}
        Some(s @ (Value::String(_) | Value::Array(_))) => {
            let text = text_of(s, "\n\n");
            if !text.is_empty() {
                messages.push(json!({"role": "system", "content": text}));
            }
        }
        Some(_) => {
            return Err(invalid(
                "`system` must be a string or an array of text blocks",
            ));
        }
    }
    let input = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    for m in input {
        convert_message(m, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));

    copy_fields(obj, &mut out, &["max_tokens", "temperature", "top_p"]);
    if let Some(stops) = obj.get("stop_sequences").and_then(Value::as_array)
        && !stops.is_empty()
    {
        out.insert("stop".into(), Value::Array(stops.clone()));
    }

    let tools: Vec<Value> = obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        // Server tools (web search, code execution…) have no schema and no Chat equivalent.
        .filter(|t| t.get("input_schema").is_some())
        .map(|t| {
            let mut f = Map::new();
            f.insert("name".into(), t.get("name").cloned().unwrap_or(Value::Null));
            if let Some(d) = t.get("description").filter(|d| !d.is_null()) {
                f.insert("description".into(), d.clone());
            }
            f.insert(
                "parameters".into(),
                t.get("input_schema").cloned().unwrap_or(Value::Null),
            );
            json!({"type": "function", "function": f})
        })
        .collect();
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = obj.get("tool_choice").filter(|t| !t.is_null()) {
            let choice = match str_of(tc, "type") {
                Some("auto") => json!("auto"),
                Some("any") => json!("required"),
                Some("none") => json!("none"),
                Some("tool") => json!({"type": "function", "function": {"name": tc.get("name")}}),
                other => return Err(unsupported(format!("tool_choice type {other:?}"))),
            };
            out.insert("tool_choice".into(), choice);
            if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }

    if let Some(stream) = obj.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), json!(stream));
        if stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Ok(Value::Object(out))
}

/// Append the Chat messages for one Anthropic message.
fn convert_message(m: &Value, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let role = str_of(m, "role").ok_or_else(|| invalid("message without `role`"))?;
    let blocks = match m.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => return Err(invalid("message `content` must be a string or an array")),
    };
    match role {
        "user" => {
            let mut parts = Vec::new();
            for b in blocks {
                match str_of(b, "type").unwrap_or("") {
                    "text" => {
                        parts.push(json!({"type": "text", "text": str_of(b, "text").unwrap_or("")}))
                    }
                    "image" => parts.push(image_part(b)?),
                    "document" => parts.push(document_part(b)?),
                    "tool_result" => {
                        let content = b.get("content").unwrap_or(&Value::Null);
                        out.push(json!({
                            "role": "tool",
                            "tool_call_id": str_of(b, "tool_use_id").unwrap_or(""),
                            "content": text_of(content, "\n"),
                        }));
                        // Chat tool messages hold text only: images follow in the user message.
                        for img in content.as_array().into_iter().flatten() {
                            if str_of(img, "type") == Some("image") {
                                parts.push(image_part(img)?);
                            }
                        }
                    }
                    "thinking" | "redacted_thinking" => {}
                    other if other.ends_with("tool_result") || other == "server_tool_use" => {}
                    other => return Err(unsupported(format!("content block type {other:?}"))),
                }
            }
            if !parts.is_empty() {
                let content = match &parts[..] {
                    [p] if str_of(p, "type") == Some("text") => p["text"].clone(),
                    _ => Value::Array(parts),
                };
                out.push(json!({"role": "user", "content": content}));
            }
        }
        "assistant" => {
            let mut text = Vec::new();
            let mut calls = Vec::new();
            for b in blocks {
                match str_of(b, "type").unwrap_or("") {
                    "text" => text.push(str_of(b, "text").unwrap_or("")),
                    "tool_use" => calls.push(json!({
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
            let text = text.join("\n");
            let mut msg = Map::new();
            msg.insert("role".into(), json!("assistant"));
            let content = if text.is_empty() && !calls.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            msg.insert("content".into(), content);
            if !calls.is_empty() {
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
            out.push(Value::Object(msg));
        }
        other => return Err(invalid(format!("message role {other:?}"))),
    }
    Ok(())
}

fn image_part(b: &Value) -> Result<Value, TranslateError> {
    let src = b.get("source").unwrap_or(&Value::Null);
    let url = match str_of(src, "type") {
        Some("base64") => format!(
            "data:{};base64,{}",
            str_of(src, "media_type").unwrap_or("image/png"),
            str_of(src, "data").unwrap_or("")
        ),
        Some("url") => str_of(src, "url").unwrap_or("").to_string(),
        other => return Err(unsupported(format!("image source type {other:?}"))),
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn document_part(b: &Value) -> Result<Value, TranslateError> {
    let src = b.get("source").unwrap_or(&Value::Null);
    match str_of(src, "type") {
        Some("text") => Ok(json!({"type": "text", "text": str_of(src, "data").unwrap_or("")})),
        Some("base64") => Ok(json!({"type": "file", "file": {
            "filename": str_of(b, "title").unwrap_or("document.pdf"),
            "file_data": format!(
                "data:{};base64,{}",
                str_of(src, "media_type").unwrap_or("application/pdf"),
                str_of(src, "data").unwrap_or("")
            ),
        }})),
        other => Err(unsupported(format!("document source type {other:?}"))),
    }
}

/// Translate a non-streamed Chat Completions response into a Messages response.
pub fn chat_response_to_anthropic(resp: &Value) -> Result<Value, TranslateError> {
    if resp.get("error").is_some_and(|e| !e.is_null()) {
        return Err(invalid("upstream body is an error, not a completion"));
    }
    let choice = resp
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| invalid("chat response without choices"))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    for key in ["content", "refusal"] {
        let text = msg.get(key).map(|c| text_of(c, "")).unwrap_or_default();
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
    }
    let calls = msg.get("tool_calls").and_then(Value::as_array);
    for tc in calls.into_iter().flatten() {
        let f = tc.get("function").unwrap_or(&Value::Null);
        content.push(json!({
            "type": "tool_use",
            "id": str_of(tc, "id").unwrap_or(""),
            "name": str_of(f, "name").unwrap_or(""),
            "input": parse_arguments(f.get("arguments").unwrap_or(&Value::Null)),
        }));
    }
    let mut finish =
        str_of(choice, "finish_reason").map_or(FinishReason::Stop, FinishReason::from_chat);
    if finish == FinishReason::Stop && calls.is_some_and(|c| !c.is_empty()) {
        finish = FinishReason::ToolCalls;
    }
    let usage = resp.get("usage").map(Tokens::from_chat).unwrap_or_default();
    Ok(json!({
        "id": str_of(resp, "id").unwrap_or("msg_nightshift"),
        "type": "message",
        "role": "assistant",
        "model": resp.get("model").cloned().unwrap_or(Value::Null),
        "content": content,
        "stop_reason": finish.as_anthropic(),
        "stop_sequence": null,
        "usage": usage.to_anthropic(),
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Tool,
}

/// Turns a Chat Completions stream into a Messages stream. `message_delta` is held until the
/// upstream's `[DONE]` (or [`StreamTranslator::finish`]) so that it carries the usage of the
/// final Chat chunk.
#[derive(Debug)]
pub struct ChatToAnthropicStream {
    model: String,
    id: String,
    parser: ChatChunkParser,
    started: bool,
    done: bool,
    open: Option<(usize, Block)>,
    next_index: usize,
    saw_tool: bool,
    finish: Option<FinishReason>,
    usage: Tokens,
}

impl ChatToAnthropicStream {
    /// `model` is the name reported to the client in `message_start`.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            id: "msg_nightshift".to_string(),
            parser: ChatChunkParser::default(),
            started: false,
            done: false,
            open: None,
            next_index: 0,
            saw_tool: false,
            finish: None,
            usage: Tokens::default(),
        }
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut usage = self.usage.to_anthropic();
        usage["output_tokens"] = json!(0);
        out.push(event(
            Some("message_start"),
            &json!({"type": "message_start", "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage,
            }}),
        ));
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(event(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open(&mut self, kind: Block, block: Value, out: &mut Vec<SseEvent>) {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        out.push(event(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
    }

    fn delta(&self, index: usize, delta: Value) -> SseEvent {
        event(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }
}

impl StreamTranslator for ChatToAnthropicStream {
    fn push(&mut self, ev: &SseEvent) -> Vec<SseEvent> {
        if self.done {
            return Vec::new();
        }
        if ev.is_done() {
            return self.finish(None);
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&ev.data) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if !self.started
            && let Some(id) = str_of(&chunk, "id").filter(|s| !s.is_empty())
        {
            self.id = id.to_string();
        }
        for piece in self.parser.push(&chunk) {
            match piece {
                Piece::Text(text) => {
                    self.start(&mut out);
                    if !matches!(self.open, Some((_, Block::Text))) {
                        self.open(Block::Text, json!({"type": "text", "text": ""}), &mut out);
                    }
                    if let Some((i, _)) = self.open {
                        out.push(self.delta(i, json!({"type": "text_delta", "text": text})));
                    }
                }
                Piece::ToolStart { id, name } => {
                    self.start(&mut out);
                    self.saw_tool = true;
                    let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                    self.open(Block::Tool, block, &mut out);
                }
                Piece::ToolArgs(args) => {
                    if let Some((i, Block::Tool)) = self.open {
                        let d = json!({"type": "input_json_delta", "partial_json": args});
                        out.push(self.delta(i, d));
                    }
                }
                Piece::Finish(r) => {
                    self.finish = Some(r);
                    self.close(&mut out);
                }
                Piece::Usage(u) => self.usage = u,
                Piece::Error(err) => {
                    self.done = true;
                    let message =
                        str_of(&err, "message").map_or_else(|| err.to_string(), str::to_string);
                    out.push(event(
                        Some("error"),
                        &json!({"type": "error", "error": {"type": "api_error", "message": message}}),
                    ));
                    return out;
                }
            }
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
        self.close(&mut out);
        let mut r = self.finish.or(reason).unwrap_or(FinishReason::Stop);
        if r == FinishReason::Stop && self.saw_tool {
            r = FinishReason::ToolCalls;
        }
        out.push(event(
            Some("message_delta"),
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": r.as_anthropic(), "stop_sequence": null},
                "usage": self.usage.to_anthropic(),
            }),
        ));
        out.push(event(
            Some("message_stop"),
            &json!({"type": "message_stop"}),
        ));
        out
    }

    fn is_finished(&self) -> bool {
        self.done
    }
}
