//! The store's tests, by subject; the rows they share.

mod factory;
mod journal;
mod ledger;
mod migrate;

use nightshift_store::{CallOutcome, InflightRow, LedgerRow, SqliteStore, UsageSource};

pub async fn store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (SqliteStore::open(&url).await.expect("open"), dir)
}

pub fn begin(id: &str, reserved: i64) -> InflightRow {
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

pub fn settle(id: &str, model: &str, settled: i64) -> LedgerRow {
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
