//! Tokens: missing, unknown, revoked and expired ones get 401 in the client's format.

use serde_json::json;

use nightshift_testkit::{Script, Step};

use super::harness::Harness;

fn body() -> serde_json::Value {
    json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn missing_and_unknown_tokens_are_refused() {
    let h = Harness::start(Script::new([])).await;
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.base))
        .json(&body())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("nightshift token create")
    );

    let (status, v) = h
        .post_json("/v1/chat/completions", "nsk_not_a_real_token", &body())
        .await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (401, Some("unknown gateway token"))
    );

    let r = h
        .http
        .post(format!("{}/v1/messages", h.base))
        .header("x-api-key", "nope")
        .json(&json!({"model": "gpt", "max_tokens": 5, "messages": []}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        v,
        json!({"type": "error", "error": {"type": "authentication_error", "message": "unknown gateway token"}})
    );
    assert_eq!(h.provider.served(), 0);
}

#[tokio::test]
async fn revoked_tokens_and_their_children_are_refused() {
    let h = Harness::start(Script::cycling([Step::text("ok").with_usage(1, 1)])).await;
    let (parent, parent_id) = h.token("5", None).await;
    let (child, _) = h.token("1", Some(&parent_id)).await;
    assert_eq!(
        h.post_json("/v1/chat/completions", &child, &body()).await.0,
        200
    );
    use nightshift_store::TokenStore;
    assert!(
        h.store
            .revoke_token(&parent_id, nightshift_clock::now_ms())
            .await
            .expect("revoke")
    );
    h.state.refresh_revocations().await.expect("refresh");
    for t in [&parent, &child] {
        let (status, v) = h.post_json("/v1/chat/completions", t, &body()).await;
        assert_eq!(
            (status, v["error"]["message"].as_str()),
            (401, Some("this gateway token has been revoked"))
        );
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let h = Harness::start(Script::new([])).await;
    let now = nightshift_clock::now_ms();
    let m = nightshift_gateway::mint(
        h.store.as_ref(),
        "old",
        1_000_000_000,
        None,
        Some(now - 1),
        now,
    )
    .await
    .expect("mint");
    let (status, v) = h.post_json("/v1/chat/completions", &m.token, &body()).await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (401, Some("this gateway token has expired"))
    );
}
