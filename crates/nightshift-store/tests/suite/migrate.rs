//! A store written by the previous version (migrations 0001–0003) opens with this one: its
//! rows read back as types, the texts that changed converted, nothing lost, the ledger
//! still append-only.

use std::path::Path;

use nightshift_store::{
    Event, FactoryStore, IterationState, JobState, Landing, LedgerStore, ShiftState, SqliteStore,
    StopReason, WorkerStop,
};

/// Build the previous version's schema in `db` by running its migrations (the same files,
/// so sqlx's checksums match) and fill it with rows as that version wrote them.
async fn previous_version_store(db: &Path) {
    let old = tempfile::tempdir().expect("tempdir");
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for name in ["0001_gateway.sql", "0002_factory.sql", "0003_landing.sql"] {
        std::fs::copy(migrations.join(name), old.path().join(name)).expect("copy");
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.expect("pool");
    sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("migrator")
        .run(&pool)
        .await
        .expect("the previous version's migrations");
    for sql in [
        "INSERT INTO shifts VALUES ('s', '/specs/s.toml', '{}', 'tok_s', 'finished', 1000, 9000)",
        "INSERT INTO jobs VALUES ('s', 'pushed-job', '/r/a', 'nightshift/s/a', NULL, 'finished', 'done', 'verified', 2, 1, 1, 'b', 'h', 1100, 8000, 'pushed')",
        "INSERT INTO jobs VALUES ('s', 'refused-job', '/r/b', 'nightshift/s/b', NULL, 'finished', 'stalled', 'twice', 3, 1, 2, 'b', 'h', 1100, 8000, 'failed: ! [rejected] main (non-fast-forward)')",
        "INSERT INTO jobs VALUES ('s', 'empty-job', '/r/c', 'nightshift/s/c', NULL, 'finished', 'max_iterations', 'limit', 1, 0, 1, 'b', 'b', 1100, 8000, 'nothing')",
        "INSERT INTO iterations VALUES ('s', 'pushed-job', 1, 'accepted', 'b', 'c1', 'finished (claims done)', 1, 'fixed', 'notes', 1, 2, 3, 1200, 1300)",
        "INSERT INTO iterations VALUES ('s', 'pushed-job', 2, 'rejected', 'c1', 'c2', 'failed', 0, 'broke', NULL, 1, 1, 1, 1400, 1500)",
        "INSERT INTO gate_results VALUES ('s', 'pushed-job', 2, 'tests', 0, 12, 1, 0, 'exit 1', 'F')",
        "INSERT INTO events (ts_ms, shift, job, kind, data) VALUES (1300, 's', 'pushed-job', 'iteration_committed', '{\"n\":1,\"commit\":\"c1\",\"worker\":\"finished (claims done)\",\"events\":[]}')",
        "INSERT INTO events (ts_ms, shift, job, kind, data) VALUES (8000, 's', 'refused-job', 'job_finished', '{\"reason\":\"stalled\",\"detail\":\"twice\",\"worktree_bytes\":10,\"landing\":\"failed: ! [rejected] main (non-fast-forward)\"}')",
        "INSERT INTO ledger (call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail) VALUES ('call_1', 1250, 'tok_j', 's/pushed-job', 'p', 'm', 'm', 'chat', 'chat', 0, 3000, 0, 0, 40, 0, 9000, 3160, 'v1', 200, 12, 'ok', 'upstream', 1, NULL)",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;
}

#[tokio::test]
async fn a_store_of_the_previous_version_opens_typed_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("old.db");
    previous_version_store(&db).await;
    let s = SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .expect("this version opens (and migrates) it");

    let shift = s.shift("s").await.expect("shift").expect("kept");
    assert_eq!(
        (shift.state, shift.finished_ms),
        (ShiftState::Finished, Some(9000))
    );
    let jobs: Vec<(String, JobState, Option<StopReason>, Option<Landing>)> = s
        .jobs("s")
        .await
        .expect("jobs")
        .into_iter()
        .map(|j| (j.name, j.state, j.stop_reason, j.landing))
        .collect();
    assert_eq!(
        jobs,
        vec![
            (
                "empty-job".into(),
                JobState::Finished,
                Some(StopReason::MaxIterations),
                Some(Landing::Nothing)
            ),
            (
                "pushed-job".into(),
                JobState::Finished,
                Some(StopReason::Done),
                Some(Landing::Pushed)
            ),
            (
                "refused-job".into(),
                JobState::Finished,
                Some(StopReason::Stalled),
                Some(Landing::Failed {
                    reason: "! [rejected] main (non-fast-forward)".into()
                })
            ),
        ]
    );
    let its: Vec<(i64, IterationState, Option<WorkerStop>, Option<String>)> = s
        .iterations("s", "pushed-job")
        .await
        .expect("iterations")
        .into_iter()
        .map(|i| (i.n, i.state, i.worker_stop, i.notes))
        .collect();
    assert_eq!(
        its,
        vec![
            (
                1,
                IterationState::Accepted,
                Some(WorkerStop::ClaimsDone),
                Some("notes".into())
            ),
            (2, IterationState::Rejected, Some(WorkerStop::Failed), None),
        ]
    );
    let gates = s.gate_results("s", "pushed-job", 2).await.expect("gates");
    assert_eq!(
        gates
            .iter()
            .map(|g| (g.gate.as_str(), g.passed, g.review.as_deref()))
            .collect::<Vec<_>>(),
        vec![("tests", false, None)]
    );
    let events: Vec<Event> = s
        .events("s", 0)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        vec![
            Event::IterationCommitted {
                n: 1,
                commit: "c1".into(),
                worker: WorkerStop::ClaimsDone,
                events: vec![]
            },
            Event::JobFinished {
                reason: StopReason::Stalled,
                detail: "twice".into(),
                worktree_bytes: Some(10),
                landing: Some(Landing::Failed {
                    reason: "! [rejected] main (non-fast-forward)".into()
                }),
            },
        ]
    );
    let ledger = s.ledger_rows().await.expect("ledger");
    assert_eq!(
        ledger
            .iter()
            .map(|r| (
                r.call_id.as_str(),
                r.settled_nanos,
                r.input_tokens,
                r.output_tokens
            ))
            .collect::<Vec<_>>(),
        vec![("call_1", 3160, 3000, 40)]
    );
    // The rebuilt ledger is as append-only as the old one.
    for sql in ["UPDATE ledger SET settled_nanos = 0", "DELETE FROM ledger"] {
        let err = sqlx::query(sql).execute(s.pool()).await.expect_err(sql);
        assert!(
            err.to_string().contains("the ledger is append-only"),
            "{sql}: {err}"
        );
    }
    let err = sqlx::query("DELETE FROM events")
        .execute(s.pool())
        .await
        .expect_err("events");
    assert!(
        err.to_string().contains("the event log is append-only"),
        "{err}"
    );
}

/// `nightshift run` and `nightshift serve` started together on a new store: both open it,
/// neither fails half-way through migrating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_opening_a_new_store_at_once_both_open_it() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async { SqliteStore::open(&url).await.map(|_| ()) })
                })
            })
            .collect();
        for open in opens {
            let opened = open.join().expect("thread");
            assert!(opened.is_ok(), "{opened:?}");
        }
    }
}
