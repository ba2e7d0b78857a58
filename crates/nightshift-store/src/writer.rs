//! Group commit for the ledger: many calls' writes in one transaction, each caller told
//! when its own write is durable.
//!
//! A settled call's response is not completed until its ledger row has committed, so a
//! call the client saw finish is never missing from the ledger, even after `kill -9`.
//! Batching is what lets that hold at thousands of calls per second: while one
//! transaction commits, the next batch gathers.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::LedgerStore;
use crate::error::StoreError;
use crate::model::Write;

/// Largest number of writes committed in one transaction.
const MAX_BATCH: usize = 1024;

enum Job {
    Write(Write, Option<oneshot::Sender<Result<(), String>>>),
}

/// A handle to the single task that writes the ledger.
#[derive(Clone)]
pub struct LedgerWriter {
    tx: mpsc::UnboundedSender<Job>,
}

impl LedgerWriter {
    /// Start the writer task on the current Tokio runtime.
    pub fn spawn(store: Arc<dyn LedgerStore>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        #[expect(
            clippy::disallowed_methods,
            reason = "the writer lives as long as the gateway; it ends when every handle is dropped"
        )]
        tokio::spawn(run(store, rx));
        Self { tx }
    }

    /// Queue a write and wait until it has committed.
    pub async fn write(&self, w: Write) -> Result<(), StoreError> {
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

    /// Wait until everything queued before this call has committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Write(Write::Flush, Some(done)))
            .map_err(|_| StoreError::WriterGone)?;
        wait.await
            .map_err(|_| StoreError::WriterGone)?
            .map_err(StoreError::Invalid)
    }
}

async fn run(store: Arc<dyn LedgerStore>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut buf = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
        let mut writes = Vec::with_capacity(buf.len());
        let mut waiters = Vec::with_capacity(buf.len());
        for Job::Write(w, done) in buf.drain(..) {
            if !matches!(w, Write::Flush) {
                writes.push(w);
            }
            if let Some(d) = done {
                waiters.push(d);
            }
        }
        let result = if writes.is_empty() {
            Ok(())
        } else {
            store.write_batch(&writes).await
        };
        let result = match result {
            Ok(()) => Ok(()),
            Err(first) => {
                // One bad row must not sink its neighbours: retry them one by one.
                tracing::warn!(error = %first, rows = writes.len(), "Ledger batch failed; retrying rows one at a time.");
                let mut last = Ok(());
                for w in writes {
                    if let Err(e) = store.write_batch(std::slice::from_ref(&w)).await {
                        tracing::error!(error = %e, "Ledger row could not be written.");
                        last = Err(e.to_string());
                    }
                }
                last
            }
        };
        for d in waiters {
            let _ = d.send(result.clone());
        }
    }
}
