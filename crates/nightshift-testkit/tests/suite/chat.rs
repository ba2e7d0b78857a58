//! OpenAI Chat Completions.

use nightshift_testkit::{Step, ToolCall, Usage};
use serde_json::{Value, json};

use super::{normalize, post_json, post_sse, provider};

const PATH: &str = "/chat/completions";

fn full_usage() -> Usage {
    Usage {
        input_tokens: 100,
        output_tokens: 30,
        cached_input_tokens: 60,
        cache_write_tokens: 10,
        reasoning_tokens: 20,
    }
}

fn usage_json() -> Value {
    json!({
        "prompt_tokens": 100,
        "completion_tokens": 30,
        "total_tokens": 130,
        "prompt_tokens_details": { "cached_tokens": 60, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 20,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

#[tokio::test]
async fn non_streaming_text_has_the_full_native_shape() {
    let p = provider([Step::text("Hello big world").with_full_usage(full_usage())]).await;
    let body = post_json(&p, PATH, json!({ "model": "gpt-x", "messages": [] })).await;
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        normalize(body),
        json!({
            "id": "<id>",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-x",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello big world",
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": usage_json(),
            "service_tier": "default",
            "system_fingerprint": "fp_scripted"
        })
    );
}

#[tokio::test]
async fn non_streaming_tool_calls_carry_string_arguments() {
    let step = Step {
        tool_calls: vec![
            ToolCall {
                id: Some("call_abc".into()),
                name: "read_file".into(),
                arguments: json!({ "path": "src/lib.rs" }),
            },
            ToolCall {
                id: None,
                name: "raw".into(),
                arguments: json!("{not json"),
            },
        ],
        ..Step::default()
    }
    .with_usage(10, 5);
    let p = provider([step]).await;
    let body = post_json(&p, PATH, json!({ "model": "m" })).await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            { "id": "call_abc", "type": "function",
              "function": { "name": "read_file", "arguments": "{\"path\":\"src/lib.rs\"}" } },
            { "id": "call_scripted_0_1", "type": "function",
              "function": { "name": "raw", "arguments": "{not json" } }
        ])
    );
}

#[tokio::test]
async fn streaming_without_include_usage_has_no_usage_anywhere() {
    let p = provider([Step::text("Hello big world").with_usage(9, 3)]).await;
    let events = post_sse(&p, PATH, json!({ "model": "m", "stream": true })).await;
    assert!(events.iter().all(|e| e.name.is_none()));
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    let deltas: Vec<Value> = chunks
        .iter()
        .map(|c| c["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas,
        [
            json!({ "role": "assistant", "content": "", "refusal": null }),
            json!({ "content": "Hello " }),
            json!({ "content": "big " }),
            json!({ "content": "world" }),
            json!({}),
        ]
    );
    let finishes: Vec<Value> = chunks
        .iter()
        .map(|c| c["choices"][0]["finish_reason"].clone())
        .collect();
    assert_eq!(
        finishes,
        [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            json!("stop")
        ]
    );
    for c in &chunks {
        assert!(c.get("usage").is_none(), "{c}");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "m");
        assert_eq!(c["choices"][0]["index"], 0);
        assert_eq!(c["choices"][0]["logprobs"], Value::Null);
        assert_eq!(c["id"], chunks[0]["id"]);
    }
}

#[tokio::test]
async fn streaming_with_include_usage_ends_with_a_usage_chunk() {
    let p = provider([Step::text("a b").with_full_usage(full_usage())]).await;
    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "m", "stream": true, "stream_options": { "include_usage": true } }),
    )
    .await;
    let n = events.len();
    assert_eq!(n, 6); // role, a, b, finish, usage, [DONE]
    assert_eq!(events[n - 1].data, "[DONE]");
    let usage_chunk = normalize(events[n - 2].json());
    assert_eq!(
        usage_chunk,
        json!({
            "id": "<id>",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "service_tier": "default",
            "system_fingerprint": "fp_scripted",
            "choices": [],
            "usage": usage_json()
        })
    );
    for e in &events[..n - 2] {
        assert_eq!(e.json()["usage"], Value::Null);
        assert!(e.json().as_object().unwrap().contains_key("usage"));
    }
}

#[tokio::test]
async fn streaming_tool_calls_arrive_in_indexed_pieces() {
    let args = json!({ "path": "a/very/long/path/to/some/file.rs", "line": 12 });
    let step = Step {
        text: Some("Let me look.".into()),
        tool_calls: vec![
            ToolCall {
                id: Some("call_1".into()),
                name: "read".into(),
                arguments: args.clone(),
            },
            ToolCall {
                id: Some("call_2".into()),
                name: "list".into(),
                arguments: json!({}),
            },
        ],
        ..Step::default()
    };
    let p = provider([step]).await;
    let events = post_sse(&p, PATH, json!({ "model": "m", "stream": true })).await;
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = Value::Null;
    for e in &events[..events.len() - 1] {
        let choice = e.json()["choices"][0].clone();
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
        if let Some(t) = choice["delta"]["content"].as_str() {
            text.push_str(t);
        }
        for tc in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if i == calls.len() {
                assert_eq!(tc["type"], "function");
                calls.push((
                    tc["id"].as_str().unwrap().into(),
                    tc["function"]["name"].as_str().unwrap().into(),
                    String::new(),
                ));
            } else {
                assert!(tc.get("id").is_none());
            }
            calls[i]
                .2
                .push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(text, "Let me look.");
    assert_eq!(finish, "tool_calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].0.as_str(), calls[0].1.as_str()),
        ("call_1", "read")
    );
    assert_eq!(serde_json::from_str::<Value>(&calls[0].2).unwrap(), args);
    assert_eq!((calls[1].0.as_str(), calls[1].2.as_str()), ("call_2", "{}"));
    // Long arguments come in more than one piece.
    let pieces = events
        .iter()
        .filter(|e| e.data.contains("\"tool_calls\":[{\"index\":0,\"function\""))
        .count();
    assert!(pieces > 1);
}

#[tokio::test]
async fn output_cap_truncates_with_finish_reason_length() {
    let step = Step {
        text: Some("one two three four five".into()),
        tool_calls: vec![ToolCall {
            id: None,
            name: "t".into(),
            arguments: json!({}),
        }],
        usage: Usage {
            input_tokens: 50,
            output_tokens: 40,
            reasoning_tokens: 30,
            ..Usage::default()
        },
        ..Step::default()
    };
    let p = provider([step.clone(), step]).await;
    // Non-streaming with the legacy max_tokens.
    let body = post_json(&p, PATH, json!({ "model": "m", "max_tokens": 2 })).await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(choice["message"]["content"], "one two ");
    assert!(choice["message"].get("tool_calls").is_none());
    assert_eq!(body["usage"]["completion_tokens"], 2);
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    assert_eq!(body["usage"]["prompt_tokens"], 50);
    assert_eq!(body["usage"]["total_tokens"], 52);
    // Streaming with max_completion_tokens (which wins over max_tokens).
    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "m", "stream": true, "max_completion_tokens": 3, "max_tokens": 100,
                "stream_options": { "include_usage": true } }),
    )
    .await;
    let contents: Vec<String> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(contents, ["", "one ", "two ", "three "]);
    assert!(!events.iter().any(|e| e.data.contains("tool_calls")));
    let n = events.len();
    assert_eq!(
        events[n - 3].json()["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(events[n - 2].json()["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn within_the_cap_output_is_as_scripted() {
    let p = provider([Step::text("a b c").with_usage(5, 3)]).await;
    let body = post_json(&p, PATH, json!({ "model": "m", "max_tokens": 3 })).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["choices"][0]["message"]["content"], "a b c");
    assert_eq!(body["usage"]["completion_tokens"], 3);
}
