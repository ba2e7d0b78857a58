//! Chat Completions stream → Responses stream (the event sequence Codex CLI consumes).

use serde_json::{Map, Value, json};

use super::chat_chunks::{ChatChunkParser, Piece};
use super::responses_chat::{
    echo_fields, function_call_item, id_base, item_id, message_item, response_object, status_for,
};
use super::{FinishReason, StreamTranslator, Tokens, event, str_of, unix_now};
use crate::sse::SseEvent;

#[derive(Debug)]
enum OpenItem {
    Message {
        id: String,
        index: usize,
        text: String,
    },
    Call {
        id: String,
        index: usize,
        call_id: String,
        name: String,
        args: String,
    },
}

/// Turns a Chat Completions stream into a Responses stream: `response.created`,
/// `response.in_progress`, per output item `response.output_item.added` … `.done` (text
/// through `response.content_part.*` and `response.output_text.*`, function calls through
/// `response.function_call_arguments.*`), then `response.completed` — or
/// `response.incomplete` when the output limit was hit or the gateway cut the stream with
/// [`FinishReason::Length`], or `response.failed` when the upstream streamed an error.
/// Every event's `event:` name equals its `type`, and `sequence_number` counts from 0.
#[derive(Debug)]
pub struct ChatToResponsesStream {
    echo: Map<String, Value>,
    parser: ChatChunkParser,
    seq: u64,
    base: String,
    created_at: u64,
    started: bool,
    done: bool,
    output: Vec<Value>,
    open: Option<OpenItem>,
    finish: Option<FinishReason>,
    usage: Option<Tokens>,
}

impl ChatToResponsesStream {
    /// `original_request` is the client's Responses request, whose settings the response
    /// objects echo (only those fields are kept, not the input).
    pub fn new(original_request: &Value) -> Self {
        Self {
            echo: echo_fields(original_request),
            parser: ChatChunkParser::default(),
            seq: 0,
            base: id_base(None),
            created_at: 0,
            started: false,
            done: false,
            output: Vec::new(),
            open: None,
            finish: None,
            usage: None,
        }
    }

    fn emit(&mut self, out: &mut Vec<SseEvent>, kind: &str, fields: Value) {
        let mut m = Map::new();
        m.insert("type".into(), json!(kind));
        m.insert("sequence_number".into(), json!(self.seq));
        if let Value::Object(f) = fields {
            m.extend(f);
        }
        self.seq += 1;
        out.push(event(Some(kind), &Value::Object(m)));
    }

    fn response(&self, status: &str, incomplete: Value, usage: Option<Tokens>) -> Value {
        let id = format!("resp_{}", self.base);
        response_object(
            &self.echo,
            &id,
            self.created_at,
            status,
            incomplete,
            self.output.clone(),
            usage,
        )
    }

    fn start(&mut self, chunk: Option<&Value>, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(c) = chunk {
            self.base = id_base(str_of(c, "id"));
            if self.echo.get("model").is_none_or(Value::is_null)
                && let Some(m) = c.get("model")
            {
                self.echo.insert("model".into(), m.clone());
            }
        }
        self.created_at = chunk
            .and_then(|c| c.get("created"))
            .and_then(Value::as_u64)
            .unwrap_or_else(unix_now);
        let r = self.response("in_progress", Value::Null, None);
        self.emit(out, "response.created", json!({"response": r}));
        self.emit(out, "response.in_progress", json!({"response": r}));
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        match self.open.take() {
            None => {}
            Some(OpenItem::Message { id, index, text }) => {
                let common = json!({"item_id": id, "output_index": index, "content_index": 0});
                let mut f = common.clone();
                f["text"] = json!(text);
                f["logprobs"] = json!([]);
                self.emit(out, "response.output_text.done", f);
                let mut f = common;
                f["part"] = json!({"type": "output_text", "text": text, "annotations": []});
                self.emit(out, "response.content_part.done", f);
                let item = message_item(&id, "completed", &text);
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
            Some(OpenItem::Call {
                id,
                index,
                call_id,
                name,
                args,
            }) => {
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": name, "arguments": args}),
                );
                let item = function_call_item(&id, "completed", &call_id, &name, &args);
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                self.output.push(item);
            }
        }
    }

    fn text(&mut self, delta: String, out: &mut Vec<SseEvent>) {
        if !matches!(self.open, Some(OpenItem::Message { .. })) {
            self.close(out);
            let index = self.output.len();
            let id = item_id("msg", &self.base, index);
            let mut item = message_item(&id, "in_progress", "");
            item["content"] = json!([]);
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            self.emit(
                out,
                "response.content_part.added",
                json!({
                    "item_id": id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                }),
            );
            self.open = Some(OpenItem::Message {
                id,
                index,
                text: String::new(),
            });
        }
        if let Some(OpenItem::Message { id, index, text }) = &mut self.open {
            text.push_str(&delta);
            let fields = json!({
                "item_id": id, "output_index": index, "content_index": 0,
                "delta": delta, "logprobs": [],
            });
            self.emit(out, "response.output_text.delta", fields);
        }
    }

    fn tool_start(&mut self, call_id: String, name: String, out: &mut Vec<SseEvent>) {
        self.close(out);
        let index = self.output.len();
        let id = item_id("fc", &self.base, index);
        let item = function_call_item(&id, "in_progress", &call_id, &name, "");
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.open = Some(OpenItem::Call {
            id,
            index,
            call_id,
            name,
            args: String::new(),
        });
    }

    fn tool_args(&mut self, delta: String, out: &mut Vec<SseEvent>) {
        if let Some(OpenItem::Call {
            id, index, args, ..
        }) = &mut self.open
        {
            args.push_str(&delta);
            let fields = json!({"item_id": id, "output_index": index, "delta": delta});
            self.emit(out, "response.function_call_arguments.delta", fields);
        }
    }
}

impl StreamTranslator for ChatToResponsesStream {
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
        self.start(Some(&chunk), &mut out);
        for piece in self.parser.push(&chunk) {
            match piece {
                Piece::Text(t) => self.text(t, &mut out),
                Piece::ToolStart { id, name } => self.tool_start(id, name, &mut out),
                Piece::ToolArgs(a) => self.tool_args(a, &mut out),
                Piece::Finish(r) => {
                    self.finish = Some(r);
                    self.close(&mut out);
                }
                Piece::Usage(u) => self.usage = Some(u),
                Piece::Error(err) => {
                    self.done = true;
                    self.close(&mut out);
                    let mut r = self.response("failed", Value::Null, self.usage);
                    let code = match err.get("code") {
                        Some(Value::String(c)) => c.clone(),
                        _ => str_of(&err, "type").unwrap_or("server_error").to_string(),
                    };
                    let message =
                        str_of(&err, "message").map_or_else(|| err.to_string(), str::to_string);
                    r["error"] = json!({"code": code, "message": message});
                    self.emit(&mut out, "response.failed", json!({"response": r}));
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
        self.start(None, &mut out);
        self.close(&mut out);
        let (status, incomplete) = status_for(self.finish.or(reason).unwrap_or(FinishReason::Stop));
        let r = self.response(status, incomplete, self.usage);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(&mut out, kind, json!({"response": r}));
        out
    }

    fn is_finished(&self) -> bool {
        self.done
    }
}
