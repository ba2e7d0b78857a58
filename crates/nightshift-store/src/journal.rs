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
                return Err(StoreError::Invalid(format!(
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

    /// Bring the ledger up to date with the settled calls in the journal at `path`, for a
    /// reader in another process than the gateway: a call is durable (and its client
    /// answered) once its record is appended, but the gateway commits it to the ledger in
    /// batches, moments later. Ledger inserts are idempotent by `call_id`, so the gateway's
    /// own commit of the same rows is harmless. Returns the settled records found.
    pub async fn catch_up(store: &dyn LedgerStore, path: &Path) -> Result<usize, StoreError> {
        if !path.exists() {
            return Ok(0);
        }
        let settled: Vec<Write> = Self::read(path)?
            .into_iter()
            .filter(|w| matches!(w, Write::Settle(_)))
            .collect();
        if !settled.is_empty() {
            store.write_batch(&settled).await?;
        }
        Ok(settled.len())
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
