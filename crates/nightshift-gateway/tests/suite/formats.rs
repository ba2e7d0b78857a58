//! Each wire format, passed through or translated, streamed or not: what the client
//! sees, what the upstream received, and the ledger to the nanodollar.

use serde_json::{Value, json};

use nightshift_store::{CallOutcome, UsageSource};
use nightshift_testkit::{Script, Step, Usage};

use super::harness::{Harness, cost, sse_data, sse_names};

fn usage(input: u64, cached: u64, written: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: written,
        output_tokens: output,
        reasoning_tokens: reasoning,
    }
}

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

#[tokio::test]
async fn chat_passthrough_bills_exact_usage_and_sets_model_and_cap() {
    let h = Harness::start(Script::new([
        Step::text("Hello there friend").with_full_usage(usage(1000, 600, 0, 3, 0))
    ]))
    .await;
    let (tok, id) = h.token("10", None).await;
    let (status, body) = h
        .post_json("/v1/chat/completions", &tok, &chat_body("gpt", false))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello there friend"
    );
    assert_eq!(body["usage"]["prompt_tokens"], 1000);

    let sent = &h.provider.requests()[0].body;
    assert_eq!(sent["model"], "gpt-upstream", "the upstream name is sent");
    assert_eq!(
        sent["max_tokens"], 16_384,
        "a cap is always set, here the default"
    );
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));

    let rows = h.ledger().await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.token_id.as_str(),
            r.model.as_str(),
            r.upstream_model.as_str(),
            r.provider.as_str()
        ),
        (id.as_str(), "gpt", "gpt-upstream", "scripted")
    );
    assert_eq!(
        (
            r.client_format.as_str(),
            r.upstream_format.as_str(),
            r.streamed
        ),
        ("chat", "chat", false)
    );
    assert_eq!(
        (r.input_tokens, r.cached_input_tokens, r.output_tokens),
        (1000, 600, 3)
    );
    assert_eq!(r.settled_nanos, cost(1000, 600, 0, 3, 0));
    assert_eq!(r.settled_nanos, 400 * 2000 + 600 * 500 + 3 * 8000);
    assert_eq!(
        (r.outcome, r.usage_source, r.price_version.as_str()),
        (CallOutcome::Ok, UsageSource::Upstream, "config")
    );
    assert_eq!((r.upstream_status, r.attempts), (Some(200), 1));
    assert!(r.reserved_nanos >= r.settled_nanos);
    assert_eq!(h.state.total_reserved(), 0);
}

#[tokio::test]
async fn chat_stream_asks_upstream_for_usage_and_strips_it_when_the_client_did_not() {
    let step = Step::text("one two three").with_full_usage(usage(40, 0, 0, 3, 0));
    let h = Harness::start(Script::new([step.clone(), step])).await;
    let (tok, _) = h.token("10", None).await;

    let (status, body) = h
        .post_stream("/v1/chat/completions", &tok, &chat_body("gpt", true))
        .await;
    assert_eq!(status, 200);
    let data = sse_data(&body);
    assert_eq!(data.last(), Some(&Value::String("[DONE]".into())));
    assert!(
        data.iter()
            .all(|d| d.get("usage").is_none_or(Value::is_null)),
        "no usage chunk: {body}"
    );
    let text: String = data
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "one two three");
    assert_eq!(
        h.provider.requests()[0].body["stream_options"],
        json!({"include_usage": true})
    );

    let mut asked = chat_body("gpt", true);
    asked["stream_options"] = json!({"include_usage": true});
    let (_, body) = h.post_stream("/v1/chat/completions", &tok, &asked).await;
    let usage_chunks: Vec<_> = sse_data(&body)
        .into_iter()
        .filter(|d| d["usage"].is_object())
        .collect();
    assert_eq!(usage_chunks.len(), 1, "{body}");
    assert_eq!(usage_chunks[0]["usage"]["completion_tokens"], 3);

    let rows = h.ledger().await;
    assert_eq!(
        rows.iter().map(|r| r.settled_nanos).collect::<Vec<_>>(),
        vec![cost(40, 0, 0, 3, 0); 2]
    );
    assert!(
        rows.iter()
            .all(|r| r.streamed && r.usage_source == UsageSource::Upstream)
    );
}

#[tokio::test]
async fn anthropic_stream_cumulative_usage_is_not_summed() {
    let step = Step::text("a b c d e f g").with_full_usage(usage(1000, 300, 200, 7, 0));
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("10", None).await;
    let body = json!({"model": "gpt", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = h.post_stream("/v1/messages", &tok, &body).await;
    assert_eq!(status, 200);
    let names = sse_names(&text);
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    assert_eq!(
        h.provider.requests()[0].body["max_tokens"],
        100,
        "the client's cap is kept when affordable"
    );

    let rows = h.ledger().await;
    let r = &rows[0];
    assert_eq!(
        (
            r.input_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.output_tokens
        ),
        (1000, 300, 200, 7)
    );
    assert_eq!(
        r.settled_nanos,
        500 * 2000 + 300 * 500 + 200 * 2500 + 7 * 8000
    );
}

#[tokio::test]
async fn responses_stream_prices_reasoning_tokens() {
    let step = Step::text("fine").with_full_usage(usage(50, 10, 0, 40, 30));
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("10", None).await;
    let (status, text) = h
        .post_stream(
            "/v1/responses",
            &tok,
            &json!({"model": "gpt", "input": "hi", "stream": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        sse_names(&text).last().map(String::as_str),
        Some("response.completed")
    );
    assert_eq!(h.provider.requests()[0].body["max_output_tokens"], 16_384);
    let r = &h.ledger().await[0];
    assert_eq!(
        (
            r.input_tokens,
            r.cached_input_tokens,
            r.output_tokens,
            r.reasoning_tokens
        ),
        (50, 10, 40, 30)
    );
    assert_eq!(
        r.settled_nanos,
        40 * 2000 + 10 * 500 + 10 * 8000 + 30 * 10_000
    );
}

#[tokio::test]
async fn anthropic_client_on_a_chat_upstream_is_translated_with_tools() {
    let step = Step::tool_call("read_file", json!({"path": "src/lib.rs"}))
        .with_full_usage(usage(300, 100, 0, 12, 0));
    let h = Harness::start(Script::new([step.clone(), step])).await;
    let (tok, _) = h.token("10", None).await;
    let body = json!({
        "model": "compat-model", "max_tokens": 200,
        "tools": [{"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "read it"}],
    });
    let (status, resp) = h.post_json("/v1/messages", &tok, &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["type"], "message");
    assert_eq!(resp["stop_reason"], "tool_use");
    assert_eq!(resp["content"][0]["type"], "tool_use");
    assert_eq!(resp["content"][0]["input"], json!({"path": "src/lib.rs"}));
    assert_eq!(
        resp["usage"]["input_tokens"], 200,
        "Anthropic input excludes cache reads"
    );
    let sent = &h.provider.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["tools"][0]["function"]["name"], "read_file");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, text) = h.post_stream("/v1/messages", &tok, &streamed).await;
    assert_eq!(status, 200);
    let names = sse_names(&text);
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert!(names.contains(&"content_block_start".to_string()));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    let delta = sse_data(&text)
        .into_iter()
        .find(|d| d["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    let rows = h.ledger().await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(
            (r.client_format.as_str(), r.upstream_format.as_str()),
            ("messages", "chat")
        );
        assert_eq!(r.settled_nanos, cost(300, 100, 0, 12, 0));
    }
}

#[tokio::test]
async fn chat_client_on_an_anthropic_upstream_is_translated() {
    let step = Step::text("bonjour").with_full_usage(usage(900, 0, 400, 2, 0));
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("10", None).await;
    let (status, resp) = h
        .post_json(
            "/v1/chat/completions",
            &tok,
            &chat_body("claude-model", false),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["object"], "chat.completion");
    assert_eq!(resp["choices"][0]["message"]["content"], "bonjour");
    let sent = &h.provider.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.body["max_tokens"], 16_384);
    let r = &h.ledger().await[0];
    assert_eq!((r.input_tokens, r.cache_write_tokens), (900, 400));
    assert_eq!(r.settled_nanos, cost(900, 0, 400, 2, 0));
}

#[tokio::test]
async fn responses_client_on_a_chat_upstream_is_translated() {
    let step = Step::text("done here").with_full_usage(usage(70, 0, 0, 2, 0));
    let h = Harness::start(Script::new([step.clone(), step])).await;
    let (tok, _) = h.token("10", None).await;
    let body = json!({"model": "compat-model", "input": "hi", "max_output_tokens": 64});
    let (status, resp) = h.post_json("/v1/responses", &tok, &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["object"], "response");
    assert_eq!(resp["status"], "completed");
    assert_eq!(resp["output"][0]["content"][0]["text"], "done here");
    assert_eq!(resp["usage"]["input_tokens"], 70);
    assert_eq!(h.provider.requests()[0].body["max_tokens"], 64);

    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (_, text) = h.post_stream("/v1/responses", &tok, &streamed).await;
    let names = sse_names(&text);
    assert_eq!(names.first().map(String::as_str), Some("response.created"));
    assert_eq!(names.last().map(String::as_str), Some("response.completed"));
    let rows = h.ledger().await;
    assert!(
        rows.iter()
            .all(|r| r.settled_nanos == cost(70, 0, 0, 2, 0) && r.upstream_format == "chat")
    );
}

/// Regression: `GET /v1/models` answered without a token and listed every model with its
/// provider's name.
#[tokio::test]
async fn models_need_a_token_and_name_no_provider() {
    let h = Harness::start(Script::new([])).await;
    let url = format!("{}/v1/models", h.base);
    let anonymous = h.http.get(&url).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);
    let v: Value = anonymous.json().await.expect("json");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let anthropic = h
        .http
        .get(&url)
        .header("x-api-key", "nsk_unknown")
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .expect("get");
    assert_eq!(anthropic.status(), 401);
    assert_eq!(
        anthropic.json::<Value>().await.expect("json"),
        json!({"type": "error", "error": {"type": "authentication_error", "message": "unknown gateway token"}})
    );

    let (tok, _) = h.token("1", None).await;
    let models: Value = h
        .http
        .get(&url)
        .bearer_auth(&tok)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let model =
        |id: &str| json!({"id": id, "object": "model", "created": 0, "owned_by": "nightshift"});
    assert_eq!(
        models,
        json!({"object": "list", "data": [
            model("gpt"),
            model("compat-model"),
            model("claude-model"),
            model("with-fallback"),
            model("keyed-model"),
            model("unpriced"),
        ]})
    );
    let health = h
        .http
        .get(format!("{}/healthz", h.base))
        .send()
        .await
        .expect("get");
    assert_eq!(health.status(), 200);
}
