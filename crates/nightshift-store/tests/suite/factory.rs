//! `FactoryStore::record`: one event and its projection, in one transaction; the schema
//! refuses states no version writes.

use nightshift_store::{
    Event, FactoryStore, IterationRow, IterationState, JobRow, JobState, Landing, PullRef,
    PullState, ShiftRow, ShiftState, StateChange, StopReason, WorkerStop,
};

use super::store;

fn shift_row() -> ShiftRow {
    ShiftRow {
        name: "s".into(),
        spec_path: "/specs/s.toml".into(),
        spec_json: "{}".into(),
        token_id: Some("tok_s".into()),
        state: ShiftState::Running,
        created_ms: 1_000,
        finished_ms: None,
    }
}

fn job_row() -> JobRow {
    JobRow::pending("s", "calc", "/repos/calc", "nightshift/s/calc")
}

fn iteration_row() -> IterationRow {
    IterationRow {
        shift: "s".into(),
        job: "calc".into(),
        n: 1,
        state: IterationState::Committed,
        base_sha: "b1".into(),
        commit_sha: Some("c1".into()),
        worker_stop: Some(WorkerStop::Thrashing),
        claims_done: false,
        summary: Some("the same call three times".into()),
        notes: None,
        files: 0,
        insertions: 0,
        deletions: 0,
        started_ms: 2_000,
        finished_ms: None,
    }
}

#[tokio::test]
async fn an_event_and_its_projection_read_back_as_written() {
    let (s, _dir) = store().await;
    let started = Event::ShiftStarted {
        jobs: 1,
        budget_nanos: 1_000_000_000,
        concurrency: 2,
    };
    let first = s
        .record(
            "s",
            None,
            &started,
            1_000,
            &[StateChange::Shift(shift_row()), StateChange::Job(job_row())],
        )
        .await
        .expect("record");
    let mut job = job_row();
    job.state = JobState::Finished;
    job.stop_reason = Some(StopReason::Stalled);
    job.stop_detail = Some("the same rejected change twice in a row".into());
    job.landing = Some(Landing::Failed {
        reason: "! [rejected] (non-fast-forward)".into(),
    });
    job.pull = Some(PullRef {
        number: 42,
        url: "http://127.0.0.1:1/o/calc/pull/42".into(),
        state: PullState::Closed,
        opened_ms: Some(2_500),
    });
    let finished = Event::JobFinished {
        reason: StopReason::Stalled,
        detail: "the same rejected change twice in a row".into(),
        worktree_bytes: Some(4096),
        landing: job.landing.clone(),
    };
    let second = s
        .record(
            "s",
            Some("calc"),
            &finished,
            3_000,
            &[
                StateChange::Job(job.clone()),
                StateChange::Iteration(iteration_row()),
            ],
        )
        .await
        .expect("record");
    assert_eq!(second, first + 1);

    assert_eq!(s.shift("s").await.expect("shift"), Some(shift_row()));
    assert_eq!(s.jobs("s").await.expect("jobs"), vec![job]);
    assert_eq!(
        s.iterations("s", "calc").await.expect("its"),
        vec![iteration_row()]
    );
    let events: Vec<(i64, Option<String>, Event)> = s
        .events("s", 0)
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.ts_ms, e.job, e.event))
        .collect();
    assert_eq!(
        events,
        vec![
            (1_000, None, started),
            (3_000, Some("calc".into()), finished)
        ]
    );
    assert_eq!(s.events("s", second).await.expect("after").len(), 0);
}

/// The served shape of a stored event: its place, its type and its fields, side by side.
#[tokio::test]
async fn a_stored_event_serializes_as_docs_events_md_shows() {
    let (s, _dir) = store().await;
    let gated = Event::IterationGated {
        n: 3,
        verdict: IterationState::Rejected,
        failed_gates: vec!["tests".into()],
        done_verified: false,
        gate_ms: 1830,
        review: vec![],
    };
    s.record("s", Some("calc"), &gated, 1_796_083_200_000, &[])
        .await
        .expect("record");
    let row = s.events("s", 0).await.expect("events").remove(0);
    assert_eq!(
        serde_json::to_value(&row).expect("json"),
        serde_json::json!({"seq": row.seq, "ts_ms": 1_796_083_200_000_i64, "shift": "s", "job": "calc",
            "type": "iteration_gated", "n": 3, "verdict": "rejected", "failed_gates": ["tests"],
            "done_verified": false, "gate_ms": 1830})
    );
}

/// A state column holds one of its type's texts: a typo written around the types (by hand,
/// or by a bug) is refused by the database itself.
#[tokio::test]
async fn the_schema_refuses_a_state_no_version_writes() {
    let (s, _dir) = store().await;
    s.record(
        "s",
        None,
        &Event::ShiftResumed,
        1,
        &[StateChange::Shift(shift_row()), StateChange::Job(job_row())],
    )
    .await
    .expect("record");
    for (sql, column) in [
        ("UPDATE shifts SET state = 'done'", "state"),
        ("UPDATE jobs SET state = 'runing'", "state"),
        ("UPDATE jobs SET stop_reason = 'timeout'", "stop_reason"),
        ("UPDATE jobs SET landing = 'landed'", "landing"),
        ("UPDATE jobs SET state = 'queued'", "state"),
        (
            "UPDATE jobs SET pull_state = 'draft', pull_number = 1",
            "pull_state",
        ),
    ] {
        let err = sqlx::query(sql).execute(s.pool()).await.expect_err(sql);
        assert!(
            err.to_string()
                .contains(&format!("CHECK constraint failed: {column} IN")),
            "{sql}: {err}"
        );
    }
    // A pull request's number and state come together, or not at all.
    for sql in [
        "UPDATE jobs SET pull_number = 3",
        "UPDATE jobs SET pull_state = 'open'",
    ] {
        let err = sqlx::query(sql).execute(s.pool()).await.expect_err(sql);
        assert!(
            err.to_string().contains("CHECK constraint failed"),
            "{sql}: {err}"
        );
    }
    // The projection is untouched.
    assert_eq!(s.jobs("s").await.expect("jobs"), vec![job_row()]);
}

/// An event a newer version wrote is skipped by this one's readers, not an error that
/// breaks `status`; one type of events can be read alone.
#[tokio::test]
async fn an_unknown_event_is_skipped_and_one_kind_can_be_read_alone() {
    let (s, _dir) = store().await;
    s.record("s", None, &Event::ShiftResumed, 1, &[])
        .await
        .expect("record");
    sqlx::query("INSERT INTO events (ts_ms, shift, job, kind, data) VALUES (2, 's', NULL, 'pull_request_opened', '{\"url\":\"x\"}')")
        .execute(s.pool())
        .await
        .expect("a newer version's event");
    s.record("s", None, &Event::ShiftFinished, 3, &[])
        .await
        .expect("record");
    let kinds: Vec<&str> = s
        .events("s", 0)
        .await
        .expect("events")
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(kinds, ["shift_resumed", "shift_finished"]);
    let finished = s.events_of("s", "shift_finished").await.expect("events");
    assert_eq!(
        finished
            .into_iter()
            .map(|e| (e.ts_ms, e.event))
            .collect::<Vec<_>>(),
        vec![(3, Event::ShiftFinished)]
    );
}
