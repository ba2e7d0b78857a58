//! Translation between wire formats: requests, responses, errors and streams.
#![allow(clippy::unwrap_used)]

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

// ---------------------------------------------------------------- requests

#[test]
fn anthropic_request_to_chat_claude_code_shape() {
    let req = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in a.rs?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.rs"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "ls"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "fn main() {}",
                 "cache_control": {"type": "ephemeral"}},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "a.rs"}, {"type": "text", "text": "b.rs"}]},
                {"type": "text", "text": "Now explain."},
            ]},
            {"role": "assistant", "content": "It is empty."},
        ],
        "tools": [
            {"name": "Read", "description": "Read a file",
             "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
             "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["</done>"],
        "temperature": 0.2,
        "top_k": 40,
        "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "context_management": {"edits": []},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "u1"},
    });
    let chat = anthropic_request_to_chat(&req).unwrap();
    assert_eq!(
        chat,
        json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "You are Claude Code.\n\nBe brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in a.rs?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                ]},
                {"role": "assistant", "content": "Reading it.", "tool_calls": [
                    {"id": "toolu_1", "type": "function",
                     "function": {"name": "Read", "arguments": "{\"file_path\":\"a.rs\"}"}},
                    {"id": "toolu_2", "type": "function",
                     "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "fn main() {}"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "a.rs\nb.rs"},
                {"role": "user", "content": "Now explain."},
                {"role": "assistant", "content": "It is empty."},
            ],
            "max_tokens": 32000,
            "temperature": 0.2,
            "stop": ["</done>"],
            "tools": [{"type": "function", "function": {
                "name": "Read", "description": "Read a file",
                "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}},
            }}],
            "tool_choice": "required",
            "parallel_tool_calls": false,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn anthropic_request_to_chat_tool_choice_and_plain_strings() {
    let base = json!({
        "model": "m", "max_tokens": 10, "system": "sys",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    });
    let with_choice = |choice: Value| {
        let mut r = base.clone();
        r["tool_choice"] = choice;
        anthropic_request_to_chat(&r).unwrap()["tool_choice"].clone()
    };
    assert_eq!(with_choice(json!({"type": "auto"})), json!("auto"));
    assert_eq!(with_choice(json!({"type": "none"})), json!("none"));
    assert_eq!(
        with_choice(json!({"type": "tool", "name": "f"})),
        json!({"type": "function", "function": {"name": "f"}})
    );
    let chat = anthropic_request_to_chat(&base).unwrap();
    assert_eq!(
        chat["messages"],
        json!([{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(chat.get("stream"), None);
    assert!(matches!(
        anthropic_request_to_chat(&json!({"messages": 3})),
        Err(TranslateError::Invalid(_))
    ));
}

#[test]
fn chat_request_to_anthropic_merges_roles_and_maps_tools() {
    let req = json!({
        "model": "claude-haiku-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "List files."},
            {"role": "user", "content": [
                {"type": "text", "text": "And this:"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{\"dir\":\".\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "pwd", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.rs"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "/src"}]},
            {"role": "user", "content": "Thanks."},
            {"role": "assistant", "content": ""},
        ],
        "max_completion_tokens": 500,
        "temperature": 1.5,
        "stop": "END",
        "stream": true,
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {
            "name": "ls", "description": "List", "parameters": {"type": "object", "properties": {"dir": {"type": "string"}}},
        }}, {"type": "function", "function": {"name": "pwd"}}],
        "tool_choice": {"type": "function", "function": {"name": "ls"}},
        "parallel_tool_calls": false,
        "user": "alice",
        "response_format": {"type": "text"},
    });
    let a = chat_request_to_anthropic(&req).unwrap();
    assert_eq!(
        a,
        json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 500,
            "system": "You are terse.\n\nUse tools.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "List files."},
                    {"type": "text", "text": "And this:"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "ls", "input": {"dir": "."}},
                    {"type": "tool_use", "id": "call_2", "name": "pwd", "input": {}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "a.rs"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "/src"},
                    {"type": "text", "text": "Thanks."},
                ]},
            ],
            "temperature": 1.0,
            "stop_sequences": ["END"],
            "stream": true,
            "tools": [
                {"name": "ls", "description": "List",
                 "input_schema": {"type": "object", "properties": {"dir": {"type": "string"}}}},
                {"name": "pwd", "input_schema": {"type": "object", "properties": {}}},
            ],
            "tool_choice": {"type": "tool", "name": "ls", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "alice"},
        })
    );
}

#[test]
fn chat_request_to_anthropic_defaults_and_refusals() {
    let a = chat_request_to_anthropic(&json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [],
        "tool_choice": "required",
    }))
    .unwrap();
    assert_eq!(
        a,
        json!({"model": "m", "max_tokens": DEFAULT_MAX_TOKENS,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    );
    let n2 = json!({"model": "m", "n": 2, "messages": []});
    assert!(matches!(
        chat_request_to_anthropic(&n2),
        Err(TranslateError::Unsupported(_))
    ));
    let audio =
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]});
    assert!(matches!(
        chat_request_to_anthropic(&audio),
        Err(TranslateError::Unsupported(_))
    ));
}

#[test]
fn responses_request_to_chat_codex_shape() {
    let req = json!({
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: workspace-write."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the bug."}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xyz"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
            {"type": "function_call", "call_id": "call_a", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
            {"type": "function_call", "call_id": "call_b", "name": "shell", "arguments": "{\"command\":[\"pwd\"]}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "a.rs"},
            {"type": "function_call_output", "call_id": "call_b", "output": "/w"},
            {"role": "user", "content": [
                {"type": "input_text", "text": "See:"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "auto"},
            ]},
        ],
        "tools": [
            {"type": "function", "name": "shell", "description": "Run a command", "strict": false,
             "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}},
            {"type": "web_search"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "max_output_tokens": 2048,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k",
        "text": {"verbosity": "low"},
    });
    let chat = responses_request_to_chat(&req).unwrap();
    assert_eq!(
        chat,
        json!({
            "model": "gpt-5-codex",
            "messages": [
                {"role": "system", "content": "You are Codex.\n\nSandbox: workspace-write."},
                {"role": "user", "content": "<environment_context/>"},
                {"role": "user", "content": "Fix the bug."},
                {"role": "assistant", "content": "Looking.", "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "shell", "arguments": "{\"command\":[\"pwd\"]}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_a", "content": "a.rs"},
                {"role": "tool", "tool_call_id": "call_b", "content": "/w"},
                {"role": "user", "content": [
                    {"type": "text", "text": "See:"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "auto"}},
                ]},
            ],
            "max_tokens": 2048,
            "tools": [{"type": "function", "function": {
                "name": "shell", "description": "Run a command",
                "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
                "strict": false,
            }}],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn responses_request_to_chat_edge_cases() {
    let chat = responses_request_to_chat(&json!({
        "model": "m", "input": "hello",
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}},
    }))
    .unwrap();
    assert_eq!(
        chat,
        json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hello"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}},
        })
    );
    let prev = json!({"model": "m", "input": "x", "previous_response_id": "resp_1"});
    assert!(matches!(
        responses_request_to_chat(&prev),
        Err(TranslateError::Unsupported(_))
    ));
    // A function call right after tool output opens a new assistant message.
    let chat = responses_request_to_chat(&json!({"input": [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": ""},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
    ]}))
    .unwrap();
    assert_eq!(
        chat["messages"],
        json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        ])
    );
}

// ---------------------------------------------------------------- responses

fn chat_completion() -> Value {
    json!({
        "id": "chatcmpl-xyz", "object": "chat.completion", "created": 1_700_000_000u64,
        "model": "qwen3-coder",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.",
            "tool_calls": [{"id": "call_9", "type": "function",
                            "function": {"name": "read_file", "arguments": "{\"path\":\"a.rs\"}"}}],
        }}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
                  "prompt_tokens_details": {"cached_tokens": 1000},
                  "completion_tokens_details": {"reasoning_tokens": 30}},
    })
}

#[test]
fn chat_response_to_anthropic_whole() {
    assert_eq!(
        chat_response_to_anthropic(&chat_completion()).unwrap(),
        json!({
            "id": "chatcmpl-xyz", "type": "message", "role": "assistant", "model": "qwen3-coder",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_9", "name": "read_file", "input": {"path": "a.rs"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 200, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 1000, "output_tokens": 80},
        })
    );
    let mut cut = chat_completion();
    cut["choices"][0]["finish_reason"] = json!("length");
    cut["choices"][0]["message"]["tool_calls"] = Value::Null;
    let a = chat_response_to_anthropic(&cut).unwrap();
    assert_eq!(a["stop_reason"], "max_tokens");
    assert_eq!(a["content"], json!([{"type": "text", "text": "Checking."}]));
}

#[test]
fn anthropic_response_to_chat_whole() {
    let msg = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "...", "signature": "s"},
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.rs"}},
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 50, "cache_creation_input_tokens": 100,
                  "cache_read_input_tokens": 2000, "output_tokens": 40},
    });
    let mut chat = anthropic_response_to_chat(&msg).unwrap();
    assert!(chat["created"].as_u64().unwrap() > 1_600_000_000);
    chat["created"] = json!(0);
    assert_eq!(
        chat,
        json!({
            "id": "msg_01", "object": "chat.completion", "created": 0, "model": "claude-sonnet-4-5",
            "choices": [{"index": 0, "message": {
                "role": "assistant", "content": "Reading.",
                "tool_calls": [{"id": "toolu_1", "type": "function",
                                "function": {"name": "Read", "arguments": "{\"file_path\":\"a.rs\"}"}}],
            }, "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 2150, "completion_tokens": 40, "total_tokens": 2190,
                      "prompt_tokens_details": {"cached_tokens": 2000},
                      "completion_tokens_details": {"reasoning_tokens": 0}},
        })
    );
}

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

#[test]
fn chat_response_to_responses_whole() {
    let mut resp = chat_completion();
    resp["created"] = json!(1_700_000_000u64);
    let r = chat_response_to_responses(&resp, &responses_request()).unwrap();
    assert_eq!(
        r,
        echoed(
            "resp_xyz",
            "completed",
            Value::Null,
            json!([
                {"id": "msg_xyz_0", "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
                {"id": "fc_xyz_1", "type": "function_call", "status": "completed",
                 "arguments": "{\"path\":\"a.rs\"}", "call_id": "call_9", "name": "read_file"},
            ]),
            responses_usage(),
        )
    );
    resp["choices"][0]["finish_reason"] = json!("length");
    let r = chat_response_to_responses(&resp, &responses_request()).unwrap();
    assert_eq!(r["status"], "incomplete");
    assert_eq!(
        r["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_are_reshaped() {
    let openai_ctx = br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    assert_eq!(
        error_to_anthropic(400, openai_ctx),
        json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "prompt is too long: This model's maximum context length is 8192 tokens."}})
    );
    assert_eq!(
        error_to_openai(400, openai_ctx),
        json!({"error": {"message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
    );
    let anthropic_overloaded =
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(
        error_to_anthropic(529, anthropic_overloaded),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(
        error_to_openai(529, anthropic_overloaded),
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}})
    );
    let too_long = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
    assert_eq!(
        error_to_openai(400, too_long)["error"]["code"],
        "context_length_exceeded"
    );
    assert_eq!(
        error_to_anthropic(429, b"slow down"),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    assert_eq!(
        error_to_openai(502, b""),
        json!({"error": {"message": "upstream returned HTTP 502", "type": "server_error",
            "param": null, "code": null}})
    );
    let llama_cpp = br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#;
    assert_eq!(
        error_to_openai(400, llama_cpp),
        json!({"error": {"message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error", "param": null, "code": "context_length_exceeded"}})
    );
    assert_eq!(
        error_to_anthropic(400, llama_cpp)["error"]["message"],
        "prompt is too long: the request exceeds the available context size, try increasing it"
    );
    assert_eq!(
        error_to_openai(404, br#"{"detail":"Not Found"}"#)["error"]["message"],
        "Not Found"
    );
}

// ---------------------------------------------------------------- streams

#[test]
fn chat_to_anthropic_stream_text_tools_usage() {
    let mut t = ChatToAnthropicStream::new("claude-sonnet-4-5");
    let out = feed(&mut t, &chat_stream());
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let d = datas(&out);
    for (name, data) in names(&out).iter().zip(&d) {
        assert_eq!(data["type"], *name);
    }
    assert_eq!(
        d[0],
        json!({"type": "message_start", "message": {
            "id": "chatcmpl-abc123", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 0},
        }})
    );
    assert_eq!(
        d[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        d[2],
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}})
    );
    assert_eq!(d[4], json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(
        d[5],
        json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "call_1", "name": "read_file", "input": {}}})
    );
    assert_eq!(
        d[6],
        json!({"type": "content_block_delta", "index": 1,
               "delta": {"type": "input_json_delta", "partial_json": "{\"path\":"}})
    );
    assert_eq!(
        d[9],
        json!({"type": "content_block_start", "index": 2, "content_block":
            {"type": "tool_use", "id": "call_2", "name": "ls", "input": {}}})
    );
    assert_eq!(d[11], json!({"type": "content_block_stop", "index": 2}));
    assert_eq!(
        d[12],
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 200, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 1000, "output_tokens": 80}})
    );
    assert_eq!(d[13], json!({"type": "message_stop"}));
    assert!(t.is_finished());
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert_wire_roundtrip(&out);
}

#[test]
fn chat_to_anthropic_stream_cut_and_end_without_done() {
    // Cut by the gateway mid-text.
    let mut t = ChatToAnthropicStream::new("m");
    let mut out = feed(&mut t, &chat_stream()[..2]);
    out.extend(t.finish(Some(FinishReason::Length)));
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(datas(&out)[4]["delta"]["stop_reason"], "max_tokens");
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert!(
        t.push(&chunk(json!({"content": "late"}), Value::Null))
            .is_empty()
    );

    // Cut mid tool call: the tool block is closed too.
    let mut t = ChatToAnthropicStream::new("m");
    let mut out = feed(&mut t, &chat_stream()[3..5]);
    out.extend(t.finish(Some(FinishReason::Length)));
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(datas(&out)[4]["delta"]["stop_reason"], "max_tokens");

    // Upstream finished and sent usage but no [DONE]: finish(None) keeps its reason and usage.
    let mut t = ChatToAnthropicStream::new("m");
    let stream = chat_stream();
    let mut out = feed(&mut t, &stream[..stream.len() - 1]);
    assert_eq!(names(&out).last(), Some(&"content_block_stop"));
    out.extend(t.finish(None));
    let last = datas(&out);
    assert_eq!(last[last.len() - 2]["delta"]["stop_reason"], "tool_use");
    assert_eq!(last[last.len() - 2]["usage"]["output_tokens"], 80);

    // Nothing at all arrived: still a well-formed message.
    let mut t = ChatToAnthropicStream::new("m");
    assert_eq!(
        names(&t.finish(None)),
        ["message_start", "message_delta", "message_stop"]
    );

    // An upstream error becomes an Anthropic error event and ends the stream.
    let mut t = ChatToAnthropicStream::new("m");
    let err = SseEvent::new(None, json!({"error": {"message": "boom"}}).to_string());
    let out = t.push(&err);
    assert_eq!(
        datas(&out),
        [json!({"type": "error", "error": {"type": "api_error", "message": "boom"}})]
    );
    assert!(t.finish(None).is_empty());
}

fn anthropic_stream() -> Vec<SseEvent> {
    vec![
        anth(json!({"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 50, "cache_creation_input_tokens": 100,
                      "cache_read_input_tokens": 2000, "output_tokens": 1},
        }})),
        anth(json!({"type": "ping"})),
        anth(
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        anth(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Reading."}}),
        ),
        anth(json!({"type": "content_block_stop", "index": 0})),
        anth(
            json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}}),
        ),
        anth(json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": ""}})),
        anth(json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": "{\"file_path\":"}})),
        anth(json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": "\"a.rs\"}"}})),
        anth(json!({"type": "content_block_stop", "index": 1})),
        anth(
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                    "usage": {"output_tokens": 42}}),
        ),
        anth(json!({"type": "message_stop"})),
    ]
}

fn chat_chunk_json(delta: Value, finish: Value) -> Value {
    json!({"id": "msg_01", "object": "chat.completion.chunk", "created": 7, "model": "my-model",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
           "usage": null})
}

#[test]
fn anthropic_to_chat_stream_text_tools_usage() {
    let mut t = AnthropicToChatStream::new("my-model", true).with_created(7);
    let out = feed(&mut t, &anthropic_stream());
    assert!(out.iter().all(|e| e.event.is_none()));
    let tc = |v: Value| json!({"tool_calls": [v]});
    assert_eq!(
        datas(&out),
        vec![
            chat_chunk_json(json!({"role": "assistant", "content": ""}), Value::Null),
            chat_chunk_json(json!({"content": "Reading."}), Value::Null),
            chat_chunk_json(
                tc(json!({"index": 0, "id": "toolu_1", "type": "function",
                          "function": {"name": "Read", "arguments": ""}})),
                Value::Null
            ),
            chat_chunk_json(
                tc(json!({"index": 0, "function": {"arguments": "{\"file_path\":"}})),
                Value::Null
            ),
            chat_chunk_json(
                tc(json!({"index": 0, "function": {"arguments": "\"a.rs\"}"}})),
                Value::Null
            ),
            chat_chunk_json(json!({}), json!("tool_calls")),
            json!({"id": "msg_01", "object": "chat.completion.chunk", "created": 7, "model": "my-model",
                   "choices": [],
                   "usage": {"prompt_tokens": 2150, "completion_tokens": 42, "total_tokens": 2192,
                             "prompt_tokens_details": {"cached_tokens": 2000},
                             "completion_tokens_details": {"reasoning_tokens": 0}}}),
            json!("[DONE]"),
        ]
    );
    assert_eq!(&out.last().unwrap().raw[..], b"data: [DONE]\n\n");
    assert!(t.finish(None).is_empty());
    assert_wire_roundtrip(&out);

    // Without include_usage: no usage chunk, no `usage` keys.
    let mut t = AnthropicToChatStream::new("my-model", false).with_created(7);
    let out = datas(&feed(&mut t, &anthropic_stream()));
    assert_eq!(out.len(), 7);
    assert!(out.iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn anthropic_to_chat_stream_cut_and_error() {
    let mut t = AnthropicToChatStream::new("my-model", true).with_created(7);
    let mut out = feed(&mut t, &anthropic_stream()[..4]);
    out.extend(t.finish(Some(FinishReason::Length)));
    let d = datas(&out);
    assert_eq!(d.len(), 5);
    assert_eq!(d[2], chat_chunk_json(json!({}), json!("length")));
    assert_eq!(d[3]["usage"]["prompt_tokens"], 2150);
    assert_eq!(d[4], json!("[DONE]"));
    assert!(t.finish(Some(FinishReason::Length)).is_empty());

    let mut t = AnthropicToChatStream::new("my-model", false);
    let err = anth(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    assert_eq!(
        datas(&t.push(&err)),
        [
            json!({"error": {"message": "Overloaded", "type": "overloaded_error", "param": null, "code": null}})
        ]
    );
    assert!(t.is_finished());
}

#[test]
fn chat_to_responses_stream_text_tools_usage() {
    let mut t = ChatToResponsesStream::new(&responses_request());
    let out = feed(&mut t, &chat_stream());
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let d = datas(&out);
    for (i, (name, data)) in names(&out).iter().zip(&d).enumerate() {
        assert_eq!(data["type"], *name);
        assert_eq!(data["sequence_number"], i);
    }
    assert_eq!(
        d[0],
        json!({"type": "response.created", "sequence_number": 0,
               "response": echoed("resp_abc123", "in_progress", Value::Null, json!([]), Value::Null)})
    );
    assert_eq!(
        d[2],
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
               "item": {"id": "msg_abc123_0", "type": "message", "status": "in_progress",
                        "role": "assistant", "content": []}})
    );
    assert_eq!(
        d[4],
        json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_abc123_0",
               "output_index": 0, "content_index": 0, "delta": "Let me ", "logprobs": []})
    );
    assert_eq!(
        d[6],
        json!({"type": "response.output_text.done", "sequence_number": 6, "item_id": "msg_abc123_0",
               "output_index": 0, "content_index": 0, "text": "Let me look.", "logprobs": []})
    );
    assert_eq!(
        d[9],
        json!({"type": "response.output_item.added", "sequence_number": 9, "output_index": 1,
               "item": {"id": "fc_abc123_1", "type": "function_call", "status": "in_progress",
                        "arguments": "", "call_id": "call_1", "name": "read_file"}})
    );
    assert_eq!(
        d[10],
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 10,
               "item_id": "fc_abc123_1", "output_index": 1, "delta": "{\"path\":"})
    );
    assert_eq!(
        d[12],
        json!({"type": "response.function_call_arguments.done", "sequence_number": 12,
               "item_id": "fc_abc123_1", "output_index": 1, "name": "read_file",
               "arguments": "{\"path\":\"a.rs\"}"})
    );
    let output = json!([
        {"id": "msg_abc123_0", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
        {"id": "fc_abc123_1", "type": "function_call", "status": "completed",
         "arguments": "{\"path\":\"a.rs\"}", "call_id": "call_1", "name": "read_file"},
        {"id": "fc_abc123_2", "type": "function_call", "status": "completed",
         "arguments": "{}", "call_id": "call_2", "name": "ls"},
    ]);
    assert_eq!(
        d[18],
        json!({"type": "response.completed", "sequence_number": 18,
               "response": echoed("resp_abc123", "completed", Value::Null, output, responses_usage())})
    );
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert_wire_roundtrip(&out);
}

#[test]
fn chat_to_responses_stream_cut_and_error() {
    let mut t = ChatToResponsesStream::new(&responses_request());
    let mut out = feed(&mut t, &chat_stream()[..5]);
    out.extend(t.finish(Some(FinishReason::Length)));
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.incomplete",
        ]
    );
    let last = datas(&out).pop().unwrap();
    assert_eq!(last["sequence_number"], 13);
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["output"][1]["arguments"], "{\"path\":");
    assert_eq!(last["response"]["usage"], Value::Null);
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert!(t.push(&done()).is_empty());

    let mut t = ChatToResponsesStream::new(&responses_request());
    let mut out = t.push(&chat_stream()[1]);
    let err = json!({"error": {"message": "context too long", "code": "context_length_exceeded"}});
    out.extend(t.push(&SseEvent::new(None, err.to_string())));
    let n = names(&out);
    assert_eq!(n[n.len() - 1], "response.failed");
    let failed = datas(&out).pop().unwrap();
    assert_eq!(
        failed["response"]["error"],
        json!({"code": "context_length_exceeded", "message": "context too long"})
    );
    assert_eq!(failed["response"]["status"], "failed");
    assert!(t.finish(None).is_empty());
}
