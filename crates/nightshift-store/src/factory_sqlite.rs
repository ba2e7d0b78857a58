//! The factory's state in SQLite: an append-only event log and its projection, changed
//! together in one transaction per event.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use crate::factory_model::{EventRow, GateRow, IterationRow, JobRow, JobSpend, ShiftRow};
use crate::sqlite::SqliteStore;
use crate::{BoxFuture, FactoryStore, StateChange};

fn shift_from(r: &SqliteRow) -> Result<ShiftRow, sqlx::Error> {
    Ok(ShiftRow {
        name: r.try_get("name")?,
        spec_path: r.try_get("spec_path")?,
        spec_json: r.try_get("spec_json")?,
        token_id: r.try_get("token_id")?,
        state: r.try_get("state")?,
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
        state: r.try_get("state")?,
        stop_reason: r.try_get("stop_reason")?,
        stop_detail: r.try_get("stop_detail")?,
        iterations: r.try_get("iterations")?,
        accepted: r.try_get("accepted")?,
        defects: r.try_get("defects")?,
        base_sha: r.try_get("base_sha")?,
        head_sha: r.try_get("head_sha")?,
        started_ms: r.try_get("started_ms")?,
        finished_ms: r.try_get("finished_ms")?,
        landing: r.try_get("landing")?,
    })
}

fn iteration_from(r: &SqliteRow) -> Result<IterationRow, sqlx::Error> {
    Ok(IterationRow {
        shift: r.try_get("shift")?,
        job: r.try_get("job")?,
        n: r.try_get("n")?,
        state: r.try_get("state")?,
        base_sha: r.try_get("base_sha")?,
        commit_sha: r.try_get("commit_sha")?,
        worker_stop: r.try_get("worker_stop")?,
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

fn gate_from(r: &SqliteRow) -> Result<GateRow, sqlx::Error> {
    Ok(GateRow {
        gate: r.try_get("gate")?,
        passed: r.try_get("passed")?,
        duration_ms: r.try_get("duration_ms")?,
        exit_code: r.try_get("exit_code")?,
        timed_out: r.try_get("timed_out")?,
        detail: r.try_get("detail")?,
        excerpt: r.try_get("excerpt")?,
    })
}

async fn apply(tx: &mut Transaction<'_, Sqlite>, change: &StateChange) -> Result<(), sqlx::Error> {
    match change {
        StateChange::Shift(s) => {
            sqlx::query(
                "INSERT INTO shifts (name, spec_path, spec_json, token_id, state, created_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(name) DO UPDATE SET spec_path = excluded.spec_path, spec_json = excluded.spec_json, token_id = excluded.token_id, state = excluded.state, finished_ms = excluded.finished_ms",
            )
            .bind(&s.name)
            .bind(&s.spec_path)
            .bind(&s.spec_json)
            .bind(&s.token_id)
            .bind(&s.state)
            .bind(s.created_ms)
            .bind(s.finished_ms)
            .execute(&mut **tx)
            .await?;
        }
        StateChange::Job(j) => {
            sqlx::query(
                "INSERT INTO jobs (shift, name, source, branch, worktree, state, stop_reason, stop_detail, iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms, landing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(shift, name) DO UPDATE SET source = excluded.source, branch = excluded.branch, worktree = excluded.worktree, state = excluded.state, stop_reason = excluded.stop_reason, stop_detail = excluded.stop_detail, iterations = excluded.iterations, accepted = excluded.accepted, defects = excluded.defects, base_sha = excluded.base_sha, head_sha = excluded.head_sha, started_ms = excluded.started_ms, finished_ms = excluded.finished_ms, landing = excluded.landing",
            )
            .bind(&j.shift)
            .bind(&j.name)
            .bind(&j.source)
            .bind(&j.branch)
            .bind(&j.worktree)
            .bind(&j.state)
            .bind(&j.stop_reason)
            .bind(&j.stop_detail)
            .bind(j.iterations)
            .bind(j.accepted)
            .bind(j.defects)
            .bind(&j.base_sha)
            .bind(&j.head_sha)
            .bind(j.started_ms)
            .bind(j.finished_ms)
            .bind(&j.landing)
            .execute(&mut **tx)
            .await?;
        }
        StateChange::JobToken {
            shift,
            job,
            token_id,
        } => {
            sqlx::query("INSERT OR IGNORE INTO job_tokens (shift, job, token_id) VALUES (?, ?, ?)")
                .bind(shift)
                .bind(job)
                .bind(token_id)
                .execute(&mut **tx)
                .await?;
        }
        StateChange::Iteration(i) => {
            sqlx::query(
                "INSERT INTO iterations (shift, job, n, state, base_sha, commit_sha, worker_stop, claims_done, summary, notes, files, insertions, deletions, started_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(shift, job, n) DO UPDATE SET state = excluded.state, base_sha = excluded.base_sha, commit_sha = excluded.commit_sha, worker_stop = excluded.worker_stop, claims_done = excluded.claims_done, summary = excluded.summary, notes = excluded.notes, files = excluded.files, insertions = excluded.insertions, deletions = excluded.deletions, finished_ms = excluded.finished_ms",
            )
            .bind(&i.shift)
            .bind(&i.job)
            .bind(i.n)
            .bind(&i.state)
            .bind(&i.base_sha)
            .bind(&i.commit_sha)
            .bind(&i.worker_stop)
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
        }
        StateChange::Gates {
            shift,
            job,
            n,
            results,
        } => {
            for g in results {
                sqlx::query(
                    "INSERT OR REPLACE INTO gate_results (shift, job, n, gate, passed, duration_ms, exit_code, timed_out, detail, excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

impl FactoryStore for SqliteStore {
    fn record<'a>(
        &'a self,
        shift: &'a str,
        job: Option<&'a str>,
        kind: &'a str,
        data: &'a serde_json::Value,
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
                .bind(kind)
                .bind(data.to_string())
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
            let rows = sqlx::query("SELECT shift, name, source, branch, worktree, state, stop_reason, stop_detail, iterations, accepted, defects, base_sha, head_sha, started_ms, finished_ms, landing FROM jobs WHERE shift = ? ORDER BY name")
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

    fn gate_results(&self, shift: &str, job: &str, n: i64) -> BoxFuture<'_, Vec<GateRow>> {
        let (shift, job) = (shift.to_string(), job.to_string());
        Box::pin(async move {
            let rows = sqlx::query("SELECT gate, passed, duration_ms, exit_code, timed_out, detail, excerpt FROM gate_results WHERE shift = ? AND job = ? AND n = ? ORDER BY rowid")
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
            rows.iter()
                .map(|r| {
                    let data: String = r.try_get("data")?;
                    Ok(EventRow {
                        seq: r.try_get("seq")?,
                        ts_ms: r.try_get("ts_ms")?,
                        shift: r.try_get("shift")?,
                        job: r.try_get("job")?,
                        kind: r.try_get("kind")?,
                        data: serde_json::from_str(&data)
                            .unwrap_or(serde_json::Value::String(data)),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(Into::into)
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
