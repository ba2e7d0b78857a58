//! Requests translated between the formats.

use serde_json::{Value, json};

use super::*;

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
