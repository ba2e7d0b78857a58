//! Bad requests get a clear error in the client's own format, and reach no provider.

use serde_json::{Value, json};

use nightshift_testkit::Script;

use super::harness::Harness;

async fn raw(h: &Harness, path: &str, tok: &str, body: &'static str) -> (u16, Value) {
    let r = h
        .http
        .post(format!("{}{path}", h.base))
        .bearer_auth(tok)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json error body"))
}

#[tokio::test]
async fn malformed_json_names_the_position() {
    let h = Harness::start(Script::new([])).await;
    let (tok, _) = h.token("1", None).await;
    let (status, v) = raw(
        &h,
        "/v1/chat/completions",
        &tok,
        "{\"model\": \"gpt\",\n \"messages\": [}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "request body is not valid JSON: expected value at line 2 column 15"
    );
    let (status, v) = raw(&h, "/v1/messages", &tok, "").await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (400, Some("request body is empty; send a JSON object"))
    );
    assert_eq!(v["type"], "error", "Anthropic clients get Anthropic errors");
    let (status, v) = raw(&h, "/v1/responses", &tok, "[1,2]").await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (400, Some("request body must be a JSON object"))
    );
    let (status, v) = raw(&h, "/v1/chat/completions", &tok, "{\"messages\": []}").await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (400, Some("request has no `model` string"))
    );
    assert_eq!(h.provider.served(), 0);
}

#[tokio::test]
async fn unknown_and_unpriced_models_are_refused() {
    let h = Harness::start(Script::new([])).await;
    let (tok, _) = h.token("1", None).await;
    let (status, v) = h
        .post_json(
            "/v1/chat/completions",
            &tok,
            &json!({"model": "gpt-9", "messages": []}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        v["error"]["message"],
        "model `gpt-9` is not configured in this gateway; configured: gpt, compat-model, claude-model, with-fallback, keyed-model, unpriced"
    );
    let (status, v) = h
        .post_json(
            "/v1/chat/completions",
            &tok,
            &json!({"model": "unpriced", "messages": []}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "model_unpriced");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .starts_with("model `unpriced` (upstream `unpriced`) has no price"),
        "{v}"
    );
    assert_eq!(h.provider.served(), 0, "never metered at $0: never called");
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let h = Harness::start_with(Script::new([]), "max_body_bytes = 1000").await;
    let (tok, _) = h.token("1", None).await;
    let big = json!({"model": "gpt", "messages": [{"role": "user", "content": "x".repeat(2000)}]});
    let (status, v) = h.post_json("/v1/chat/completions", &tok, &big).await;
    assert_eq!(status, 413);
    assert_eq!(v["error"]["code"], "request_too_large");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("at most 1000 (gateway.max_body_bytes)")
    );
}

/// Regression: an output cap the format forbids (`-1`, `1.5`, `"100"`, `0`) was read as no
/// cap, and the call went upstream asking for the model's whole ceiling.
#[tokio::test]
async fn an_invalid_output_cap_is_refused_naming_the_field_and_the_value() {
    let h = Harness::start(Script::new([])).await;
    let (tok, _) = h.token("1", None).await;
    let msg = |field: &str, got: &str| {
        format!("`{field}` must be a whole number of tokens, at least 1; got {got}")
    };
    let chat = [
        (json!({"max_tokens": -1}), "max_tokens", "-1"),
        (json!({"max_tokens": 0}), "max_tokens", "0"),
        (
            json!({"max_completion_tokens": 1.5}),
            "max_completion_tokens",
            "1.5",
        ),
    ];
    for (cap, field, got) in chat {
        let mut body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut()
            .expect("object")
            .extend(cap.as_object().expect("object").clone());
        let (status, v) = h.post_json("/v1/chat/completions", &tok, &body).await;
        assert_eq!(
            (status, v),
            (
                400,
                json!({"error": {"message": msg(field, got), "type": "invalid_request_error", "param": field, "code": "invalid_value"}})
            )
        );
    }
    let (status, v) = h
        .post_json(
            "/v1/responses",
            &tok,
            &json!({"model": "gpt", "input": "hi", "max_output_tokens": "100"}),
        )
        .await;
    assert_eq!(
        (status, v),
        (
            400,
            json!({"error": {"message": msg("max_output_tokens", "\"100\""), "type": "invalid_request_error", "param": "max_output_tokens", "code": "invalid_value"}})
        )
    );
    let (status, v) = h
        .post_json(
            "/v1/messages",
            &tok,
            &json!({"model": "gpt", "max_tokens": -1, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(
        (status, v),
        (
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": msg("max_tokens", "-1")}})
        )
    );
    // Like any other malformed request: nothing reserved, recorded or sent.
    assert_eq!(h.state.total_reserved(), 0);
    assert!(h.ledger().await.is_empty());
    assert_eq!(h.provider.served(), 0);
}
