//! Upstream faults: retries, timeouts, broken and cut streams, bad bodies, missing usage,
//! fallbacks and clients that hang up.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use nightshift_store::{CallOutcome, UsageSource};
use nightshift_testkit::{Script, ScriptedError, ScriptedProvider, Step};

use super::harness::{Harness, cost, sse_data};

fn chat(stream: bool) -> Value {
    json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

fn error_step(status: u16, retry_after: Option<&str>) -> Step {
    let mut s = Step::error(status);
    s.error = Some(ScriptedError {
        status,
        retry_after: retry_after.map(str::to_string),
        body: None,
    });
    s
}

#[tokio::test]
async fn retry_after_is_honoured_and_the_call_is_billed_once() {
    let h = Harness::start(Script::new([
        error_step(429, Some("1")),
        Step::text("ok").with_usage(5, 1),
    ]))
    .await;
    let (tok, _) = h.token("1", None).await;
    let started = Instant::now();
    let (status, _) = h
        .post_json("/v1/chat/completions", &tok, &chat(false))
        .await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    let rows = h.ledger().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].attempts, rows[0].settled_nanos),
        (2, cost(5, 0, 0, 1, 0))
    );
}

/// The ledger holds exactly one row, an `upstream_error` at $0 after `attempts` tries, and
/// nothing is left reserved.
async fn failed_at_no_cost(h: &Harness, attempts: i64) {
    let rows: Vec<(CallOutcome, i64, i64)> = h
        .ledger()
        .await
        .into_iter()
        .map(|r| (r.outcome, r.settled_nanos, r.attempts))
        .collect();
    assert_eq!(rows, [(CallOutcome::UpstreamError, 0, attempts)]);
    assert_eq!(h.state.total_reserved(), 0);
}

#[tokio::test]
async fn persistent_5xx_gives_502_after_retries_and_costs_nothing() {
    let h = Harness::start(Script::cycling([error_step(500, None)])).await;
    let (tok, _) = h.token("1", None).await;
    let (status, v) = h
        .post_json("/v1/chat/completions", &tok, &chat(false))
        .await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["code"], "upstream_error");
    assert_eq!(h.provider.served(), 3, "one try and two retries");
    failed_at_no_cost(&h, 3).await;
}

#[tokio::test]
async fn an_unreachable_upstream_gives_502_after_retries_and_costs_nothing() {
    let mut h = Harness::start(Script::cycling([Step::text("never sent")])).await;
    let (tok, _) = h.token("1", None).await;
    // The configured upstream goes away: its port refuses connections from now on.
    let other = ScriptedProvider::start(Script::cycling([Step::text("unused")]))
        .await
        .expect("provider");
    drop(std::mem::replace(&mut h.provider, other));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, v) = h
        .post_json("/v1/chat/completions", &tok, &chat(false))
        .await;
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["code"], "upstream_error");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(msg.starts_with("cannot connect to `scripted`: "), "{msg}");
    failed_at_no_cost(&h, 3).await;
}

#[tokio::test]
async fn a_client_error_from_upstream_is_relayed_as_is() {
    let mut step = error_step(400, None);
    step.error = Some(ScriptedError {
        status: 400,
        retry_after: None,
        body: Some(
            r#"{"error":{"message":"bad tool schema","type":"invalid_request_error"}}"#.into(),
        ),
    });
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("1", None).await;
    let (status, v) = h
        .post_json("/v1/chat/completions", &tok, &chat(false))
        .await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (400, Some("bad tool schema"))
    );
    assert_eq!(h.provider.served(), 1, "4xx is not retried");
    assert_eq!(h.ledger().await[0].upstream_status, Some(400));
}

#[tokio::test]
async fn a_hanging_upstream_times_out_with_504() {
    let h = Harness::start_with(
        Script::cycling([Step::hang()]),
        "max_retries = 1\nretry_base_ms = 1\nrequest_timeout_ms = 200",
    )
    .await;
    let (tok, _) = h.token("1", None).await;
    let body =
        json!({"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let r = h
        .http
        .post(format!("{}/v1/messages", h.base))
        .header("x-api-key", &tok)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("no response from `scripted` within 200 ms"),
        "{v}"
    );
    let rows = h.ledger().await;
    assert_eq!(
        (rows[0].outcome, rows[0].attempts, rows[0].settled_nanos),
        (CallOutcome::UpstreamError, 2, 0)
    );
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_error_and_is_billed_at_its_reservation() {
    let mut step = Step::text("a b c d e f").with_usage(5, 6);
    step.cut_after_events = Some(3);
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("1", None).await;
    let (status, body) = h
        .post_stream("/v1/chat/completions", &tok, &chat(true))
        .await;
    assert_eq!(status, 200);
    let data = sse_data(&body);
    let n = data.len();
    assert_eq!(
        data[n - 2]["error"]["code"],
        "upstream_stream_broken",
        "{body}"
    );
    assert_eq!(data[n - 1], Value::String("[DONE]".into()));
    let r = &h.ledger().await[0];
    assert_eq!(
        (r.outcome, r.usage_source),
        (CallOutcome::UpstreamError, UsageSource::Reserved)
    );
    assert_eq!(r.settled_nanos, r.reserved_nanos, "never metered at $0");
}

#[tokio::test]
async fn malformed_json_from_upstream_is_a_502_billed_at_its_reservation() {
    let mut step = Step::text("x").with_usage(1, 1);
    step.malformed = true;
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("1", None).await;
    let (status, v) = h
        .post_json("/v1/chat/completions", &tok, &chat(false))
        .await;
    assert_eq!(status, 502);
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("not JSON"),
        "{v}"
    );
    let r = &h.ledger().await[0];
    assert_eq!(
        (r.outcome, r.settled_nanos),
        (CallOutcome::UpstreamError, r.reserved_nanos)
    );
}

#[tokio::test]
async fn missing_usage_is_billed_at_the_reservation_never_zero() {
    let mut step = Step::text("quiet").with_usage(3, 1);
    step.omit_usage = true;
    let h = Harness::start(Script::new([step.clone(), step])).await;
    let (tok, _) = h.token("1", None).await;
    assert_eq!(
        h.post_json("/v1/chat/completions", &tok, &chat(false))
            .await
            .0,
        200
    );
    let (status, _) = h
        .post_stream("/v1/chat/completions", &tok, &chat(true))
        .await;
    assert_eq!(status, 200);
    let rows = h.ledger().await;
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(
            (r.outcome, r.usage_source),
            (CallOutcome::Ok, UsageSource::Reserved)
        );
        assert!(r.settled_nanos > 0 && r.settled_nanos == r.reserved_nanos);
    }
}

#[tokio::test]
async fn an_upstream_that_ignores_the_cap_is_cut_with_a_proper_ending() {
    let mut step = Step::text("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10").with_usage(5, 10);
    step.ignore_cap = true;
    let h = Harness::start(Script::new([step.clone(), step])).await;
    let (tok, id) = h.token("1", None).await;
    let mut body = chat(true);
    body["max_tokens"] = json!(3);
    let (status, text) = h.post_stream("/v1/chat/completions", &tok, &body).await;
    assert_eq!(status, 200);
    let data = sse_data(&text);
    let content: String = data
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "w1 w2 w3 ", "three tokens and no more");
    assert_eq!(
        data[data.len() - 2]["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(data[data.len() - 1], Value::String("[DONE]".into()));

    let anthropic = json!({"model": "gpt", "max_tokens": 3, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (_, text) = h.post_stream("/v1/messages", &tok, &anthropic).await;
    let names = super::harness::sse_names(&text);
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{text}"
    );

    let rows = h.ledger().await;
    for r in &rows {
        assert_eq!(
            (r.outcome, r.settled_nanos),
            (CallOutcome::Cut, r.reserved_nanos)
        );
    }
    let node = h.state.budget_of(&id).expect("budget");
    assert!(node.spent <= node.limit);
}

#[tokio::test]
async fn fallback_model_answers_when_the_first_fails() {
    let h = Harness::start(Script::new([
        error_step(503, None),
        error_step(503, None),
        error_step(503, None),
        Step::text("from the fallback").with_usage(4, 3),
    ]))
    .await;
    let (tok, _) = h.token("1", None).await;
    let body = json!({"model": "with-fallback", "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = h.post_json("/v1/chat/completions", &tok, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "from the fallback");
    let rows = h.ledger().await;
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.model.as_str(),
                r.provider.as_str(),
                r.outcome,
                r.settled_nanos,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("with-fallback", "compat", CallOutcome::UpstreamError, 0),
            ("gpt", "scripted", CallOutcome::Ok, cost(4, 0, 0, 3, 0))
        ]
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_is_settled_for_what_the_upstream_produced() {
    let mut step = Step::text("a b c d e f g h i j").with_usage(9, 10);
    step.chunk_delay_ms = 30;
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("1", None).await;
    let mut resp = h.post("/v1/chat/completions", &tok, &chat(true)).await;
    let first = resp.chunk().await.expect("read").expect("a first chunk");
    assert!(!first.is_empty());
    drop(resp);
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = h.ledger().await;
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.outcome, r.usage_source),
        (CallOutcome::ClientAbort, UsageSource::Upstream)
    );
    assert_eq!(
        (r.output_tokens, r.settled_nanos),
        (10, cost(9, 0, 0, 10, 0))
    );
    assert_eq!(h.state.total_reserved(), 0);
}

#[tokio::test]
async fn a_client_that_hangs_up_before_a_whole_answer_still_gets_its_call_settled() {
    let mut step = Step::text("slow answer").with_usage(7, 2);
    step.delay_ms = 300;
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("1", None).await;
    // The client gives up while the upstream is still thinking.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        h.post("/v1/chat/completions", &tok, &chat(false)),
    )
    .await;
    assert!(gave_up.is_err(), "the client timed out first");
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = h.ledger().await;
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].outcome, rows[0].settled_nanos),
        (CallOutcome::Ok, cost(7, 0, 0, 2, 0))
    );
    assert_eq!(h.state.total_reserved(), 0);
}

#[tokio::test]
async fn the_provider_key_never_reaches_the_client_or_the_ledger() {
    // The "keyed" provider reads its key from CARGO_MANIFEST_DIR, which the test runner sets.
    let key = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let mut step = error_step(401, None);
    step.error = Some(ScriptedError {
        status: 401,
        retry_after: None,
        body: Some(format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {key}","type":"invalid_request_error"}}}}"#
        )),
    });
    let h = Harness::start(Script::new([step])).await;
    let (tok, _) = h.token("1", None).await;
    let body = json!({"model": "keyed-model", "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = h.post_json("/v1/chat/completions", &tok, &body).await;
    assert_eq!(status, 401);
    assert_eq!(
        v["error"]["message"],
        "Incorrect API key provided: [redacted]"
    );
    assert_eq!(
        h.provider.requests()[0].header("authorization"),
        Some(format!("Bearer {key}").as_str()),
        "the upstream got it"
    );
    let rows = h.ledger().await;
    assert!(!format!("{rows:?}").contains(&key), "{rows:?}");
}
