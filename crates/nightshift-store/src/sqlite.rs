//! The SQLite store: WAL, a busy timeout, embedded migrations, no SQL built at run time.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use std::collections::HashSet;

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::error::StoreError;
use crate::journal::Journal;
use crate::model::{GroupBy, InflightRow, LedgerRow, NewToken, TokenRecord, TotalRow, Write};
use crate::states::{CallOutcome, UnknownState, UsageSource};
use crate::tail::JournalTail;
use crate::{BoxFuture, LedgerStore, TokenStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Write transactions take turns here, in order, rather than in SQLite's busy handler,
    /// which sleeps and retries (up to 100 ms a time): with a thousand jobs recording at once
    /// that made single statements wait seconds. SQLite runs one writer at a time anyway;
    /// reads do not wait (WAL).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The journal of a store on a file: every ledger read first copies into the ledger
    /// what a gateway has answered and not yet committed.
    journal: Option<std::sync::Arc<JournalTail>>,
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the store at `url` (`sqlite://PATH`).
    ///
    /// `synchronous = NORMAL` in WAL mode: a committed transaction survives the process
    /// being killed (it is in the WAL file the moment the commit returns); only a power
    /// loss can take the last commits back.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            url: url.to_string(),
            source,
        };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Two processes opening one new store at once (`nightshift run` and `nightshift
        // serve`) would both switch it to WAL and migrate it, and one fail (`database is
        // locked`, or half-way through a migration): they take turns on a lock file beside
        // the database, from connecting to migrated. sqlx takes no such lock for SQLite.
        let _turn = match Journal::path_for(url).map(|p| p.with_extension("migrate-lock")) {
            Some(path) => Some(
                tokio::task::spawn_blocking(move || {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)?;
                    file.lock()?;
                    Ok::<_, std::io::Error>(file)
                })
                .await
                .map_err(|e| StoreError::Invalid(format!("locking the store to migrate it: {e}")))?
                .map_err(|e| {
                    StoreError::Invalid(format!("cannot lock {url} to migrate it: {e}"))
                })?,
            ),
            None => None,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: url.to_string(),
                source,
            })?;
        Ok(Self {
            pool,
            writer: std::sync::Arc::default(),
            journal: Journal::path_for(url).map(|p| std::sync::Arc::new(JournalTail::new(p))),
        })
    }

    /// Bring the ledger up to date with the journal: the settled calls a gateway has made
    /// durable there and not yet committed (nothing to do for a store with no journal).
    /// Every ledger read does this first.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        if let Some(tail) = &self.journal {
            tail.catch_up(self).await?;
        }
        Ok(())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction, begun when it is this one's turn (see `writer`); the guard is
    /// held until the transaction is committed or dropped.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<
        (
            tokio::sync::OwnedMutexGuard<()>,
            sqlx::Transaction<'static, sqlx::Sqlite>,
        ),
        sqlx::Error,
    > {
        let turn = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin().await?;
        Ok((turn, tx))
    }
}

fn token_from(row: &SqliteRow) -> Result<TokenRecord, sqlx::Error> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        parent_id: row.try_get("parent_id")?,
        budget_nanos: row.try_get("budget_nanos")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
    })
}

impl TokenStore for SqliteStore {
    fn create_token(&self, t: NewToken) -> BoxFuture<'_, TokenRecord> {
        Box::pin(async move {
            if let Some(p) = &t.parent_id
                && self.token(p).await?.is_none()
            {
                return Err(StoreError::Invalid(format!(
                    "parent token `{p}` does not exist"
                )));
            }
            let _turn = self.writer.lock().await;
            sqlx::query(
                "INSERT INTO tokens (id, secret_sha256, label, parent_id, budget_nanos, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&t.id)
            .bind(&t.secret_sha256)
            .bind(&t.label)
            .bind(&t.parent_id)
            .bind(t.budget_nanos)
            .bind(t.created_ms)
            .bind(t.expires_ms)
            .execute(&self.pool)
            .await?;
            Ok(TokenRecord {
                id: t.id,
                label: t.label,
                parent_id: t.parent_id,
                budget_nanos: t.budget_nanos,
                created_ms: t.created_ms,
                expires_ms: t.expires_ms,
                revoked_ms: None,
            })
        })
    }

    fn token_by_secret_hash(&self, sha256_hex: &str) -> BoxFuture<'_, Option<TokenRecord>> {
        let h = sha256_hex.to_string();
        Box::pin(async move {
            let row = sqlx::query(token_sql::BY_HASH)
                .bind(h)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(token_from).transpose()?)
        })
    }

    fn token(&self, id: &str) -> BoxFuture<'_, Option<TokenRecord>> {
        let id = id.to_string();
        Box::pin(async move {
            let row = sqlx::query(token_sql::BY_ID)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(token_from).transpose()?)
        })
    }

    fn tokens(&self) -> BoxFuture<'_, Vec<TokenRecord>> {
        Box::pin(async move {
            let rows = sqlx::query(token_sql::ALL).fetch_all(&self.pool).await?;
            Ok(rows.iter().map(token_from).collect::<Result<_, _>>()?)
        })
    }

    fn revoked_token_ids(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT id FROM tokens WHERE revoked_ms IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
            Ok(rows
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?)
        })
    }

    fn revoke_token(&self, id: &str, at_ms: i64) -> BoxFuture<'_, bool> {
        let id = id.to_string();
        Box::pin(async move {
            let _turn = self.writer.lock().await;
            let r =
                sqlx::query("UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL")
                    .bind(at_ms)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            Ok(r.rows_affected() == 1)
        })
    }
}

/// Token queries, spelled out whole.
mod token_sql {
    pub const BY_HASH: &str = "SELECT id, label, parent_id, budget_nanos, created_ms, expires_ms, revoked_ms FROM tokens WHERE secret_sha256 = ?";
    pub const BY_ID: &str = "SELECT id, label, parent_id, budget_nanos, created_ms, expires_ms, revoked_ms FROM tokens WHERE id = ?";
    pub const ALL: &str = "SELECT id, label, parent_id, budget_nanos, created_ms, expires_ms, revoked_ms FROM tokens ORDER BY created_ms, id";
}

/// Most rows per multi-row statement: 24 columns × 256 rows stays far below SQLite's limit
/// of 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 256;

/// A batch cut into statements of 256, 128, …, 2 or 1 rows (largest first). Every distinct
/// row count is a distinct SQL text, and sqlx keeps up to 100 prepared statements per
/// connection: cut to any size, the cache filled with large statements of every size (a
/// quarter of the gateway's memory under load). Cut this way there are at most nine sizes.
fn statement_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let n = rows.len().min(ROWS_PER_STATEMENT);
        // The largest power of two not above n.
        let size = 1usize << (usize::BITS - 1 - n.leading_zeros());
        let (head, rest) = rows.split_at(size);
        rows = rest;
        Some(head)
    })
}

const INSERT_LEDGER_HEAD: &str = "INSERT OR IGNORE INTO ledger (call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail) ";

const LEDGER_COLUMNS_SELECT: &str = "SELECT call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail FROM ledger ORDER BY seq";
/// One job's calls: those of every token its runs were given.
const LEDGER_JOB_SELECT: &str = "SELECT call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail FROM ledger WHERE token_id IN (SELECT token_id FROM job_tokens WHERE shift = ? AND job = ?) ORDER BY seq";
const LEDGER_TOKEN_SINCE_SELECT: &str = "SELECT call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail FROM ledger WHERE token_id = ? AND ts_ms >= ? ORDER BY seq";

/// A TEXT column read as one of its known words; another word is a decoding error that
/// names the column and the words it may hold.
pub(crate) fn parse_column<T>(r: &SqliteRow, column: &'static str) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr<Err = UnknownState>,
{
    let text: String = r.try_get(column)?;
    parse_text(&text, column)
}

/// A nullable TEXT column read as one of its known words.
pub(crate) fn parse_opt_column<T>(
    r: &SqliteRow,
    column: &'static str,
) -> Result<Option<T>, sqlx::Error>
where
    T: std::str::FromStr<Err = UnknownState>,
{
    let text: Option<String> = r.try_get(column)?;
    text.map(|t| parse_text(&t, column)).transpose()
}

fn parse_text<T>(text: &str, column: &'static str) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr<Err = UnknownState>,
{
    text.parse()
        .map_err(|e: UnknownState| sqlx::Error::ColumnDecode {
            index: column.to_string(),
            source: Box::new(e),
        })
}

fn ledger_from(r: &SqliteRow) -> Result<LedgerRow, sqlx::Error> {
    Ok(LedgerRow {
        call_id: r.try_get("call_id")?,
        ts_ms: r.try_get("ts_ms")?,
        token_id: r.try_get("token_id")?,
        label_chain: r.try_get("label_chain")?,
        provider: r.try_get("provider")?,
        model: r.try_get("model")?,
        upstream_model: r.try_get("upstream_model")?,
        client_format: r.try_get("client_format")?,
        upstream_format: r.try_get("upstream_format")?,
        streamed: r.try_get("streamed")?,
        input_tokens: r.try_get("input_tokens")?,
        cached_input_tokens: r.try_get("cached_input_tokens")?,
        cache_write_tokens: r.try_get("cache_write_tokens")?,
        output_tokens: r.try_get("output_tokens")?,
        reasoning_tokens: r.try_get("reasoning_tokens")?,
        reserved_nanos: r.try_get("reserved_nanos")?,
        settled_nanos: r.try_get("settled_nanos")?,
        price_version: r.try_get("price_version")?,
        upstream_status: r.try_get("upstream_status")?,
        latency_ms: r.try_get("latency_ms")?,
        outcome: parse_column(r, "outcome")?,
        usage_source: parse_column(r, "usage_source")?,
        attempts: r.try_get("attempts")?,
        detail: r.try_get("detail")?,
    })
}

const TOTALS_BY_TOKEN: &str = "SELECT token_id AS key, COUNT(*) AS calls, SUM(input_tokens) AS i, SUM(cached_input_tokens) AS c, SUM(cache_write_tokens) AS w, SUM(output_tokens) AS o, SUM(reasoning_tokens) AS r, SUM(settled_nanos) AS s FROM ledger GROUP BY token_id ORDER BY token_id";
const TOTALS_BY_MODEL: &str = "SELECT model AS key, COUNT(*) AS calls, SUM(input_tokens) AS i, SUM(cached_input_tokens) AS c, SUM(cache_write_tokens) AS w, SUM(output_tokens) AS o, SUM(reasoning_tokens) AS r, SUM(settled_nanos) AS s FROM ledger GROUP BY model ORDER BY model";
const TOTALS_BY_LABEL: &str = "SELECT label_chain AS key, COUNT(*) AS calls, SUM(input_tokens) AS i, SUM(cached_input_tokens) AS c, SUM(cache_write_tokens) AS w, SUM(output_tokens) AS o, SUM(reasoning_tokens) AS r, SUM(settled_nanos) AS s FROM ledger GROUP BY label_chain ORDER BY label_chain";
const TOTALS_BY_OUTCOME: &str = "SELECT outcome AS key, COUNT(*) AS calls, SUM(input_tokens) AS i, SUM(cached_input_tokens) AS c, SUM(cache_write_tokens) AS w, SUM(output_tokens) AS o, SUM(reasoning_tokens) AS r, SUM(settled_nanos) AS s FROM ledger GROUP BY outcome ORDER BY outcome";

impl LedgerStore for SqliteStore {
    fn write_batch<'a>(&'a self, batch: &'a [Write]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // A few multi-row statements per batch, not two per call: each statement is a
            // round trip to SQLite's worker thread, and that hop is the cost that matters.
            let settled: HashSet<&str> = batch
                .iter()
                .filter_map(|w| match w {
                    Write::Settle(r) => Some(r.call_id.as_str()),
                    _ => None,
                })
                .collect();
            // A call begun and settled within one batch needs no write-ahead row at all.
            let begins: Vec<&InflightRow> = batch
                .iter()
                .filter_map(|w| match w {
                    Write::Begin(b) if !settled.contains(b.call_id.as_str()) => Some(b),
                    _ => None,
                })
                .collect();
            let settles: Vec<&LedgerRow> = batch
                .iter()
                .filter_map(|w| match w {
                    Write::Settle(r) => Some(r),
                    _ => None,
                })
                .collect();
            let (_turn, mut tx) = self.begin_write().await?;
            for chunk in statement_chunks(&begins) {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT OR IGNORE INTO inflight (call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, reserved_nanos, price_version) ",
                );
                q.push_values(chunk, |mut v, b| {
                    v.push_bind(&b.call_id)
                        .push_bind(b.ts_ms)
                        .push_bind(&b.token_id)
                        .push_bind(&b.label_chain)
                        .push_bind(&b.provider)
                        .push_bind(&b.model)
                        .push_bind(&b.upstream_model)
                        .push_bind(&b.client_format)
                        .push_bind(&b.upstream_format)
                        .push_bind(b.streamed)
                        .push_bind(b.reserved_nanos)
                        .push_bind(&b.price_version);
                });
                q.build().execute(&mut *tx).await?;
            }
            for chunk in statement_chunks(&settles) {
                let mut q = QueryBuilder::<Sqlite>::new(INSERT_LEDGER_HEAD);
                q.push_values(chunk, |mut v, r| {
                    v.push_bind(&r.call_id)
                        .push_bind(r.ts_ms)
                        .push_bind(&r.token_id)
                        .push_bind(&r.label_chain)
                        .push_bind(&r.provider)
                        .push_bind(&r.model)
                        .push_bind(&r.upstream_model)
                        .push_bind(&r.client_format)
                        .push_bind(&r.upstream_format)
                        .push_bind(r.streamed)
                        .push_bind(r.input_tokens)
                        .push_bind(r.cached_input_tokens)
                        .push_bind(r.cache_write_tokens)
                        .push_bind(r.output_tokens)
                        .push_bind(r.reasoning_tokens)
                        .push_bind(r.reserved_nanos)
                        .push_bind(r.settled_nanos)
                        .push_bind(&r.price_version)
                        .push_bind(r.upstream_status)
                        .push_bind(r.latency_ms)
                        .push_bind(r.outcome.as_str())
                        .push_bind(r.usage_source.as_str())
                        .push_bind(r.attempts)
                        .push_bind(&r.detail);
                });
                q.build().execute(&mut *tx).await?;
                let mut d = QueryBuilder::<Sqlite>::new("DELETE FROM inflight WHERE call_id IN (");
                let mut ids = d.separated(", ");
                for r in chunk {
                    ids.push_bind(&r.call_id);
                }
                d.push(")");
                d.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn recover_inflight(&self, now_ms: i64) -> BoxFuture<'_, u64> {
        Box::pin(async move {
            let (_turn, mut tx) = self.begin_write().await?;
            let moved = sqlx::query(
                "INSERT OR IGNORE INTO ledger (call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, reserved_nanos, settled_nanos, price_version, upstream_status, latency_ms, outcome, usage_source, attempts, detail) \
                 SELECT call_id, ts_ms, token_id, label_chain, provider, model, upstream_model, client_format, upstream_format, streamed, 0, 0, 0, 0, 0, reserved_nanos, reserved_nanos, price_version, NULL, MAX(0, ? - ts_ms), ?, ?, 0, 'the gateway stopped while this call was in flight; billed at its reservation' FROM inflight",
            )
            .bind(now_ms)
            .bind(CallOutcome::Interrupted.as_str())
            .bind(UsageSource::Reserved.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM inflight")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(moved)
        })
    }

    fn spent_since<'a>(&'a self, label_root: &'a str, since_ms: i64) -> BoxFuture<'a, i64> {
        Box::pin(async move {
            self.catch_up().await?;
            // The root's own calls and those of every token under it (`root/…`), compared
            // as text: no LIKE, whose `_` and `%` a label may hold.
            let spent: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(settled_nanos), 0) FROM ledger WHERE ts_ms >= ? AND (label_chain = ? OR substr(label_chain, 1, length(?) + 1) = ? || '/')",
            )
            .bind(since_ms)
            .bind(label_root)
            .bind(label_root)
            .bind(label_root)
            .fetch_one(&self.pool)
            .await?;
            Ok(spent)
        })
    }

    fn spend_over_time<'a>(
        &'a self,
        label_root: &'a str,
        bucket_ms: i64,
    ) -> BoxFuture<'a, Vec<(i64, i64)>> {
        Box::pin(async move {
            self.catch_up().await?;
            let bucket = bucket_ms.max(1);
            let rows = sqlx::query(
                "SELECT (ts_ms / ?) * ? AS b, SUM(settled_nanos) AS s FROM ledger WHERE label_chain = ? OR substr(label_chain, 1, length(?) + 1) = ? || '/' GROUP BY b ORDER BY b",
            )
            .bind(bucket)
            .bind(bucket)
            .bind(label_root)
            .bind(label_root)
            .bind(label_root)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("b")?, r.try_get("s")?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    fn spent_by_token(&self) -> BoxFuture<'_, Vec<(String, i64)>> {
        Box::pin(async move {
            self.catch_up().await?;
            let rows = sqlx::query(
                "SELECT token_id, SUM(settled_nanos) AS s FROM ledger GROUP BY token_id",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("token_id")?, r.try_get("s")?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    fn totals(&self, by: GroupBy) -> BoxFuture<'_, Vec<TotalRow>> {
        Box::pin(async move {
            self.catch_up().await?;
            let sql = match by {
                GroupBy::Token => TOTALS_BY_TOKEN,
                GroupBy::Model => TOTALS_BY_MODEL,
                GroupBy::Label => TOTALS_BY_LABEL,
                GroupBy::Outcome => TOTALS_BY_OUTCOME,
            };
            let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(TotalRow {
                        key: r.try_get("key")?,
                        calls: r.try_get("calls")?,
                        input_tokens: r.try_get("i")?,
                        cached_input_tokens: r.try_get("c")?,
                        cache_write_tokens: r.try_get("w")?,
                        output_tokens: r.try_get("o")?,
                        reasoning_tokens: r.try_get("r")?,
                        settled_nanos: r.try_get("s")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    fn ledger_rows(&self) -> BoxFuture<'_, Vec<LedgerRow>> {
        Box::pin(async move {
            self.catch_up().await?;
            let rows = sqlx::query(LEDGER_COLUMNS_SELECT)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(ledger_from).collect::<Result<_, _>>()?)
        })
    }

    fn ledger_rows_of_job<'a>(
        &'a self,
        shift: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Vec<LedgerRow>> {
        Box::pin(async move {
            self.catch_up().await?;
            let rows = sqlx::query(LEDGER_JOB_SELECT)
                .bind(shift)
                .bind(job)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(ledger_from).collect::<Result<_, _>>()?)
        })
    }

    fn ledger_rows_of_token<'a>(
        &'a self,
        token_id: &'a str,
        since_ms: i64,
    ) -> BoxFuture<'a, Vec<LedgerRow>> {
        Box::pin(async move {
            self.catch_up().await?;
            let rows = sqlx::query(LEDGER_TOKEN_SINCE_SELECT)
                .bind(token_id)
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(ledger_from).collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_power_of_two_statements() {
        let sizes = |n: usize| {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows).collect();
            // Every row once, in order.
            assert_eq!(chunks.concat(), rows);
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(256), [256]);
        assert_eq!(sizes(300), [256, 32, 8, 4]);
        assert_eq!(sizes(1024), [256, 256, 256, 256]);
        // Whatever the batch, nine statement sizes at most.
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..=1024 {
            seen.extend(sizes(n));
        }
        assert_eq!(seen.len(), 9);
    }
}
