//! Anthropic Messages.

use nightshift_testkit::{Step, ToolCall, Usage};
use serde_json::{Value, json};

use super::{names, normalize, post_json, post_sse, provider};

const PATH: &str = "/messages";

fn usage() -> Usage {
    Usage {
        input_tokens: 1000,
        output_tokens: 40,
        cached_input_tokens: 700,
        cache_write_tokens: 200,
        reasoning_tokens: 0,
    }
}

#[tokio::test]
async fn non_streaming_text_has_the_full_native_shape() {
    let p = provider([Step::text("Hello there").with_full_usage(usage())]).await;
    let body = post_json(
        &p,
        PATH,
        json!({ "model": "claude-x", "max_tokens": 1024, "messages": [] }),
    )
    .await;
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        normalize(body),
        json!({
            "id": "<id>",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [{ "type": "text", "text": "Hello there" }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {
                "input_tokens": 100,
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 700,
                "output_tokens": 40
            }
        })
    );
}

#[tokio::test]
async fn streaming_text_emits_the_native_event_sequence() {
    let p = provider([Step::text("Hello there friend").with_full_usage(usage())]).await;
    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "claude-x", "max_tokens": 1024, "stream": true }),
    )
    .await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for e in &events {
        assert_eq!(e.json()["type"], e.name.clone().unwrap());
    }
    assert_eq!(
        normalize(events[0].json()),
        json!({
            "type": "message_start",
            "message": {
                "id": "<id>",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": 100,
                    "cache_creation_input_tokens": 200,
                    "cache_read_input_tokens": 700,
                    "output_tokens": 1
                }
            }
        })
    );
    assert_eq!(
        events[1].json(),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })
    );
    assert_eq!(
        events[3].json(),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Hello " } })
    );
    assert_eq!(
        events[6].json(),
        json!({ "type": "content_block_stop", "index": 0 })
    );
    assert_eq!(
        events[7].json(),
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": 40 }
        })
    );
}

#[tokio::test]
async fn tool_use_blocks_stream_as_input_json_deltas() {
    let input = json!({ "command": "cargo test -p something --quiet", "timeout": 30 });
    let step = Step {
        text: Some("Running.".into()),
        tool_calls: vec![ToolCall {
            id: Some("toolu_1".into()),
            name: "bash".into(),
            arguments: input.clone(),
        }],
        ..Step::default()
    }
    .with_usage(30, 12);
    let p = provider([step.clone(), step]).await;
    let body = post_json(&p, PATH, json!({ "model": "c", "max_tokens": 100 })).await;
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(
        body["content"],
        json!([
            { "type": "text", "text": "Running." },
            { "type": "tool_use", "id": "toolu_1", "name": "bash", "input": input }
        ])
    );

    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "c", "max_tokens": 100, "stream": true }),
    )
    .await;
    let n = events.len();
    let ns = names(&events);
    assert_eq!(
        ns[..6],
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "content_block_start"
        ]
    );
    assert_eq!(
        ns[n - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert_eq!(
        events[5].json(),
        json!({ "type": "content_block_start", "index": 1,
                "content_block": { "type": "tool_use", "id": "toolu_1", "name": "bash", "input": {} } })
    );
    let json_text: String = events[6..n - 3]
        .iter()
        .map(|e| {
            let v = e.json();
            assert_eq!(v["index"], 1);
            assert_eq!(v["delta"]["type"], "input_json_delta");
            v["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(n - 9 > 1, "input comes in several deltas");
    assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), input);
    assert_eq!(events[n - 2].json()["delta"]["stop_reason"], "tool_use");
    assert_eq!(events[n - 2].json()["usage"]["output_tokens"], 12);
}

#[tokio::test]
async fn beta_query_is_served_and_recorded() {
    let p = provider([Step::text("ok").with_usage(3, 1)]).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/messages?beta=true", p.base_url()))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "sk-test")
        .json(&json!({ "model": "c", "max_tokens": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "ok");
    let req = &p.requests()[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.query.as_deref(), Some("beta=true"));
    assert_eq!(req.header("X-Api-Key"), Some("sk-test"));
    assert_eq!(req.body["max_tokens"], 10);
}

#[tokio::test]
async fn output_cap_stops_with_max_tokens() {
    let step = Step {
        text: Some("w1 w2 w3 w4 w5".into()),
        tool_calls: vec![ToolCall {
            id: None,
            name: "t".into(),
            arguments: json!({}),
        }],
        ..Step::default()
    }
    .with_full_usage(usage());
    let p = provider([step.clone(), step]).await;
    let body = post_json(&p, PATH, json!({ "model": "c", "max_tokens": 3 })).await;
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(
        body["content"],
        json!([{ "type": "text", "text": "w1 w2 w3 " }])
    );
    assert_eq!(body["usage"]["output_tokens"], 3);
    assert_eq!(body["usage"]["input_tokens"], 100);

    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "c", "max_tokens": 2, "stream": true }),
    )
    .await;
    assert!(!events.iter().any(|e| e.data.contains("tool_use")));
    let deltas = names(&events)
        .iter()
        .filter(|n| *n == "content_block_delta")
        .count();
    assert_eq!(deltas, 2);
    let md = events
        .iter()
        .find(|e| e.name.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(md.json()["delta"]["stop_reason"], "max_tokens");
    assert_eq!(md.json()["usage"]["output_tokens"], 2);
}
