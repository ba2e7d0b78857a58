//! A call in flight when the gateway died is settled at its reservation on the next start,
//! once, and its budget counts it.

use std::sync::Arc;

use nightshift_spec::Config;
use nightshift_store::{
    CallOutcome, InflightRow, LedgerStore, SqliteStore, Store, UsageSource, Write,
};
use nightshift_testkit::{Script, Step};

use super::harness::{DEFAULT_GATEWAY, Harness, config_text, cost};

#[tokio::test]
async fn calls_left_in_flight_are_settled_at_their_reservation_on_restart() {
    let h = Harness::start(Script::new([Step::text("ok").with_usage(3, 1)])).await;
    let (tok, id) = h.token("1", None).await;
    assert_eq!(
        h.post_json(
            "/v1/chat/completions",
            &tok,
            &serde_json::json!({"model": "gpt", "messages": []})
        )
        .await
        .0,
        200
    );
    let (provider, dir, hstore) = h.into_parts().await;
    // What a crash mid-call leaves behind: a write-ahead record and no ledger row.
    let orphan = InflightRow {
        call_id: "call_orphan".into(),
        ts_ms: 1,
        token_id: id.clone(),
        label_chain: "test".into(),
        provider: "scripted".into(),
        model: "gpt".into(),
        upstream_model: "gpt-upstream".into(),
        client_format: "chat".into(),
        upstream_format: "chat".into(),
        streamed: true,
        reserved_nanos: 777_000,
        price_version: "config".into(),
    };
    hstore
        .write_batch(&[Write::Begin(orphan)])
        .await
        .expect("write");

    let db = dir.path().join("ledger.db");
    let text = config_text(&provider.base_url(), &db.to_string_lossy(), DEFAULT_GATEWAY);
    let config = Config::parse(&dir.path().join("nightshift.toml"), &text).expect("config");
    let store = Arc::new(SqliteStore::open(&config.store.url).await.expect("open"));
    let state = nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
        .await
        .expect("restart");
    let rows = store.ledger_rows().await.expect("rows");
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.call_id.as_str() == "call_orphan",
                r.outcome,
                r.settled_nanos,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (false, CallOutcome::Ok, cost(3, 0, 0, 1, 0)),
            (true, CallOutcome::Interrupted, 777_000)
        ]
    );
    assert_eq!(
        state.budget_of(&id).expect("budget").spent,
        cost(3, 0, 0, 1, 0) + 777_000
    );

    // A second restart finds nothing more to recover: counted once.
    drop(state);
    nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
        .await
        .expect("restart again");
    assert_eq!(store.ledger_rows().await.expect("rows").len(), 2);
}

#[tokio::test]
async fn ledger_records_left_in_the_journal_are_replayed_once_on_start() {
    let h = Harness::start(Script::new([])).await;
    let (provider, dir, store) = h.into_parts().await;
    let db = dir.path().join("ledger.db");
    let url = format!("sqlite://{}", db.display());
    // What a kill -9 can leave: a settled call in the journal that the ledger never got.
    let row = nightshift_store::LedgerRow {
        call_id: "call_from_journal".into(),
        ts_ms: 5,
        token_id: "tok_x".into(),
        label_chain: "x".into(),
        provider: "scripted".into(),
        model: "gpt".into(),
        upstream_model: "gpt-upstream".into(),
        client_format: "chat".into(),
        upstream_format: "chat".into(),
        streamed: false,
        input_tokens: 7,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        output_tokens: 2,
        reasoning_tokens: 0,
        reserved_nanos: 100_000,
        settled_nanos: cost(7, 0, 0, 2, 0),
        price_version: "config".into(),
        upstream_status: Some(200),
        latency_ms: 1,
        outcome: CallOutcome::Ok,
        usage_source: UsageSource::Upstream,
        attempts: 1,
        detail: None,
    };
    {
        let journal = nightshift_store::Journal::open(
            &nightshift_store::Journal::path_for(&url).expect("a file store"),
        )
        .expect("journal");
        let line = nightshift_store::Journal::encode(&Write::Settle(row.clone())).expect("encode");
        journal.append(&line, || ()).expect("append");
        journal
            .append(b"{\"Settle\":{\"call_id\":\"torn", || ())
            .expect("a torn last line");
    }
    let text = config_text(&provider.base_url(), &db.to_string_lossy(), DEFAULT_GATEWAY);
    let config = Config::parse(&dir.path().join("nightshift.toml"), &text).expect("config");
    let first = nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
        .await
        .expect("start");
    assert_eq!(store.ledger_rows().await.expect("rows"), vec![row]);
    // While it runs, a second gateway on the same store is refused, not raced.
    let err = nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("another gateway is using this store"),
        "{err}"
    );
    drop(first);
    nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
        .await
        .expect("restart after the first is gone");
    assert_eq!(
        store.ledger_rows().await.expect("rows").len(),
        1,
        "replayed once"
    );
}
