//! A call in flight when the gateway died is settled at its reservation on the next start,
//! once, and its budget counts it.

use std::sync::Arc;

use nightshift_spec::Config;
use nightshift_store::{InflightRow, LedgerStore, SqliteStore, Store, Write};
use nightshift_testkit::{Script, Step};

use super::harness::{DEFAULT_GATEWAY, Harness, config_text, cost};

#[tokio::test]
async fn calls_left_in_flight_are_settled_at_their_reservation_on_restart() {
    let mut h = Harness::start(Script::new([Step::text("ok").with_usage(3, 1)])).await;
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
    h.stop().await;
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
    h.store
        .write_batch(&[Write::Begin(orphan)])
        .await
        .expect("write");

    let db = h.dir.path().join("ledger.db");
    let text = config_text(
        &h.provider.base_url(),
        &db.to_string_lossy(),
        DEFAULT_GATEWAY,
    );
    let config = Config::parse(&h.dir.path().join("nightshift.toml"), &text).expect("config");
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
                r.outcome.as_str(),
                r.settled_nanos,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (false, "ok", cost(3, 0, 0, 1, 0)),
            (true, "interrupted", 777_000)
        ]
    );
    assert_eq!(
        state.budgets.get(&id).expect("budget").spent,
        cost(3, 0, 0, 1, 0) + 777_000
    );

    // A second restart finds nothing more to recover: counted once.
    drop(state);
    nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
        .await
        .expect("restart again");
    assert_eq!(store.ledger_rows().await.expect("rows").len(), 2);
}
