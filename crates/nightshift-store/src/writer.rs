//! Group commit for the ledger: many calls' writes in one transaction, each caller told
//! when its own write is durable.
//!
//! A settled call's response is not completed until its ledger row is durable — committed,
//! or appended to the write-ahead journal when there is one — so a call the client saw
//! finish is never missing from the ledger, even after `kill -9`. Batching is what lets
//! that hold at thousands of calls per second: while one transaction commits, the next
//! batch gathers. With a journal, a begun call's `inflight` row is only written if the
//! call is still open when the journal may be emptied or at a flush: most calls settle
//! first, and their write-ahead row never costs SQLite an insert and a delete.
//!
//! The journal is emptied when every record appended to it is dealt with. A row that
//! fails is tried again if the failure may pass, and a row that can never be written is
//! kept in the rejects file beside the journal and logged (`commit.rs`): either way it is
//! dealt with, so one bad row never keeps the journal from being emptied. Only a row that
//! can be written neither to the ledger nor to the rejects file stays outstanding, and the
//! journal keeps it for the next start to replay.

use std::collections::HashMap;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::LedgerStore;
use crate::commit::commit;
use crate::error::StoreError;
use crate::journal::Journal;
use crate::model::Write;

/// Largest number of writes committed in one transaction.
const MAX_BATCH: usize = 1024;

enum Job {
    Write(Write, Waiter),
}

/// A handle to the single task that writes the ledger.
#[derive(Clone)]
pub struct LedgerWriter {
    tx: mpsc::UnboundedSender<Job>,
    journal: Option<Arc<Journal>>,
    /// Records appended to the journal, and records of those committed to the ledger.
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    queued: AtomicU64,
    committed: AtomicU64,
}

/// With a journal, how long the writer gathers writes before committing them together.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// The journal is emptied once it holds this much and everything in it is in the ledger.
const JOURNAL_CHECKPOINT_BYTES: u64 = 4 * 1024 * 1024;

impl LedgerWriter {
    /// Start the writer task on the current Tokio runtime. Every write waits for its
    /// SQLite commit.
    pub fn spawn(store: Arc<dyn LedgerStore>) -> Self {
        Self::start(store, None)
    }

    /// Start the writer with a write-ahead journal: a write is durable once appended to
    /// the journal, and the ledger is filled from the queue in background batches.
    pub fn spawn_with_journal(store: Arc<dyn LedgerStore>, journal: Arc<Journal>) -> Self {
        Self::start(store, Some(journal))
    }

    fn start(store: Arc<dyn LedgerStore>, journal: Option<Arc<Journal>>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let counts = Arc::new(Counts::default());
        #[expect(
            clippy::disallowed_methods,
            reason = "the writer lives as long as the gateway; it ends when every handle is dropped"
        )]
        // The task holds the journal weakly: the journal (and its lock) goes the moment the
        // last handle is dropped, not when the task next wakes.
        tokio::spawn(run(
            store,
            rx,
            journal.as_ref().map(Arc::downgrade),
            counts.clone(),
        ));
        Self {
            tx,
            journal,
            counts,
        }
    }

    /// Make a write durable: appended to the journal (and queued for the ledger), or,
    /// without a journal, committed to the ledger before this returns.
    pub async fn write(&self, w: Write) -> Result<(), StoreError> {
        if let Some(journal) = &self.journal {
            let line = Journal::encode(&w)?;
            return journal.append(&line, || {
                self.counts.queued.fetch_add(1, Ordering::SeqCst);
                self.tx
                    .send(Job::Write(w, None))
                    .map_err(|_| StoreError::WriterGone)
            })?;
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Write(w, Some(done)))
            .map_err(|_| StoreError::WriterGone)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Invalid(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Wait until everything queued before this call has committed (and then empty the
    /// journal, if nothing has been appended since).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Write(Write::Flush, Some(done)))
            .map_err(|_| StoreError::WriterGone)?;
        wait.await
            .map_err(|_| StoreError::WriterGone)?
            .map_err(StoreError::Invalid)?;
        if let Some(journal) = &self.journal {
            let counts = &self.counts;
            journal.truncate_if(|| {
                counts.queued.load(Ordering::SeqCst) == counts.committed.load(Ordering::SeqCst)
            })?;
        }
        Ok(())
    }
}

async fn run(
    store: Arc<dyn LedgerStore>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    journal: Option<std::sync::Weak<Journal>>,
    counts: Arc<Counts>,
) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    // With a journal, a begun call's write-ahead row is held here rather than written: the
    // journal already holds it, and most calls settle within milliseconds, so their `inflight`
    // row would be inserted only to be deleted. Held rows are written before the journal
    // may be emptied and on every flush.
    let mut held: HashMap<String, Write> = HashMap::new();
    // With a journal, rows a passing failure kept out of the ledger (a full disk, a lock held
    // too long): they go first into the next batch, until they are written.
    let mut retry: Vec<Write> = Vec::new();
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        if journal.is_some() {
            gather(&mut rx, &mut buf).await;
        }
        let mut jobs = Vec::with_capacity(buf.len());
        let mut flushes = Vec::new();
        let mut flush = false;
        for Job::Write(w, done) in buf.drain(..) {
            if matches!(w, Write::Flush) {
                flush = true;
                flushes.extend(done);
            } else {
                jobs.push((w, done));
            }
        }
        let j = journal.as_ref().and_then(std::sync::Weak::upgrade);
        // Journal records this batch accounts for: a held begin made moot by its
        // settlement in this batch needs no write; the rest count once written or rejected.
        let mut journaled = 0u64;
        if let Some(j) = &j {
            let (kept, moot) =
                hold_begins(jobs, &mut held, flush || j.len() > JOURNAL_CHECKPOINT_BYTES);
            jobs = kept;
            journaled += moot;
        }
        let (mut writes, mut waiters): (Vec<Write>, Vec<_>) = jobs.into_iter().unzip();
        let retried = retry.len();
        writes.splice(0..0, retry.drain(..));
        waiters.splice(0..0, std::iter::repeat_with(|| None).take(retried));
        let results = commit(store.as_ref(), &writes, j.as_deref()).await;
        let failed = results.iter().filter(|r| r.is_some()).count();
        // A row neither written nor rejected stays outstanding: the journal keeps it, and
        // (with a journal) it is tried again with the next batch.
        journaled += (results.len() - failed) as u64;
        if j.is_some() {
            retry.extend(
                writes
                    .iter()
                    .zip(&results)
                    .filter(|(_, r)| r.is_some())
                    .map(|(w, _)| w.clone()),
            );
        }
        counts.committed.fetch_add(journaled, Ordering::SeqCst);
        if let Some(j) = &j
            && j.len() > JOURNAL_CHECKPOINT_BYTES
        {
            let _ = j.truncate_if(|| {
                counts.queued.load(Ordering::SeqCst) == counts.committed.load(Ordering::SeqCst)
            });
        }
        for (done, result) in waiters.into_iter().zip(&results) {
            if let Some(d) = done {
                let _ = d.send(result.clone().map_or(Ok(()), Err));
            }
        }
        let flushed = match results.into_iter().flatten().next() {
            None => Ok(()),
            Some(e) => Err(format!("{failed} ledger row(s) could not be recorded: {e}")),
        };
        for d in flushes {
            let _ = d.send(flushed.clone());
        }
    }
}

/// With a journal, gather writes for a moment before committing them together: nobody
/// waits on these commits (each write is already durable in the journal), and one
/// transaction of many rows costs SQLite's thread far less than many transactions of a few.
async fn gather(rx: &mut mpsc::UnboundedReceiver<Job>, buf: &mut Vec<Job>) {
    if buf.len() >= MAX_BATCH || buf.iter().any(|Job::Write(w, _)| matches!(w, Write::Flush)) {
        return;
    }
    tokio::time::sleep(BATCH_WINDOW).await;
    while buf.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => buf.push(job),
            Err(_) => break,
        }
    }
}

type Waiter = Option<oneshot::Sender<Result<(), String>>>;

/// Hold this batch's begins instead of writing them, and drop those its settlements make
/// moot; with `release`, write every held begin too. Returns the writes left and the number
/// of journal records made moot.
fn hold_begins(
    jobs: Vec<(Write, Waiter)>,
    held: &mut HashMap<String, Write>,
    release: bool,
) -> (Vec<(Write, Waiter)>, u64) {
    let mut kept = Vec::with_capacity(jobs.len());
    let mut moot = 0;
    for (w, done) in jobs {
        match w {
            Write::Begin(b) => {
                held.insert(b.call_id.clone(), Write::Begin(b));
            }
            Write::Settle(r) => {
                if held.remove(&r.call_id).is_some() {
                    moot += 1;
                }
                kept.push((Write::Settle(r), done));
            }
            Write::Flush => {}
        }
    }
    if release {
        kept.extend(held.drain().map(|(_, b)| (b, None)));
    }
    (kept, moot)
}
