//! The ledger's write-ahead journal: one JSON line per record, appended with a single
//! `write(2)` in the caller's own task, before the call goes upstream (a begun call) or
//! before its response completes (a settled call). A record in the journal survives a
//! `kill -9` of the process exactly as a committed SQLite transaction in WAL mode with
//! `synchronous = NORMAL` does: it is in the kernel's page cache the moment `write`
//! returns. The SQLite ledger is filled from the same records in background batches; on
//! start, records the ledger did not get are replayed (ledger inserts are idempotent by
//! `call_id`), and the journal is emptied.
//!
//! The journal is locked for as long as it is open: one gateway per store. A second
//! process on the same store would otherwise settle the first one's calls in flight as
//! interrupted.
//!
//! Readers need not wait for those batches: a [`crate::SqliteStore`] opened on a file
//! copies the settled records appended since its last read into the ledger before each
//! ledger read (see `tail.rs`). A record the ledger refuses is kept in the rejects file
//! beside the journal (`<store>.rejects`; see `commit.rs`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::LedgerStore;
use crate::error::StoreError;
use crate::model::Write;

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Open (creating) and lock the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let io = |e: std::io::Error| {
            StoreError::Invalid(format!(
                "cannot open the ledger journal {}: {e}",
                path.display()
            ))
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse(format!(
                    "another gateway is using this store ({} is locked): point `nightshift run` at it with --gateway, or give this one its own store",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The journal's path for a store URL (`sqlite://PATH` → `PATH.journal`); none for an
    /// in-memory store.
    pub fn path_for(store_url: &str) -> Option<PathBuf> {
        let rest = store_url.strip_prefix("sqlite://")?;
        let path = rest.split('?').next().unwrap_or(rest);
        if path.is_empty() || path.starts_with(':') {
            return None;
        }
        Some(PathBuf::from(format!("{path}.journal")))
    }

    /// Every complete record in the journal (a torn last line, from a crash mid-write, is
    /// not a record: its call never went upstream or never answered).
    pub fn records(&self) -> Result<Vec<Write>, StoreError> {
        Self::read(&self.path)
    }

    /// The complete records of the journal at `path`, read without its lock (a gateway may
    /// be appending; a line it is still writing is not yet a record).
    pub fn read(path: &Path) -> Result<Vec<Write>, StoreError> {
        let file = File::open(path).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot read the ledger journal {}: {e}",
                path.display()
            ))
        })?;
        let mut out = Vec::new();
        for line in BufReader::new(file).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Write>(&line) {
                Ok(w) => out.push(w),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Write every record of the journal into the ledger (at start, before anything is
    /// appended), then empty it. A record the ledger refuses goes to the rejects file; if
    /// one can be kept in neither, the journal is left as it is and this fails. Returns
    /// the records replayed.
    pub async fn replay(&self, store: &dyn LedgerStore) -> Result<usize, StoreError> {
        let records = self.records()?;
        let failed: Vec<String> = crate::commit::commit(store, &records, Some(self))
            .await
            .into_iter()
            .flatten()
            .collect();
        if let Some(first) = failed.first() {
            return Err(StoreError::Invalid(format!(
                "cannot replay the ledger journal {}: {} record(s) could be written neither to the ledger nor to {} (first error: {first}); free the disk or fix the store, then start again",
                self.path.display(),
                failed.len(),
                self.rejects_path().display()
            )));
        }
        self.truncate_if(|| true)?;
        Ok(records.len())
    }

    /// Where records the ledger refuses are kept: `<store>.rejects` beside `<store>.journal`.
    pub fn rejects_path(&self) -> PathBuf {
        self.path.with_extension("rejects")
    }

    /// Keep a record the ledger refuses, with why, as one JSON line of the rejects file.
    pub fn reject(&self, w: &Write, error: &str) -> Result<(), StoreError> {
        let path = self.rejects_path();
        let io = |e: std::io::Error| {
            StoreError::Invalid(format!(
                "cannot write the rejects file {}: {e}",
                path.display()
            ))
        };
        let rejected_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut line = serde_json::to_vec(&serde_json::json!({
            "rejected_ms": rejected_ms,
            "error": error,
            "record": w,
        }))
        .map_err(|e| StoreError::Invalid(format!("cannot encode a rejected record: {e}")))?;
        line.push(b'\n');
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&line))
            .map_err(io)
    }

    /// Encode a record as its journal line.
    pub fn encode(w: &Write) -> Result<Vec<u8>, StoreError> {
        let mut line = serde_json::to_vec(w)
            .map_err(|e| StoreError::Invalid(format!("cannot encode a ledger record: {e}")))?;
        line.push(b'\n');
        Ok(line)
    }

    /// Append one encoded record, then run `after` while still holding the journal (the
    /// writer queues the same record there, so emptying the journal never races it).
    pub fn append<T>(&self, line: &[u8], after: impl FnOnce() -> T) -> Result<T, StoreError> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot write the ledger journal {}: {e}",
                self.path.display()
            ))
        })?;
        Ok(after())
    }

    /// Empty the journal if `safe()` says every record in it is in the ledger, judged
    /// while no record can be appended.
    pub fn truncate_if(&self, safe: impl FnOnce() -> bool) -> Result<bool, StoreError> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if !safe() {
            return Ok(false);
        }
        file.set_len(0).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot empty the ledger journal {}: {e}",
                self.path.display()
            ))
        })?;
        Ok(true)
    }

    pub fn len(&self) -> u64 {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .metadata()
            .map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
