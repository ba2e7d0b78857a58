//! A store's reading position in the ledger's journal, so that every ledger read first
//! counts the calls a gateway (in this process or another) has answered but not yet
//! committed.
//!
//! Cheap by construction: each catch-up reads only what was appended since the last one
//! (an `open`, an `fstat` and a few bytes when nothing was). The gateway empties the
//! journal once everything in it is in the ledger; a journal shorter than the position,
//! or whose bytes just before the position are no longer the last record read, was
//! emptied (and perhaps refilled) since, and is read again from its start. Every record
//! carries its call's unique id, so refilled bytes cannot pass for the old ones; and
//! ledger inserts are idempotent by `call_id`, so reading a record twice counts it once.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::LedgerStore;
use crate::error::StoreError;
use crate::model::Write;

/// Most settled rows copied into the ledger in one transaction.
const CHUNK: usize = 1024;

#[derive(Debug)]
pub(crate) struct JournalTail {
    path: PathBuf,
    pos: tokio::sync::Mutex<Position>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Position {
    /// Bytes of the journal read (always the end of a whole record).
    offset: u64,
    /// The last whole record read, newline included: what must still end at `offset`.
    last: Vec<u8>,
}

impl JournalTail {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            pos: tokio::sync::Mutex::default(),
        }
    }

    /// Copy the settled records appended since the last call into the ledger. Returns the
    /// settled records found.
    pub(crate) async fn catch_up(&self, store: &dyn LedgerStore) -> Result<usize, StoreError> {
        // One catch-up at a time: a second reader waits and then finds little left.
        let mut pos = self.pos.lock().await;
        let (settled, next) = self.read_since(&pos)?;
        for chunk in settled.chunks(CHUNK) {
            write_settled(store, chunk).await?;
        }
        *pos = next;
        Ok(settled.len())
    }

    fn read_since(&self, pos: &Position) -> Result<(Vec<Write>, Position), StoreError> {
        let io = |e: std::io::Error| {
            StoreError::Invalid(format!(
                "cannot read the ledger journal {}: {e}",
                self.path.display()
            ))
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok((Vec::new(), Position::default()));
            }
            Err(e) => return Err(io(e)),
        };
        let len = file.metadata().map_err(io)?.len();
        let start = if still_ends_at(&mut file, len, pos).map_err(io)? {
            pos.offset
        } else {
            0
        };
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(len - start).read_to_end(&mut bytes).map_err(io)?;
        // Only whole records: a line still being written is read next time.
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut settled = Vec::new();
        let mut last: &[u8] = &[];
        for line in bytes[..whole].split_inclusive(|b| *b == b'\n') {
            last = line;
            match serde_json::from_slice::<Write>(line) {
                Ok(w @ Write::Settle(_)) => settled.push(w),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, journal = %self.path.display(), "Skipped a journal line that is not a record.")
                }
            }
        }
        let next = if whole == 0 {
            Position {
                offset: start,
                last: if start == 0 {
                    Vec::new()
                } else {
                    pos.last.clone()
                },
            }
        } else {
            Position {
                offset: start + whole as u64,
                last: last.to_vec(),
            }
        };
        Ok((settled, next))
    }
}

/// Whether the journal still holds, just before `pos.offset`, the last record read there.
fn still_ends_at(file: &mut File, len: u64, pos: &Position) -> std::io::Result<bool> {
    let n = pos.last.len() as u64;
    if pos.offset == 0 || len < pos.offset || n > pos.offset {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(pos.offset - n))?;
    let mut there = vec![0; pos.last.len()];
    file.read_exact(&mut there)?;
    Ok(there == pos.last)
}

/// Write settled rows; one the ledger refuses for good is skipped (the gateway's writer
/// keeps it in the rejects file), one that fails for a passing reason fails the read, so
/// the next read tries it again.
async fn write_settled(store: &dyn LedgerStore, rows: &[Write]) -> Result<(), StoreError> {
    if store.write_batch(rows).await.is_ok() {
        return Ok(());
    }
    for w in rows {
        match store.write_batch(std::slice::from_ref(w)).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                let call_id = match w {
                    Write::Settle(r) => r.call_id.as_str(),
                    _ => "",
                };
                tracing::warn!(error = %e, call_id, "A settled call in the journal cannot be written to the ledger; skipped (the gateway keeps it in its rejects file).");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::model::LedgerRow;

    fn line(id: &str) -> Vec<u8> {
        let row = LedgerRow {
            call_id: id.into(),
            ..LedgerRow::default()
        };
        crate::journal::Journal::encode(&Write::Settle(row)).expect("encode")
    }

    fn ids(records: &[Write]) -> Vec<&str> {
        records
            .iter()
            .filter_map(|w| match w {
                Write::Settle(r) => Some(r.call_id.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_read_takes_only_what_was_appended_since_the_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db.journal");
        let tail = JournalTail::new(path.clone());
        let (none, at_start) = tail.read_since(&Position::default()).expect("read");
        assert_eq!(
            (none.len(), &at_start),
            (0, &Position::default()),
            "no journal yet"
        );

        let mut file = std::fs::File::create(&path).expect("create");
        file.write_all(&[line("a"), line("b")].concat())
            .expect("write");
        let (first, after_b) = tail.read_since(&at_start).expect("read");
        assert_eq!(ids(&first), ["a", "b"]);
        let len_ab = (line("a").len() + line("b").len()) as u64;
        assert_eq!(
            after_b,
            Position {
                offset: len_ab,
                last: line("b")
            }
        );

        let (again, same) = tail.read_since(&after_b).expect("read");
        assert_eq!(
            (again.len(), &same),
            (0, &after_b),
            "nothing new, nothing read"
        );

        file.write_all(&line("c")).expect("write");
        let (next, after_c) = tail.read_since(&after_b).expect("read");
        assert_eq!(ids(&next), ["c"], "a and b are not read again");
        assert_eq!(after_c.offset, len_ab + line("c").len() as u64);
    }
}
