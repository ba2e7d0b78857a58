//! Whole (unstreamed) responses translated between the formats.

use serde_json::{Value, json};

use super::*;

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
