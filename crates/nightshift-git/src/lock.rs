//! In-process async locks, one per mirror, so that writes to the same mirror never overlap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Registry = Mutex<HashMap<PathBuf, Arc<AsyncMutex<()>>>>;

static LOCKS: OnceLock<Registry> = OnceLock::new();

/// Entries beyond this many are pruned of locks nobody holds or waits for.
const PRUNE_ABOVE: usize = 256;

/// Wait for, then hold, the lock of the mirror at `path` (its canonical path).
pub(crate) async fn lock_mirror(path: &Path) -> OwnedMutexGuard<()> {
    let lock = {
        let mut map = LOCKS
            .get_or_init(Registry::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() > PRUNE_ABOVE {
            // Every clone is taken under this mutex, so a count of one means nobody holds
            // or awaits this lock: it can be dropped and made afresh later.
            map.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(map.entry(path.to_owned()).or_default())
    };
    lock.lock_owned().await
}
