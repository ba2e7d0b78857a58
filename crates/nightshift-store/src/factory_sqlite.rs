//! The factory's state in SQLite: an append-only event log and its projection, changed
//! together in one transaction per event.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use crate::error::StoreError;
use crate::event::Event;
use crate::factory_model::{
    EventRow, GateRow, GateTally, IterationRow, JobRow, JobSpend, PullRef, ShiftRow,
};
use crate::sqlite::{SqliteStore, parse_column, parse_opt_column};
use crate::states::{Landing, LandingKind, StopReason, WorkerStop};
use crate::{BoxFuture, FactoryStore, StateChange};

fn shift_from(r: &SqliteRow) -> Result<ShiftRow, sqlx::Error> {
    Ok(ShiftRow {
        name: r.try_get("name")?,
        spec_path: r.try_get("spec_path")?,
        spec_json: r.try_get("spec_json")?,
        token_id: r.try_get("token_id")?,
        state: parse_column(r, "state")?,
        created_ms: r.try_get("created_ms")?,
        finished_ms: r.try_get("finished_ms")?,
    })
}

fn job_from(r: &SqliteRow) -> Result<JobRow, sqlx::Error> {
    Ok(JobRow {
        shift: r.try_get("shift")?,
        name: r.try_get("name")?,
        source: r.try_get("source")?,
        branch: r.try_get("branch")?,
        worktree: r.try_get("worktree")?,
        state: parse_column(r, "state")?,
        stop_reason: parse_opt_column(r, "stop_reason")?,
        stop_detail: r.try_get("stop_detail")?,
        iterations: r.try_get("iterations")?,
        accepted: r.try_get("accepted")?,
        defects: r.try_get("defects")?,
        base_sha: r.try_get("base_sha")?,
        head_sha: r.try_get("head_sha")?,
        started_ms: r.try_get("started_ms")?,
        finished_ms: r.try_get("finished_ms")?,
        landing: parse_opt_column::<LandingKind>(r, "landing")?
            .map(|kind| {
                Ok::<_, sqlx::Error>(Landing::from_parts(kind, r.try_get("landing_detail")?))
            })
            .transpose()?,
        pull: match r.try_get::<Option<i64>, _>("pull_number")? {
            None => None,
            Some(number) => Some(PullRef {
                number,
                url: r
                    .try_get::<Option<String>, _>("pull_url")?
                    .unwrap_or_default(),
                state: parse_column(r, "pull_state")?,
                opened_ms: r.try_get("pull_opened_ms")?,
            }),
        },
    })
}

fn iteration_from(r: &SqliteRow) -> Result<IterationRow, sqlx::Error> {
    Ok(IterationRow {
        shift: r.try_get("shift")?,
        job: r.try_get("job")?,
        n: r.try_get("n")?,
        state: parse_column(r, "state")?,
        base_sha: r.try_get("base_sha")?,
        commit_sha: r.try_get("commit_sha")?,
        worker_stop: parse_opt_column(r, "worker_stop")?,
        claims_done: r.try_get("claims_done")?,
        summary: r.try_get("summary")?,
        notes: r.try_get("notes")?,
        files: r.try_get("files")?,
        insertions: r.try_get("insertions")?,
        deletions: r.try_get("deletions")?,
        started_ms: r.try_get("started_ms")?,
        finished_ms: r.try_get("finished_ms")?,
    })
}

/// The events of rows. One this version cannot read (a newer one wrote it) is skipped, as
/// the event log's readers promise (docs/events.md); a row that is not JSON is not.
fn events_from(rows: &[SqliteRow]) -> Result<Vec<EventRow>, StoreError> {
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(e) = event_from(r)? {
            events.push(e);
        }
    }
    Ok(events)
}

/// The event of a row; `None` (with a warning) for one this version does not know.
fn event_from(r: &SqliteRow) -> Result<Option<EventRow>, StoreError> {
    let seq: i64 = r.try_get("seq")?;
    let kind: String = r.try_get("kind")?;
    let data: String = r.try_get("data")?;
    let data = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
        what: format!("event {seq} (`{kind}`)"),
        detail: e.to_string(),
    })?;
    let event = match Event::from_parts(&kind, data) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(seq, kind = %kind, error = %e, "Skipping an event this version cannot read (a newer nightshift wrote it?).");
            return Ok(None);
        }
    };
    Ok(Some(EventRow {
        seq,
        ts_ms: r.try_get("ts_ms")?,
        shift: r.try_get("shift")?,
        job: r.try_get("job")?,
        event,
    }))
}

fn gate_from(r: &SqliteRow) -> Result<GateRow, sqlx::Error> {
    Ok(GateRow {
        gate: r.try_get("gate")?,
        passed: r.try_get("passed")?,
        duration_ms: r.try_get("duration_ms")?,
        exit_code: r.try_get("exit_code")?,
        timed_out: r.try_get("timed_out")?,
        detail: r.try_get("detail")?,
        excerpt: r.try_get("excerpt")?,
        review: r.try_get("review")?,
        figures: r.try_get("figures")?,
    })
}

/// Apply one state change inside the event's transaction.
async fn apply(tx: &mut Transaction<'_, Sqlite>, change: &StateChange) -> Result<(), sqlx::Error> {
    match change {
        StateChange::Shift(s) => upsert_shift(tx, s).await,
        StateChange::Job(j) => upsert_job(tx, j).await,
        StateChange::JobToken {
            shift,
            job,
            token_id,
        } => add_job_token(tx, shift, job, token_id).await,
        StateChange::Iteration(i) => upsert_iteration(tx, i).await,
        StateChange::Gates {
            shift,
            job,
            n,
            results,
        } => replace_gates(tx, shift, job, *n, results).await,
    }
}

async fn upsert_shift(tx: &mut Transaction<'_, Sqlite>, s: &ShiftRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO shifts (name, spec_path, spec_json, token_id, state, created_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(name) DO UPDATE SET spec_path = excluded.spec_path, spec_json = excluded.spec_json, token_id = excluded.token_id, state = excluded.state, finished_ms = excluded.finished_ms",
    )
    .bind(&s.name)
    .bind(&s.spec_path)
    .bind(&s.spec_json)
    .bind(&s.token_id)
    .bind(s.state.as_str())
    .bind(s.created_ms)
    .bind(s.finished_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_job(tx: &mut Transaction<'_, Sqlite>, j: &JobRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs (shift, name, source, branch, worktree, state, stop_reason, stop_detail, iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms, landing, landing_detail, pull_number, pull_url, pull_state, pull_opened_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(shift, name) DO UPDATE SET source = excluded.source, branch = excluded.branch, worktree = excluded.worktree, state = excluded.state, stop_reason = excluded.stop_reason, stop_detail = excluded.stop_detail, iterations = excluded.iterations, accepted = excluded.accepted, defects = excluded.defects, base_sha = excluded.base_sha, head_sha = excluded.head_sha, started_ms = excluded.started_ms, finished_ms = excluded.finished_ms, landing = excluded.landing, landing_detail = excluded.landing_detail, pull_number = excluded.pull_number, pull_url = excluded.pull_url, pull_state = excluded.pull_state, pull_opened_ms = excluded.pull_opened_ms",
    )
    .bind(&j.shift)
    .bind(&j.name)
    .bind(&j.source)
    .bind(&j.branch)
    .bind(&j.worktree)
    .bind(j.state.as_str())
    .bind(j.stop_reason.map(StopReason::as_str))
    .bind(&j.stop_detail)
    .bind(j.iterations)
    .bind(j.accepted)
    .bind(j.defects)
    .bind(&j.base_sha)
    .bind(&j.head_sha)
    .bind(j.started_ms)
    .bind(j.finished_ms)
    .bind(j.landing.as_ref().map(|l| l.kind().as_str()))
    .bind(j.landing.as_ref().and_then(Landing::detail))
    .bind(j.pull.as_ref().map(|p| p.number))
    .bind(j.pull.as_ref().map(|p| p.url.as_str()))
    .bind(j.pull.as_ref().map(|p| p.state.as_str()))
    .bind(j.pull.as_ref().and_then(|p| p.opened_ms))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn add_job_token(
    tx: &mut Transaction<'_, Sqlite>,
    shift: &str,
    job: &str,
    token_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT OR IGNORE INTO job_tokens (shift, job, token_id) VALUES (?, ?, ?)")
        .bind(shift)
        .bind(job)
        .bind(token_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn upsert_iteration(
    tx: &mut Transaction<'_, Sqlite>,
    i: &IterationRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO iterations (shift, job, n, state, base_sha, commit_sha, worker_stop, claims_done, summary, notes, files, insertions, deletions, started_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(shift, job, n) DO UPDATE SET state = excluded.state, base_sha = excluded.base_sha, commit_sha = excluded.commit_sha, worker_stop = excluded.worker_stop, claims_done = excluded.claims_done, summary = excluded.summary, notes = excluded.notes, files = excluded.files, insertions = excluded.insertions, deletions = excluded.deletions, finished_ms = excluded.finished_ms",
    )
    .bind(&i.shift)
    .bind(&i.job)
    .bind(i.n)
    .bind(i.state.as_str())
    .bind(&i.base_sha)
    .bind(&i.commit_sha)
    .bind(i.worker_stop.map(WorkerStop::as_str))
    .bind(i.claims_done)
    .bind(&i.summary)
    .bind(&i.notes)
    .bind(i.files)
    .bind(i.insertions)
    .bind(i.deletions)
    .bind(i.started_ms)
    .bind(i.finished_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn replace_gates(
    tx: &mut Transaction<'_, Sqlite>,
    shift: &str,
    job: &str,
    n: i64,
    results: &[GateRow],
) -> Result<(), sqlx::Error> {
    for g in results {
        sqlx::query(
            "INSERT OR REPLACE INTO gate_results (shift, job, n, gate, passed, duration_ms, exit_code, timed_out, detail, excerpt, review, figures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(shift)
        .bind(job)
        .bind(n)
        .bind(&g.gate)
        .bind(g.passed)
        .bind(g.duration_ms)
        .bind(g.exit_code)
        .bind(g.timed_out)
        .bind(&g.detail)
        .bind(&g.excerpt)
        .bind(&g.review)
        .bind(&g.figures)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl FactoryStore for SqliteStore {
    fn record<'a>(
        &'a self,
        shift: &'a str,
        job: Option<&'a str>,
        event: &'a Event,
        ts_ms: i64,
        changes: &'a [StateChange],
    ) -> BoxFuture<'a, i64> {
        Box::pin(async move {
            let (_turn, mut tx) = self.begin_write().await?;
            for c in changes {
                apply(&mut tx, c).await?;
            }
            let seq: i64 = sqlx::query("INSERT INTO events (ts_ms, shift, job, kind, data) VALUES (?, ?, ?, ?, ?) RETURNING seq")
                .bind(ts_ms)
                .bind(shift)
                .bind(job)
                .bind(event.kind())
                .bind(event.data().to_string())
                .fetch_one(&mut *tx)
                .await?
                .try_get("seq")?;
            tx.commit().await?;
            Ok(seq)
        })
    }

    fn shift(&self, name: &str) -> BoxFuture<'_, Option<ShiftRow>> {
        let name = name.to_string();
        Box::pin(async move {
            let r = sqlx::query("SELECT name, spec_path, spec_json, token_id, state, created_ms, finished_ms FROM shifts WHERE name = ?")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
            Ok(r.as_ref().map(shift_from).transpose()?)
        })
    }

    fn shifts(&self) -> BoxFuture<'_, Vec<ShiftRow>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT name, spec_path, spec_json, token_id, state, created_ms, finished_ms FROM shifts ORDER BY created_ms, name")
                .fetch_all(self.pool())
                .await?;
            Ok(rows.iter().map(shift_from).collect::<Result<_, _>>()?)
        })
    }

    fn jobs(&self, shift: &str) -> BoxFuture<'_, Vec<JobRow>> {
        let shift = shift.to_string();
        Box::pin(async move {
            let rows = sqlx::query("SELECT shift, name, source, branch, worktree, state, stop_reason, stop_detail, iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms, landing, landing_detail, pull_number, pull_url, pull_state, pull_opened_ms FROM jobs WHERE shift = ? ORDER BY name")
                .bind(shift)
                .fetch_all(self.pool())
                .await?;
            Ok(rows.iter().map(job_from).collect::<Result<_, _>>()?)
        })
    }

    fn iterations(&self, shift: &str, job: &str) -> BoxFuture<'_, Vec<IterationRow>> {
        let (shift, job) = (shift.to_string(), job.to_string());
        Box::pin(async move {
            let rows = sqlx::query("SELECT shift, job, n, state, base_sha, commit_sha, worker_stop, claims_done, summary, notes, files, insertions, deletions, started_ms, finished_ms FROM iterations WHERE shift = ? AND job = ? ORDER BY n")
                .bind(shift)
                .bind(job)
                .fetch_all(self.pool())
                .await?;
            Ok(rows.iter().map(iteration_from).collect::<Result<_, _>>()?)
        })
    }

    fn shift_iterations(&self, shift: &str) -> BoxFuture<'_, Vec<IterationRow>> {
        let shift = shift.to_string();
        Box::pin(async move {
            let rows = sqlx::query("SELECT shift, job, n, state, base_sha, commit_sha, worker_stop, claims_done, summary, notes, files, insertions, deletions, started_ms, finished_ms FROM iterations WHERE shift = ? ORDER BY job, n")
                .bind(shift)
                .fetch_all(self.pool())
                .await?;
            Ok(rows.iter().map(iteration_from).collect::<Result<_, _>>()?)
        })
    }

    fn gate_tallies(&self, shift: &str) -> BoxFuture<'_, Vec<GateTally>> {
        let shift = shift.to_string();
        Box::pin(async move {
            let rows = sqlx::query("SELECT gate, SUM(passed) AS passed, SUM(1 - passed) AS failed FROM gate_results WHERE shift = ? GROUP BY gate ORDER BY gate")
                .bind(shift)
                .fetch_all(self.pool())
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(GateTally {
                        gate: r.try_get("gate")?,
                        passed: r.try_get("passed")?,
                        failed: r.try_get("failed")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    fn gate_results(&self, shift: &str, job: &str, n: i64) -> BoxFuture<'_, Vec<GateRow>> {
        let (shift, job) = (shift.to_string(), job.to_string());
        Box::pin(async move {
            let rows = sqlx::query("SELECT gate, passed, duration_ms, exit_code, timed_out, detail, excerpt, review, figures FROM gate_results WHERE shift = ? AND job = ? AND n = ? ORDER BY rowid")
                .bind(shift)
                .bind(job)
                .bind(n)
                .fetch_all(self.pool())
                .await?;
            Ok(rows.iter().map(gate_from).collect::<Result<_, _>>()?)
        })
    }

    fn events(&self, shift: &str, after_seq: i64) -> BoxFuture<'_, Vec<EventRow>> {
        let shift = shift.to_string();
        Box::pin(async move {
            let rows = sqlx::query("SELECT seq, ts_ms, shift, job, kind, data FROM events WHERE shift = ? AND seq > ? ORDER BY seq")
                .bind(shift)
                .bind(after_seq)
                .fetch_all(self.pool())
                .await?;
            events_from(&rows)
        })
    }

    fn log(&self, after_seq: i64, limit: i64) -> BoxFuture<'_, Vec<EventRow>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT seq, ts_ms, shift, job, kind, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after_seq)
                .bind(limit)
                .fetch_all(self.pool())
                .await?;
            events_from(&rows)
        })
    }

    fn job_events<'a>(&'a self, shift: &'a str, job: &'a str) -> BoxFuture<'a, Vec<EventRow>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT seq, ts_ms, shift, job, kind, data FROM events WHERE shift = ? AND job = ? ORDER BY seq")
                .bind(shift)
                .bind(job)
                .fetch_all(self.pool())
                .await?;
            events_from(&rows)
        })
    }

    fn last_seq(&self) -> BoxFuture<'_, i64> {
        Box::pin(async move {
            let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
                .fetch_one(self.pool())
                .await?;
            Ok(seq.unwrap_or(0))
        })
    }

    fn events_of<'a>(&'a self, shift: &'a str, kind: &'a str) -> BoxFuture<'a, Vec<EventRow>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT seq, ts_ms, shift, job, kind, data FROM events WHERE shift = ? AND kind = ? ORDER BY seq")
                .bind(shift)
                .bind(kind)
                .fetch_all(self.pool())
                .await?;
            events_from(&rows)
        })
    }

    fn spend_by_job(&self, shift: &str) -> BoxFuture<'_, Vec<JobSpend>> {
        let shift = shift.to_string();
        Box::pin(async move {
            self.catch_up().await?;
            let rows = sqlx::query(
                "SELECT t.job AS job, COUNT(l.seq) AS calls, COALESCE(SUM(l.input_tokens), 0) AS i, COALESCE(SUM(l.output_tokens), 0) AS o, COALESCE(SUM(l.settled_nanos), 0) AS s \
                 FROM job_tokens t LEFT JOIN ledger l ON l.token_id = t.token_id WHERE t.shift = ? GROUP BY t.job ORDER BY t.job",
            )
            .bind(shift)
            .fetch_all(self.pool())
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(JobSpend {
                        job: r.try_get("job")?,
                        calls: r.try_get("calls")?,
                        input_tokens: r.try_get("i")?,
                        output_tokens: r.try_get("o")?,
                        settled_nanos: r.try_get("s")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
        })
    }
}
