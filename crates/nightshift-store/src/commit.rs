//! Committing a batch of ledger writes so that one bad row neither sinks its neighbours
//! nor stays outstanding forever.
//!
//! A batch is one transaction. If it fails, its rows are tried one at a time. A row that
//! fails for a reason that may pass (SQLite busy or locked past its busy timeout, a full
//! or failing disk, no pooled connection: [`StoreError::is_transient`]) is tried again,
//! with the others that failed so, after 100 ms and after 1 s; if it still fails it stays
//! outstanding — a paid call is never set aside for a reason that passes — and the writer
//! tries it again with its next batch (the journal keeps it meanwhile, and a restart
//! replays it). A row that fails for a reason that will not pass (a constraint or trigger
//! refuses it) is given up: with a journal it is appended to the journal's rejects file
//! (`<store>.rejects`, one JSON line with the error, the time and the record) and logged as
//! an error, and it counts as dealt with, so the journal can still be emptied; without a
//! journal its writer gets the error.

use std::time::Duration;

use crate::LedgerStore;
use crate::error::StoreError;
use crate::journal::Journal;
use crate::model::Write;

/// Waits before the second and third tries of rows that failed for a passing reason.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(100), Duration::from_secs(1)];

/// Commit `writes`; for each, `None` once it is dealt with (written, or kept in the
/// rejects file) or the error that stopped it.
pub(crate) async fn commit(
    store: &dyn LedgerStore,
    writes: &[Write],
    journal: Option<&Journal>,
) -> Vec<Option<String>> {
    let mut results: Vec<Option<String>> = vec![None; writes.len()];
    if writes.is_empty() || store.write_batch(writes).await.is_ok() {
        return results;
    }
    tracing::warn!(
        rows = writes.len(),
        "Ledger batch failed; trying its rows one at a time."
    );
    let mut pending: Vec<usize> = (0..writes.len()).collect();
    for attempt in 0..=RETRY_DELAYS.len() {
        let mut again = Vec::new();
        for i in pending {
            let w = &writes[i];
            let Err(e) = store.write_batch(std::slice::from_ref(w)).await else {
                continue;
            };
            if !e.is_transient() {
                results[i] = give_up(w, &e, journal);
            } else if attempt < RETRY_DELAYS.len() {
                tracing::warn!(error = %e, call_id = call_id(w), attempt = attempt + 1, "Ledger row failed; it will be tried again.");
                again.push(i);
            } else {
                tracing::error!(error = %e, call_id = call_id(w), "Ledger row still cannot be written; it stays outstanding and is tried again with the next batch.");
                results[i] = Some(e.to_string());
            }
        }
        let Some(delay) = RETRY_DELAYS.get(attempt).filter(|_| !again.is_empty()) else {
            break;
        };
        tokio::time::sleep(*delay).await;
        pending = again;
    }
    results
}

/// A row that cannot be written: into the rejects file if there is a journal, so it is not
/// lost; `None` once kept there.
fn give_up(w: &Write, e: &StoreError, journal: Option<&Journal>) -> Option<String> {
    let Some(j) = journal else {
        tracing::error!(error = %e, call_id = call_id(w), "Ledger row could not be written.");
        return Some(e.to_string());
    };
    match j.reject(w, &e.to_string()) {
        Ok(()) => {
            tracing::error!(
                error = %e,
                call_id = call_id(w),
                rejects = %j.rejects_path().display(),
                "Ledger row could not be written; it is kept in the rejects file, not in the ledger."
            );
            None
        }
        Err(kept) => {
            // Neither in the ledger nor in the rejects file: it stays outstanding, so the
            // journal keeps it until a restart replays it.
            tracing::error!(error = %e, rejects_error = %kept, call_id = call_id(w), "Ledger row could not be written, nor kept in the rejects file; the journal keeps it.");
            Some(e.to_string())
        }
    }
}

fn call_id(w: &Write) -> &str {
    match w {
        Write::Begin(b) => &b.call_id,
        Write::Settle(r) => &r.call_id,
        Write::Flush => "",
    }
}
