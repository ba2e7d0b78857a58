//! The floor over a store written as the factory writes it: what needs attention, in
//! order and in words; the dashboard served from the binary.

use std::sync::Arc;

use nightshift_floor::{Access, Floor};
use nightshift_store::{
    BlockedAttempt, BlockedKind, Event, FactoryStore, IterationState, JobRow, JobState, Landing,
    ShiftRow, ShiftState, SqliteStore, StateChange, StopReason,
};
use serde_json::{Value, json};

async fn store(dir: &std::path::Path) -> Arc<SqliteStore> {
    let url = format!("sqlite://{}", dir.join("floor.db").display());
    Arc::new(SqliteStore::open(&url).await.expect("store"))
}

fn gated(n: u32, failed: &[&str]) -> Event {
    Event::IterationGated {
        n,
        verdict: IterationState::Rejected,
        failed_gates: failed.iter().map(|g| g.to_string()).collect(),
        done_verified: false,
        gate_ms: 10,
        review: vec![],
    }
}

/// A shift of four jobs: `looping` failed `tests` three times running, `escaping` tried to
/// leave its sandbox, `unlanded` failed its landing, `fine` is fine.
async fn shift(s: &SqliteStore) {
    let row = ShiftRow {
        name: "s".into(),
        spec_path: "/x/shift.toml".into(),
        spec_json: json!({"shift_nanos": 5_000_000_000i64}).to_string(),
        token_id: None,
        state: ShiftState::Running,
        created_ms: 1,
        finished_ms: None,
    };
    let mut changes = vec![StateChange::Shift(row)];
    for name in ["fine", "looping", "escaping", "unlanded"] {
        let mut j = JobRow::pending("s", name, "/x/repo", "b");
        j.state = JobState::Running;
        if name == "unlanded" {
            j.state = JobState::Finished;
            j.stop_reason = Some(StopReason::Done);
            j.landing = Some(Landing::Failed {
                reason: "the push was refused".into(),
            });
        }
        changes.push(StateChange::Job(j));
    }
    let started = Event::ShiftStarted {
        jobs: 4,
        budget_nanos: 5_000_000_000,
        concurrency: 4,
    };
    s.record("s", None, &started, 2, &changes)
        .await
        .expect("record");
    for (n, failed) in [
        (1, vec!["tests", "lint"]),
        (2, vec!["tests"]),
        (3, vec!["lint", "tests"]),
    ] {
        s.record("s", Some("looping"), &gated(n, &failed), 3, &[])
            .await
            .expect("record");
    }
    s.record("s", Some("fine"), &gated(1, &["tests"]), 3, &[])
        .await
        .expect("record");
    let blocked = Event::SandboxBlocked {
        n: 2,
        attempts: vec![BlockedAttempt {
            kind: BlockedKind::Network,
            count: 3,
            by: "curl".into(),
            detail: "connect 1.1.1.1:443".into(),
        }],
    };
    s.record("s", Some("escaping"), &blocked, 4, &[])
        .await
        .expect("record");
}

async fn serve(store: Arc<SqliteStore>) -> String {
    let floor = Arc::new(Floor {
        store,
        diffs: None,
        access: Access::Open,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    #[expect(
        clippy::disallowed_methods,
        reason = "the test's server lives as long as the test"
    )]
    tokio::spawn(nightshift_floor::serve(
        floor,
        listener,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_needs_attention_comes_first_with_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path()).await;
    shift(&s).await;
    let base = serve(s).await;
    let body: Value = reqwest::get(format!("{base}/api/v1/shifts/s"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let attention: Vec<(String, String, String)> = body["needs_attention"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            (
                a["job"].as_str().unwrap_or("").into(),
                a["kind"].as_str().unwrap_or("").into(),
                a["reason"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        attention,
        [
            (
                "escaping".into(),
                "sandbox_escape".into(),
                "iteration 2 tried to leave its sandbox: 3 × Network by curl".into()
            ),
            (
                "unlanded".into(),
                "landing_failed".into(),
                "its landing ended `failed`: the push was refused".into()
            ),
            (
                "looping".into(),
                "repeated_defects".into(),
                "gate `tests` failed its last 3 iterations".into()
            ),
        ]
    );
    assert_eq!(body["jobs"], json!({"finished": 1, "running": 3}));
    assert_eq!(body["budget_nanos"], 5_000_000_000i64);
    // A page of the jobs, not all of them.
    let page: Value = reqwest::get(format!("{base}/api/v1/shifts/s?offset=1&limit=2"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = page["jobs_page"]
        .as_array()
        .expect("page")
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert_eq!((names.len(), page["jobs_total"].as_i64()), (2, Some(4)));

    // The dashboard comes from the binary, whole: no CDN, no other origin.
    let page = reqwest::get(format!("{base}/"))
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    assert!(page.contains("<title>nightshift · the floor</title>"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let missing = reqwest::get(format!("{base}/api/v2/nothing"))
        .await
        .expect("GET");
    assert_eq!(missing.status().as_u16(), 404);
    let missing: Value = missing.json().await.expect("json");
    assert_eq!(missing["error"]["status"], 404);
}
