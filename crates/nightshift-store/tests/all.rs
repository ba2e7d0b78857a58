//! The SQLite store: what the ledger guarantees.

#![expect(
    clippy::disallowed_methods,
    reason = "tests own every task they spawn and await it"
)]

use std::sync::Arc;

use nightshift_store::{
    CallOutcome, GroupBy, InflightRow, Journal, LedgerRow, LedgerStore, LedgerWriter, SqliteStore,
    TokenStore, UsageSource, Write,
};

async fn store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (SqliteStore::open(&url).await.expect("open"), dir)
}

fn begin(id: &str, reserved: i64) -> InflightRow {
    InflightRow {
        call_id: id.into(),
        ts_ms: 1_000,
        token_id: "tok_a".into(),
        label_chain: "shift/job".into(),
        provider: "p".into(),
        model: "m".into(),
        upstream_model: "m".into(),
        client_format: "chat".into(),
        upstream_format: "chat".into(),
        streamed: false,
        reserved_nanos: reserved,
        price_version: "v".into(),
    }
}

fn settle(id: &str, model: &str, settled: i64) -> LedgerRow {
    LedgerRow {
        call_id: id.into(),
        ts_ms: 1_000,
        token_id: "tok_a".into(),
        label_chain: "shift/job".into(),
        provider: "p".into(),
        model: model.into(),
        upstream_model: model.into(),
        client_format: "chat".into(),
        upstream_format: "chat".into(),
        streamed: false,
        input_tokens: 10,
        cached_input_tokens: 2,
        cache_write_tokens: 1,
        output_tokens: 5,
        reasoning_tokens: 1,
        reserved_nanos: 100,
        settled_nanos: settled,
        price_version: "v".into(),
        upstream_status: Some(200),
        latency_ms: 3,
        outcome: CallOutcome::Ok,
        usage_source: UsageSource::Upstream,
        attempts: 1,
        detail: None,
    }
}

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

/// With a journal, a begun call's write-ahead row waits in the journal: a call settled
/// before the next flush never touches `inflight`; one still open at a flush is written
/// there; and until then the journal keeps it for a restart.
#[tokio::test]
async fn with_a_journal_only_calls_still_open_at_a_flush_reach_inflight() {
    let (s, d) = store().await;
    let s = Arc::new(s);
    let journal = Arc::new(Journal::open(&d.path().join("t.journal")).expect("journal"));
    let w = LedgerWriter::spawn_with_journal(s.clone(), journal.clone());
    w.write(Write::Begin(begin("open", 5)))
        .await
        .expect("begin");
    w.write(Write::Begin(begin("done", 7)))
        .await
        .expect("begin");
    w.write(Write::Settle(settle("done", "m", 3)))
        .await
        .expect("settle");
    let mut waited = 0;
    while s.ledger_rows().await.expect("rows").is_empty() {
        assert!(waited < 500, "the settled row reaches the ledger");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    let kept: Vec<String> = journal
        .records()
        .expect("records")
        .iter()
        .filter_map(|r| match r {
            Write::Begin(b) => Some(b.call_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        kept,
        ["open", "done"],
        "the journal still holds both begins"
    );
    assert_eq!(
        s.recover_inflight(9_000).await.expect("recover"),
        0,
        "neither begin was written to inflight: one settled, the other is held"
    );

    w.flush().await.expect("flush");
    assert!(
        journal.records().expect("records").is_empty(),
        "everything is in SQLite: the journal is emptied"
    );
    assert_eq!(
        s.recover_inflight(9_000).await.expect("recover"),
        1,
        "only the open call was written to inflight"
    );
    let rows: Vec<(String, CallOutcome, i64)> = s
        .ledger_rows()
        .await
        .expect("rows")
        .into_iter()
        .map(|r| (r.call_id, r.outcome, r.settled_nanos))
        .collect();
    assert_eq!(
        rows,
        [
            ("done".to_string(), CallOutcome::Ok, 3),
            ("open".to_string(), CallOutcome::Interrupted, 5)
        ]
    );
}

/// A reader in another process sees every call whose record is in the journal, though the
/// gateway's writer has not committed it yet; the writer's own commit of it later changes
/// nothing.
#[tokio::test]
async fn a_reader_catches_up_on_settled_calls_the_writer_has_not_committed() {
    let (s, d) = store().await;
    let path = d.path().join("t.journal");
    // What a gateway has made durable and answered, its writer not yet committed.
    let journal = Journal::open(&path).expect("journal");
    let done = Write::Settle(settle("done", "m", 3));
    for w in [
        Write::Begin(begin("open", 5)),
        Write::Begin(begin("done", 7)),
        done.clone(),
    ] {
        journal
            .append(&Journal::encode(&w).expect("encode"), || ())
            .expect("append");
    }
    assert!(s.ledger_rows().await.expect("rows").is_empty());

    // Read without the journal's lock, which the gateway holds.
    assert_eq!(Journal::catch_up(&s, &path).await.expect("catch up"), 1);
    let rows = |rows: Vec<LedgerRow>| -> Vec<(String, i64)> {
        rows.into_iter()
            .map(|r| (r.call_id, r.settled_nanos))
            .collect()
    };
    assert_eq!(
        rows(s.ledger_rows().await.expect("rows")),
        [("done".to_string(), 3)]
    );
    assert_eq!(
        s.recover_inflight(9_000).await.expect("recover"),
        0,
        "no write-ahead row was written for the call still open"
    );

    // The gateway's writer commits the same row later: nothing changes.
    s.write_batch(std::slice::from_ref(&done))
        .await
        .expect("commit");
    assert_eq!(
        rows(s.ledger_rows().await.expect("rows")),
        [("done".to_string(), 3)]
    );
    assert_eq!(
        Journal::catch_up(&s, &d.path().join("none.journal"))
            .await
            .expect("no journal"),
        0
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
