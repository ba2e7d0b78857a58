//! The write-ahead journal: what waits in it, what readers see of it, and what happens to a
//! row the ledger will not take.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nightshift_store::{
    BoxFuture, CallOutcome, GroupBy, Journal, LedgerRow, LedgerStore, LedgerWriter, SqliteStore,
    StoreError, TotalRow, Write,
};

use super::{begin, settle, store};

fn journal_path(d: &Path) -> PathBuf {
    Journal::path_for(&format!("sqlite://{}", d.join("t.db").display())).expect("a file store")
}

/// A second store on the same file, as a reader in another process opens it.
async fn reader(d: &Path) -> SqliteStore {
    SqliteStore::open(&format!("sqlite://{}", d.join("t.db").display()))
        .await
        .expect("open")
}

fn append(journal: &Journal, w: &Write) {
    journal
        .append(&Journal::encode(w).expect("encode"), || ())
        .expect("append");
}

fn ids(rows: Vec<LedgerRow>) -> Vec<String> {
    rows.into_iter().map(|r| r.call_id).collect()
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

/// A reader sees every call whose settled record is in the journal, though the gateway's
/// writer has not committed it yet, through every ledger read; the writer's own commit of
/// it later changes nothing.
#[tokio::test]
async fn every_ledger_read_counts_the_calls_only_the_journal_holds() {
    let (s, d) = store().await;
    // What a gateway has made durable and answered, its writer not yet committed.
    let journal = Journal::open(&journal_path(d.path())).expect("journal");
    let done = Write::Settle(settle("done", "m", 3));
    for w in [
        Write::Begin(begin("open", 5)),
        Write::Begin(begin("done", 7)),
        done.clone(),
    ] {
        append(&journal, &w);
    }
    // Read without the journal's lock, which the gateway holds.
    let r = reader(d.path()).await;
    assert_eq!(
        r.spent_by_token().await.expect("spent"),
        [("tok_a".to_string(), 3)]
    );
    assert_eq!(
        r.totals(GroupBy::Model).await.expect("totals"),
        [TotalRow {
            key: "m".into(),
            calls: 1,
            input_tokens: 10,
            cached_input_tokens: 2,
            cache_write_tokens: 1,
            output_tokens: 5,
            reasoning_tokens: 1,
            settled_nanos: 3,
        }]
    );
    assert_eq!(
        r.ledger_rows_of_token("tok_a", 0).await.expect("rows"),
        [settle("done", "m", 3)]
    );
    assert_eq!(
        r.recover_inflight(9_000).await.expect("recover"),
        0,
        "no write-ahead row was written for the call still open"
    );
    // The gateway's writer commits the same row later: nothing changes.
    s.write_batch(std::slice::from_ref(&done))
        .await
        .expect("commit");
    assert_eq!(
        r.ledger_rows().await.expect("rows"),
        [settle("done", "m", 3)]
    );
}

/// A line still being written is not a record yet; it is read once whole.
#[tokio::test]
async fn a_reader_waits_for_a_record_still_being_written() {
    let (_s, d) = store().await;
    let journal = Journal::open(&journal_path(d.path())).expect("journal");
    append(&journal, &Write::Settle(settle("a1", "m", 1)));
    let r = reader(d.path()).await;
    assert_eq!(ids(r.ledger_rows().await.expect("rows")), ["a1"]);
    let line = Journal::encode(&Write::Settle(settle("a2", "m", 2))).expect("encode");
    let (first, rest) = line.split_at(line.len() / 2);
    journal.append(first, || ()).expect("append");
    assert_eq!(ids(r.ledger_rows().await.expect("rows")), ["a1"]);
    journal.append(rest, || ()).expect("append");
    assert_eq!(ids(r.ledger_rows().await.expect("rows")), ["a1", "a2"]);
}

/// Regression: a reader that remembered how far it had read would, after the gateway
/// emptied the journal and appended past that point again, start in the middle of a new
/// record and miss every record before it.
#[tokio::test]
async fn a_reader_notices_the_journal_was_emptied_and_refilled() {
    let (_s, d) = store().await;
    let journal = Journal::open(&journal_path(d.path())).expect("journal");
    for id in ["x1", "x2"] {
        append(&journal, &Write::Settle(settle(id, "m", 1)));
    }
    let r = reader(d.path()).await;
    assert_eq!(ids(r.ledger_rows().await.expect("rows")), ["x1", "x2"]);
    // Everything in it is in the ledger: the gateway empties it, and calls go on.
    assert!(journal.truncate_if(|| true).expect("truncate"));
    for id in ["y1", "y2", "y3"] {
        append(&journal, &Write::Settle(settle(id, "m", 1)));
    }
    assert_eq!(
        ids(r.ledger_rows().await.expect("rows")),
        ["x1", "x2", "y1", "y2", "y3"]
    );
    // Emptied and refilled to less than was read before.
    assert!(journal.truncate_if(|| true).expect("truncate"));
    append(&journal, &Write::Settle(settle("z1", "m", 1)));
    assert_eq!(
        ids(r.ledger_rows().await.expect("rows")),
        ["x1", "x2", "y1", "y2", "y3", "z1"]
    );
}

/// A ledger that refuses some rows: `refused` always (as a constraint would), and `flaky`
/// the first `failures` times (as a database locked past its busy timeout would). A batch
/// holding either fails whole, as a transaction does.
struct Refusing {
    inner: Arc<SqliteStore>,
    flaky: Mutex<HashMap<String, u32>>,
}

impl Refusing {
    fn new(inner: Arc<SqliteStore>, flaky: &str, failures: u32) -> Self {
        Self {
            inner,
            flaky: Mutex::new(HashMap::from([(flaky.to_string(), failures)])),
        }
    }

    fn check(&self, batch: &[Write]) -> Result<(), StoreError> {
        let mut flaky = self.flaky.lock().expect("lock");
        for w in batch {
            let Write::Settle(r) = w else { continue };
            if r.call_id == "refused" {
                return Err(StoreError::Invalid("refused by the test".into()));
            }
            if let Some(left) = flaky.get_mut(&r.call_id)
                && *left > 0
            {
                *left -= 1;
                return Err(StoreError::Query(sqlx::Error::PoolTimedOut));
            }
        }
        Ok(())
    }
}

impl LedgerStore for Refusing {
    fn write_batch<'a>(&'a self, batch: &'a [Write]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.check(batch)?;
            self.inner.write_batch(batch).await
        })
    }
    fn recover_inflight(&self, now_ms: i64) -> BoxFuture<'_, u64> {
        self.inner.recover_inflight(now_ms)
    }
    fn spent_by_token(&self) -> BoxFuture<'_, Vec<(String, i64)>> {
        self.inner.spent_by_token()
    }
    fn spent_since<'a>(&'a self, label_root: &'a str, since_ms: i64) -> BoxFuture<'a, i64> {
        self.inner.spent_since(label_root, since_ms)
    }
    fn spend_over_time<'a>(
        &'a self,
        label_root: &'a str,
        bucket_ms: i64,
    ) -> BoxFuture<'a, Vec<(i64, i64)>> {
        self.inner.spend_over_time(label_root, bucket_ms)
    }
    fn totals(&self, by: GroupBy) -> BoxFuture<'_, Vec<TotalRow>> {
        self.inner.totals(by)
    }
    fn ledger_rows(&self) -> BoxFuture<'_, Vec<LedgerRow>> {
        self.inner.ledger_rows()
    }
    fn ledger_rows_of_job<'a>(
        &'a self,
        shift: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Vec<LedgerRow>> {
        self.inner.ledger_rows_of_job(shift, job)
    }
    fn ledger_rows_of_token<'a>(
        &'a self,
        token_id: &'a str,
        since_ms: i64,
    ) -> BoxFuture<'a, Vec<LedgerRow>> {
        self.inner.ledger_rows_of_token(token_id, since_ms)
    }
}

/// The rejects file, each line's error and record.
fn rejects(journal: &Journal) -> Vec<(String, Write)> {
    let Ok(text) = std::fs::read_to_string(journal.rejects_path()) else {
        return Vec::new();
    };
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            assert!(v["rejected_ms"].as_i64().is_some_and(|t| t > 0), "{v}");
            (
                v["error"].as_str().expect("error").to_string(),
                serde_json::from_value(v["record"].clone()).expect("a record"),
            )
        })
        .collect()
}

/// Regression: a row the ledger refused was never counted as committed, so the journal
/// was never emptied again (and grew for as long as the gateway ran).
#[tokio::test]
async fn a_row_the_ledger_refuses_is_kept_aside_and_the_journal_is_still_emptied() {
    let (s, d) = store().await;
    let s = Arc::new(s);
    let journal = Arc::new(Journal::open(&journal_path(d.path())).expect("journal"));
    let store = Arc::new(Refusing::new(s.clone(), "flaky", 2));
    let w = LedgerWriter::spawn_with_journal(store, journal.clone());
    for write in [
        Write::Begin(begin("before", 5)),
        Write::Settle(settle("before", "m", 1)),
        Write::Begin(begin("refused", 5)),
        Write::Settle(settle("refused", "m", 2)),
        Write::Settle(settle("flaky", "m", 3)),
        Write::Settle(settle("after", "m", 4)),
    ] {
        w.write(write).await.expect("durable in the journal");
    }
    w.flush().await.expect("every row dealt with");
    assert_eq!(
        journal.records().expect("records").len(),
        0,
        "the journal is emptied"
    );
    assert_eq!(
        ids(s.ledger_rows().await.expect("rows")),
        ["before", "after", "flaky"],
        "the flaky row was written when tried again, after the rows that went in at once"
    );
    assert_eq!(
        rejects(&journal),
        [(
            "refused by the test".to_string(),
            Write::Settle(settle("refused", "m", 2))
        )],
        "the refused row is not lost"
    );
    assert_eq!(s.recover_inflight(9_000).await.expect("recover"), 0);
}

/// Without a journal each writer waits for its own row: the one refused gets the error,
/// the others are told their rows are in.
#[tokio::test]
async fn without_a_journal_only_the_refused_rows_writer_gets_an_error() {
    let (s, _d) = store().await;
    let s = Arc::new(s);
    let w = LedgerWriter::spawn(Arc::new(Refusing::new(s.clone(), "flaky", 1)));
    let calls = ["ok", "refused", "flaky"].map(|id| {
        let w = w.clone();
        tokio::spawn(async move {
            w.write(Write::Settle(settle(id, "m", 1)))
                .await
                .map_err(|e| e.to_string())
        })
    });
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.expect("task"));
    }
    assert_eq!(
        results,
        [Ok(()), Err("refused by the test".to_string()), Ok(())]
    );
    assert_eq!(ids(s.ledger_rows().await.expect("rows")), ["ok", "flaky"]);
}

/// On start, a journal holding a row the ledger refuses still replays the rest and is
/// emptied; the refused row goes to the rejects file.
#[tokio::test]
async fn a_replay_sets_refused_rows_aside_and_empties_the_journal() {
    let (s, d) = store().await;
    let s = Arc::new(s);
    let journal = Journal::open(&journal_path(d.path())).expect("journal");
    for id in ["first", "refused", "last"] {
        append(&journal, &Write::Settle(settle(id, "m", 1)));
    }
    let store = Refusing::new(s.clone(), "none", 0);
    assert_eq!(journal.replay(&store).await.expect("replay"), 3);
    assert!(journal.is_empty());
    assert_eq!(ids(s.ledger_rows().await.expect("rows")), ["first", "last"]);
    assert_eq!(
        rejects(&journal),
        [(
            "refused by the test".to_string(),
            Write::Settle(settle("refused", "m", 1))
        )]
    );
}

/// Review finding: a row that kept failing for a reason that passes (a lock held too long,
/// a full disk) went to the rejects file after three tries, so a paid call left the ledger
/// and the budgets rebuilt at the next start. It stays outstanding instead, is tried again
/// with the next batch, and the journal keeps it until it is written.
#[tokio::test]
async fn a_row_failing_for_a_passing_reason_is_never_set_aside() {
    let (s, d) = store().await;
    let s = Arc::new(s);
    let journal = Arc::new(Journal::open(&journal_path(d.path())).expect("journal"));
    // The batch, then the row's three tries: four failures in the first round, one more in
    // the second (the retried row's batch), then it goes in.
    let store = Arc::new(Refusing::new(s.clone(), "flaky", 5));
    let w = LedgerWriter::spawn_with_journal(store, journal.clone());
    w.write(Write::Settle(settle("flaky", "m", 3)))
        .await
        .expect("durable in the journal");
    w.write(Write::Settle(settle("other", "m", 4)))
        .await
        .expect("durable in the journal");
    let first = w.flush().await.expect_err("the flaky row is not in yet");
    assert!(
        first
            .to_string()
            .starts_with("1 ledger row(s) could not be recorded: "),
        "{first}"
    );
    assert_eq!(rejects(&journal), [], "a passing failure is not a refusal");
    assert_eq!(
        journal.records().expect("records").len(),
        2,
        "the journal keeps what the writer could not put in the ledger"
    );
    // A reader sees the call all the same: ledger reads catch up from the journal.
    assert_eq!(
        ids(s.ledger_rows().await.expect("rows")),
        ["other", "flaky"]
    );

    w.flush().await.expect("written when tried again");
    assert_eq!(journal.records().expect("records").len(), 0, "then emptied");
    assert_eq!(rejects(&journal), []);
    assert_eq!(
        ids(s.ledger_rows().await.expect("rows")),
        ["other", "flaky"],
        "once"
    );
}
