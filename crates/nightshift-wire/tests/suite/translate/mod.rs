//! Translation between wire formats: requests, responses, errors and streams; the helpers
//! they share.

mod errors;
mod requests;
mod responses;
mod streams;

use nightshift_wire::sse::{SseDecoder, SseEvent};
use nightshift_wire::translate::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

/// A Chat stream chunk as an upstream sends it.
fn chunk(delta: Value, finish: Value) -> SseEvent {
    let c = json!({
        "id": "chatcmpl-abc123", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": "qwen3-coder",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    SseEvent::new(None, c.to_string())
}

fn tool_delta(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> SseEvent {
    let mut tc = json!({"index": index, "function": {"arguments": args}});
    if let Some(id) = id {
        tc["id"] = json!(id);
        tc["type"] = json!("function");
    }
    if let Some(name) = name {
        tc["function"]["name"] = json!(name);
    }
    chunk(json!({"tool_calls": [tc]}), Value::Null)
}

fn usage_chunk() -> SseEvent {
    let c = json!({
        "id": "chatcmpl-abc123", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": "qwen3-coder", "choices": [],
        "usage": {
            "prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "completion_tokens_details": {"reasoning_tokens": 30},
        },
    });
    SseEvent::new(None, c.to_string())
}

fn done() -> SseEvent {
    SseEvent::new(None, "[DONE]")
}

/// An Anthropic stream event (named after its type, as Anthropic sends them).
fn anth(data: Value) -> SseEvent {
    let name = data["type"].as_str().unwrap().to_string();
    SseEvent::new(Some(&name), data.to_string())
}

/// A realistic Chat stream: text, two tool calls, finish, usage, [DONE].
fn chat_stream() -> Vec<SseEvent> {
    vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Let me "}), Value::Null),
        chunk(json!({"content": "look."}), Value::Null),
        tool_delta(0, Some("call_1"), Some("read_file"), ""),
        tool_delta(0, None, None, "{\"path\":"),
        tool_delta(0, None, None, "\"a.rs\"}"),
        tool_delta(1, Some("call_2"), Some("ls"), "{}"),
        chunk(json!({}), json!("tool_calls")),
        usage_chunk(),
        done(),
    ]
}

fn feed(t: &mut dyn StreamTranslator, events: &[SseEvent]) -> Vec<SseEvent> {
    events.iter().flat_map(|e| t.push(e)).collect()
}

fn names(events: &[SseEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.event.as_deref().unwrap_or(""))
        .collect()
}

fn datas(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap_or_else(|_| json!(e.data)))
        .collect()
}

/// Every event decodes back from its own bytes to the same event.
fn assert_wire_roundtrip(events: &[SseEvent]) {
    let mut dec = SseDecoder::new();
    let bytes: Vec<u8> = events.iter().flat_map(|e| e.raw.to_vec()).collect();
    let back = dec.push(&bytes);
    assert_eq!(back, events);
}

// ---------------------------------------------------------------- Responses

fn responses_request() -> Value {
    json!({
        "model": "gpt-5-codex", "instructions": "Be Codex.", "input": "hi",
        "tools": [{"type": "function", "name": "read_file", "parameters": {"type": "object"}}],
        "tool_choice": "auto", "parallel_tool_calls": false, "store": false, "stream": true,
        "reasoning": {"effort": "low"},
    })
}

/// The response object fields that echo [`responses_request`].
fn echoed(id: &str, status: &str, incomplete: Value, output: Value, usage: Value) -> Value {
    json!({
        "id": id, "object": "response", "created_at": 1_700_000_000u64, "status": status,
        "error": null, "incomplete_details": incomplete, "instructions": "Be Codex.",
        "max_output_tokens": null, "model": "gpt-5-codex", "output": output,
        "parallel_tool_calls": false, "previous_response_id": null,
        "reasoning": {"effort": "low", "summary": null}, "store": false, "temperature": null,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [{"type": "function", "name": "read_file", "parameters": {"type": "object"}}],
        "top_p": null, "truncation": "disabled", "usage": usage, "user": null, "metadata": {},
    })
}

fn responses_usage() -> Value {
    json!({"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1000},
           "output_tokens": 80, "output_tokens_details": {"reasoning_tokens": 30},
           "total_tokens": 1280})
}
