//! The ledger: written once, append-only, summed exactly, read back whole.

use std::sync::Arc;

use nightshift_store::{GroupBy, LedgerRow, LedgerStore, LedgerWriter, TokenStore, Write};

use super::{begin, settle, store};

#[tokio::test]
async fn a_settled_call_is_written_once_and_leaves_nothing_in_flight() {
    let (s, _d) = store().await;
    s.write_batch(&[
        Write::Begin(begin("c1", 100)),
        Write::Begin(begin("c2", 200)),
    ])
    .await
    .expect("begin");
    s.write_batch(&[
        Write::Settle(settle("c1", "m", 40)),
        Write::Settle(settle("c1", "m", 40)),
    ])
    .await
    .expect("settle");
    s.write_batch(&[Write::Settle(settle("c1", "m", 40))])
        .await
        .expect("retry");
    let rows = s.ledger_rows().await.expect("rows");
    assert_eq!(
        rows,
        vec![settle("c1", "m", 40)],
        "the row round-trips whole, once"
    );
    // c2 was left in flight: recovered at its reservation, once.
    assert_eq!(s.recover_inflight(5_000).await.expect("recover"), 1);
    assert_eq!(s.recover_inflight(5_000).await.expect("recover"), 0);
    let rows = s.ledger_rows().await.expect("rows");
    assert_eq!(
        (
            rows[1].call_id.as_str(),
            rows[1].outcome.as_str(),
            rows[1].settled_nanos,
            rows[1].latency_ms
        ),
        ("c2", "interrupted", 200, 4_000)
    );
}

#[tokio::test]
async fn the_ledger_refuses_updates_and_deletes() {
    let (s, _d) = store().await;
    s.write_batch(&[Write::Settle(settle("c1", "m", 40))])
        .await
        .expect("write");
    let err = sqlx::query("UPDATE ledger SET settled_nanos = 0")
        .execute(s.pool())
        .await
        .expect_err("append-only");
    assert!(
        err.to_string().contains("the ledger is append-only"),
        "{err}"
    );
    assert!(
        sqlx::query("DELETE FROM ledger")
            .execute(s.pool())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn totals_group_and_sum_exactly() {
    let (s, _d) = store().await;
    let batch: Vec<_> = (0..1000)
        .map(|i| {
            Write::Settle(settle(
                &format!("c{i}"),
                if i % 4 == 0 { "a" } else { "b" },
                1_000_000_007,
            ))
        })
        .collect();
    s.write_batch(&batch)
        .await
        .expect("a batch larger than one statement");
    let t = s.totals(GroupBy::Model).await.expect("totals");
    assert_eq!(
        t.iter()
            .map(|r| (r.key.as_str(), r.calls, r.settled_nanos, r.output_tokens))
            .collect::<Vec<_>>(),
        [
            ("a", 250, 250_000_001_750, 1250),
            ("b", 750, 750_000_005_250, 3750)
        ]
    );
    assert_eq!(
        s.spent_by_token().await.expect("spent"),
        [("tok_a".to_string(), 1_000_000_007_000)]
    );
}

#[tokio::test]
async fn the_group_writer_acknowledges_only_committed_rows() {
    let (s, _d) = store().await;
    let s = Arc::new(s);
    let w = LedgerWriter::spawn(s.clone());
    let mut waits = Vec::new();
    for i in 0..200 {
        let w = w.clone();
        waits.push(tokio::spawn(async move {
            w.write(Write::Begin(begin(&format!("c{i}"), 5))).await?;
            w.write(Write::Settle(settle(&format!("c{i}"), "m", 3)))
                .await
        }));
    }
    for t in waits {
        t.await.expect("task").expect("committed");
    }
    assert_eq!(s.ledger_rows().await.expect("rows").len(), 200);
    assert_eq!(
        s.recover_inflight(0).await.expect("recover"),
        0,
        "no write-ahead row outlives its settlement"
    );
}

#[tokio::test]
async fn tokens_need_an_existing_parent() {
    let (s, _d) = store().await;
    let t = nightshift_store::NewToken {
        id: "tok_child".into(),
        secret_sha256: "h".into(),
        label: "child".into(),
        parent_id: Some("tok_missing".into()),
        budget_nanos: 1,
        created_ms: 0,
        expires_ms: None,
    };
    let err = s.create_token(t).await.expect_err("refused");
    assert_eq!(err.to_string(), "parent token `tok_missing` does not exist");
}

#[tokio::test]
async fn a_tokens_rows_since_a_time_are_read_alone_in_order() {
    let (s, _d) = store().await;
    let at = |id: &str, token: &str, ts_ms: i64| LedgerRow {
        ts_ms,
        token_id: token.into(),
        ..settle(id, "m", 40)
    };
    let rows = [
        at("old", "tok_a", 500),
        at("a1", "tok_a", 1_000),
        at("b1", "tok_b", 1_500),
        at("a2", "tok_a", 2_000),
    ];
    let writes: Vec<Write> = rows.iter().cloned().map(Write::Settle).collect();
    s.write_batch(&writes).await.expect("write");
    let got = s.ledger_rows_of_token("tok_a", 1_000).await.expect("rows");
    assert_eq!(got, vec![rows[1].clone(), rows[3].clone()]);
    assert!(
        s.ledger_rows_of_token("tok_c", 0)
            .await
            .expect("rows")
            .is_empty()
    );
}

#[tokio::test]
async fn a_shifts_spend_since_a_time_counts_its_tokens_and_no_lookalike() {
    let (s, _d) = store().await;
    let at = |id: &str, chain: &str, ts_ms: i64, nanos: i64| LedgerRow {
        ts_ms,
        label_chain: chain.into(),
        settled_nanos: nanos,
        ..settle(id, "m", 40)
    };
    let rows = [
        at("early", "night_1/calc", 500, 1),
        at("own", "night_1", 1_000, 10),
        at("job", "night_1/calc", 1_500, 100),
        // `_` would match any character in a LIKE: these are other shifts.
        at("like", "nightX1/calc", 1_500, 1_000),
        at("prefix", "night_10/calc", 1_500, 10_000),
    ];
    let writes: Vec<Write> = rows.iter().cloned().map(Write::Settle).collect();
    s.write_batch(&writes).await.expect("write");
    assert_eq!(s.spent_since("night_1", 1_000).await.expect("spent"), 110);
    assert_eq!(s.spent_since("night_1", 0).await.expect("spent"), 111);
    assert_eq!(s.spent_since("night_10", 0).await.expect("spent"), 10_000);
    assert_eq!(
        s.spend_over_time("night_1", 1_000).await.expect("series"),
        [(0, 1), (1_000, 110)]
    );
}
