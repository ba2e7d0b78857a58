//! Budgets: output caps clamped to what is left, refusals in the client's format, nested
//! budgets, and siblings that never reach each other's money.

use serde_json::json;

use nightshift_gateway::BudgetView;
use nightshift_store::CallOutcome;
use nightshift_testkit::{Script, Step};

use super::harness::{Harness, cost};

fn body() -> serde_json::Value {
    json!({"model": "gpt", "messages": [{"role": "user", "content": "count to ten"}]})
}

/// Bytes the gateway sees for `body()` plus the 512-token allowance, at the worst input
/// price ($2.50/Mtok, the cache-write price).
fn input_reservation() -> i64 {
    let bytes = serde_json::to_vec(&body()).expect("json").len() as i64;
    (bytes + 512) * 2_500
}

#[tokio::test]
async fn output_cap_is_clamped_to_what_the_budget_can_pay() {
    let step = Step::text("one two three four five six seven eight nine ten").with_usage(20, 10);
    let h = Harness::start(Script::new([step])).await;
    // Room for the input and exactly five output tokens at the worst output price ($10/Mtok).
    let budget = input_reservation() + 5 * 10_000;
    let (tok, id) = h
        .token(&nightshift_meter::format_usd(budget).replace('$', ""), None)
        .await;

    let (status, resp) = h.post_json("/v1/chat/completions", &tok, &body()).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(h.provider.requests()[0].body["max_tokens"], 5);
    assert_eq!(resp["choices"][0]["finish_reason"], "length");
    assert_eq!(resp["usage"]["completion_tokens"], 5);

    let r = &h.ledger().await[0];
    assert_eq!(
        r.reserved_nanos, budget,
        "the reservation is the whole budget, and no more"
    );
    assert_eq!(r.settled_nanos, cost(20, 0, 0, 5, 0));
    assert_eq!(
        h.state.budget_of(&id),
        Some(BudgetView {
            limit: budget,
            spent: cost(20, 0, 0, 5, 0),
            reserved: 0,
            left: budget - cost(20, 0, 0, 5, 0),
        })
    );
}

#[tokio::test]
async fn exhausted_budget_is_refused_in_the_openai_format_and_recorded() {
    let h = Harness::start(Script::new([])).await;
    let (tok, id) = h.labelled_token("job-7", "0.000001", None).await;
    let (status, resp) = h.post_json("/v1/chat/completions", &tok, &body()).await;
    assert_eq!(status, 402);
    let needed = nightshift_meter::format_usd(input_reservation() + 10_000);
    assert_eq!(
        resp,
        json!({"error": {
            "message": format!("budget `job-7` cannot pay for this call to `gpt`: $0.000001 left of $0.000001 ($0.00 spent, $0.00 held by calls in flight); the call needs at least {needed} ({} input tokens estimated plus 1 output token)", input_reservation() / 2_500),
            "type": "insufficient_quota", "param": null, "code": "budget_exhausted"}})
    );
    assert_eq!(
        h.provider.served(),
        0,
        "a refused call never reaches the provider"
    );
    let rows = h.ledger().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].outcome,
            rows[0].settled_nanos,
            rows[0].token_id.as_str()
        ),
        (CallOutcome::Refused, 0, id.as_str())
    );
}

#[tokio::test]
async fn exhausted_budget_is_refused_in_the_anthropic_format() {
    let h = Harness::start(Script::new([])).await;
    let (tok, _) = h.labelled_token("tiny", "0", None).await;
    let body =
        json!({"model": "gpt", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]});
    let r = h
        .http
        .post(format!("{}/v1/messages", h.base))
        .header("x-api-key", &tok)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 402);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "billing_error");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(
        msg.starts_with("budget `tiny` cannot pay for this call to `gpt`: $0.00 left of $0.00"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_parent_budget_binds_its_children_and_siblings_stay_apart() {
    let step = Step::text("ok").with_usage(10, 1);
    let h = Harness::start(Script::cycling([step])).await;
    // Room for one call's input and two output tokens: after job-a spends, too little is left.
    let parent_budget = input_reservation() + 2 * 10_000;
    let (shift, shift_id) = h
        .labelled_token(
            "shift",
            &nightshift_meter::format_usd(parent_budget).replace('$', ""),
            None,
        )
        .await;
    let (a, _) = h.labelled_token("job-a", "100", Some(&shift_id)).await;
    let (b, _) = h.labelled_token("job-b", "100", Some(&shift)).await; // parent given by secret
    let (other, _) = h.labelled_token("other-shift", "100", None).await;

    let (status, _) = h.post_json("/v1/chat/completions", &a, &body()).await;
    assert_eq!(status, 200);
    let spent = cost(10, 0, 0, 1, 0);
    // job-b now finds the parent short by what job-a spent.
    let (status, resp) = h.post_json("/v1/chat/completions", &b, &body()).await;
    assert_eq!(status, 402, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .expect("msg")
            .starts_with("budget `shift` cannot pay"),
        "{resp}"
    );
    // A token outside the chain is untouched.
    let (status, _) = h.post_json("/v1/chat/completions", &other, &body()).await;
    assert_eq!(status, 200);

    let rows = h.ledger().await;
    let labels: Vec<_> = rows
        .iter()
        .map(|r| (r.label_chain.as_str(), r.outcome))
        .collect();
    assert_eq!(
        labels,
        [
            ("shift/job-a", CallOutcome::Ok),
            ("shift/job-b", CallOutcome::Refused),
            ("other-shift", CallOutcome::Ok)
        ]
    );
    assert_eq!(h.state.budget_of(&shift_id).expect("shift").spent, spent);
}
