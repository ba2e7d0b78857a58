//! OpenAI Responses.

use nightshift_testkit::{Step, ToolCall, Usage};
use serde_json::{Value, json};

use super::{names, normalize, post_json, post_sse, provider};

const PATH: &str = "/responses";

fn usage() -> Usage {
    Usage {
        input_tokens: 200,
        output_tokens: 50,
        cached_input_tokens: 120,
        cache_write_tokens: 0,
        reasoning_tokens: 10,
    }
}

fn usage_json() -> Value {
    json!({
        "input_tokens": 200,
        "input_tokens_details": { "cached_tokens": 120 },
        "output_tokens": 50,
        "output_tokens_details": { "reasoning_tokens": 10 },
        "total_tokens": 250
    })
}

fn response(status: &str, output: Value, usage: Value) -> Value {
    json!({
        "id": "<id>",
        "object": "response",
        "created_at": 0,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": "be brief",
        "max_output_tokens": null,
        "model": "gpt-r",
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": { "effort": null, "summary": null },
        "store": true,
        "temperature": 1.0,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": {}
    })
}

fn message(status: &str, text: &str) -> Value {
    json!({
        "id": "<id>",
        "type": "message",
        "status": status,
        "content": [{ "type": "output_text", "annotations": [], "logprobs": [], "text": text }],
        "role": "assistant"
    })
}

#[tokio::test]
async fn non_streaming_text_has_the_full_native_shape() {
    let p = provider([Step::text("Hi there").with_full_usage(usage())]).await;
    let body = post_json(
        &p,
        PATH,
        json!({ "model": "gpt-r", "input": "hello", "instructions": "be brief" }),
    )
    .await;
    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert!(
        body["output"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert_eq!(
        normalize(body),
        response(
            "completed",
            json!([message("completed", "Hi there")]),
            usage_json()
        )
    );
}

#[tokio::test]
async fn streaming_text_emits_the_native_event_sequence() {
    let p = provider([Step::text("Hi there you").with_full_usage(usage())]).await;
    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "gpt-r", "input": "x", "instructions": "be brief", "stream": true }),
    )
    .await;
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in events.iter().enumerate() {
        let v = e.json();
        assert_eq!(v["type"], e.name.clone().unwrap());
        assert_eq!(v["sequence_number"], i);
    }
    let created = normalize(events[0].json());
    assert_eq!(
        created["response"],
        response("in_progress", json!([]), Value::Null)
    );
    let deltas: Vec<Value> = events[4..7]
        .iter()
        .map(|e| e.json()["delta"].clone())
        .collect();
    assert_eq!(deltas, [json!("Hi "), json!("there "), json!("you")]);
    assert_eq!(
        normalize(events[4].json()),
        json!({ "type": "response.output_text.delta", "sequence_number": 4, "item_id": "<id>",
                "output_index": 0, "content_index": 0, "delta": "Hi ", "logprobs": [] })
    );
    assert_eq!(events[7].json()["text"], "Hi there you");
    assert_eq!(
        normalize(events[9].json())["item"],
        message("completed", "Hi there you")
    );
    let done = normalize(events[10].json());
    assert_eq!(
        done["response"],
        response(
            "completed",
            json!([message("completed", "Hi there you")]),
            usage_json()
        )
    );
}

#[tokio::test]
async fn function_calls_are_output_items() {
    let call = ToolCall {
        id: Some("call_x".into()),
        name: "grep".into(),
        arguments: json!({ "pattern": "fn main", "path": "src/some/where" }),
    };
    let step = Step {
        tool_calls: vec![call],
        ..Step::default()
    }
    .with_usage(10, 7);
    let p = provider([step.clone(), step]).await;
    let body = post_json(&p, PATH, json!({ "model": "m", "input": "x" })).await;
    assert_eq!(body["status"], "completed");
    let expected_item = json!({
        "id": "<id>",
        "type": "function_call",
        "status": "completed",
        "arguments": "{\"pattern\":\"fn main\",\"path\":\"src/some/where\"}",
        "call_id": "call_x",
        "name": "grep"
    });
    assert_eq!(normalize(body["output"].clone()), json!([expected_item]));

    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "m", "input": "x", "stream": true }),
    )
    .await;
    let n = events.len();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ];
    expected.extend(std::iter::repeat_n(
        "response.function_call_arguments.delta",
        n - 6,
    ));
    expected.extend([
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names(&events), expected);
    assert!(n - 6 > 1, "arguments come in several deltas");
    let added = normalize(events[2].json());
    assert_eq!(added["item"]["status"], "in_progress");
    assert_eq!(added["item"]["arguments"], "");
    let joined: String = events[3..n - 3]
        .iter()
        .map(|e| e.json()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(joined, expected_item["arguments"]);
    assert_eq!(
        events[n - 3].json()["arguments"],
        expected_item["arguments"]
    );
    assert_eq!(normalize(events[n - 2].json())["item"], expected_item);
    assert_eq!(
        events[n - 1].json()["response"]["usage"]["output_tokens"],
        7
    );
}

#[tokio::test]
async fn output_cap_makes_the_response_incomplete() {
    let step = Step::text("alpha beta gamma delta").with_usage(20, 4);
    let p = provider([step.clone(), step]).await;
    let body = post_json(&p, PATH, json!({ "model": "m", "max_output_tokens": 2 })).await;
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({ "reason": "max_output_tokens" })
    );
    assert_eq!(body["max_output_tokens"], 2);
    assert_eq!(body["output"][0]["status"], "incomplete");
    assert_eq!(body["output"][0]["content"][0]["text"], "alpha beta ");
    assert_eq!(body["usage"]["output_tokens"], 2);
    assert_eq!(body["usage"]["total_tokens"], 22);

    let events = post_sse(
        &p,
        PATH,
        json!({ "model": "m", "max_output_tokens": 1, "stream": true }),
    )
    .await;
    let last = events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("response.incomplete"));
    let r = &last.json()["response"];
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(r["usage"]["output_tokens"], 1);
    let deltas = names(&events)
        .iter()
        .filter(|n| *n == "response.output_text.delta")
        .count();
    assert_eq!(deltas, 1);
}

#[tokio::test]
async fn request_settings_are_echoed() {
    let p = provider([Step::text("ok")]).await;
    let body = post_json(
        &p,
        PATH,
        json!({ "model": "m", "input": "x", "temperature": 0.2, "tools": [{ "type": "function", "name": "f" }],
                "previous_response_id": "resp_prev", "store": false }),
    )
    .await;
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["tools"][0]["name"], "f");
    assert_eq!(body["previous_response_id"], "resp_prev");
    assert_eq!(body["store"], false);
}
