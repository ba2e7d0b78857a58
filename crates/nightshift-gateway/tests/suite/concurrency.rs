//! Hundreds of concurrent calls, streamed and not, some abandoned by their clients, on
//! one small shared budget: spend never passes the budget (the documented bound is zero
//! for an upstream that honours the cap) and nothing stays reserved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use nightshift_store::{CallOutcome, LedgerStore};
use nightshift_testkit::{Script, Step};

use super::harness::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_never_exceeds_a_shared_budget_under_concurrency() {
    let mut step = Step::text("one two three four five six seven eight").with_usage(40, 8);
    step.delay_ms = 3;
    step.chunk_delay_ms = 1;
    let h = Arc::new(Harness::start(Script::cycling([step])).await);
    let (shift, shift_id) = h.labelled_token("shift", "0.02", None).await;
    let mut jobs = Vec::new();
    for j in 0..4 {
        jobs.push(
            h.labelled_token(&format!("job-{j}"), "0.01", Some(&shift_id))
                .await
                .0,
        );
    }
    let _ = shift;

    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut tasks = Vec::new();
    for i in 0..300 {
        let h = h.clone();
        let tok = jobs[i % jobs.len()].clone();
        let r = next();
        let streamed = r % 2 == 0;
        let path = if r % 3 == 0 {
            "/v1/messages"
        } else {
            "/v1/chat/completions"
        };
        let cancel_after = (r % 5 == 0).then(|| Duration::from_millis(1 + (r >> 8) % 15));
        tasks.push(tokio::spawn(async move {
            let body = json!({"model": "gpt", "max_tokens": 64, "stream": streamed, "messages": [{"role": "user", "content": format!("call {i}")}]});
            let call = async {
                let resp = h.post(path, &tok, &body).await;
                let status = resp.status().as_u16();
                let _ = resp.bytes().await;
                status
            };
            match cancel_after {
                Some(d) => tokio::time::timeout(d, call).await.ok(),
                None => Some(call.await),
            }
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    // Abandoned calls settle in their own tasks; wait until nothing is held.
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.state.total_reserved() != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.state.total_reserved(), 0, "nothing is left reserved");

    let rows = h.ledger().await;
    let settled: i64 = rows.iter().map(|r| r.settled_nanos).sum();
    let budget = 20_000_000;
    assert!(settled <= budget, "spent {settled} of a {budget} budget");
    let ok = statuses.iter().filter(|s| **s == Some(200)).count();
    let refused = statuses.iter().filter(|s| **s == Some(402)).count();
    // How many succeed depends on how the calls interleave (each holds a reservation while
    // it runs); that some succeed and the rest are refused is what is certain.
    assert!(
        ok > 0 && refused > 0,
        "the budget ran out part-way: {ok} ok, {refused} refused"
    );
    assert_eq!(
        ok + refused + statuses.iter().filter(|s| s.is_none()).count(),
        300,
        "{statuses:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.settled_nanos <= r.reserved_nanos || r.outcome == CallOutcome::Refused)
    );
    // The in-memory budget and the ledger agree to the nanodollar.
    assert_eq!(h.state.budget_of(&shift_id).expect("shift").spent, settled);
    let by_token: i64 = h
        .store
        .spent_by_token()
        .await
        .expect("spent")
        .iter()
        .map(|(_, s)| s)
        .sum();
    assert_eq!(by_token, settled);
}
