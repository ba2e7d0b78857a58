//! In-process async locks per mirror: one so that writes to the same mirror never overlap,
//! and one that keeps a mirror from being replaced while a commit is being staged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{
    Mutex as AsyncMutex, OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock,
};

type Registry<T> = Mutex<HashMap<PathBuf, Arc<T>>>;

static WRITES: OnceLock<Registry<AsyncMutex<()>>> = OnceLock::new();
static GENERATIONS: OnceLock<Registry<RwLock<()>>> = OnceLock::new();

/// Entries beyond this many are pruned of locks nobody holds or waits for.
const PRUNE_ABOVE: usize = 256;

/// The lock of `path` in `registry`, made on first use.
fn entry<T: Default>(registry: &'static OnceLock<Registry<T>>, path: &Path) -> Arc<T> {
    let mut map = registry
        .get_or_init(Registry::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if map.len() > PRUNE_ABOVE {
        // Every clone is taken under this mutex, so a count of one means nobody holds
        // or awaits this lock: it can be dropped and made afresh later.
        map.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
    Arc::clone(map.entry(path.to_owned()).or_default())
}

/// Wait for, then hold, the write lock of the mirror at `path` (its canonical path).
pub(crate) async fn lock_mirror(path: &Path) -> OwnedMutexGuard<()> {
    entry(&WRITES, path).lock_owned().await
}

/// Keep the mirror at `path` in place (shared: many commits at once). Taken before
/// [`lock_mirror`], never while holding it, so that it cannot deadlock with
/// [`replace_generation`].
pub(crate) async fn hold_generation(path: &Path) -> OwnedRwLockReadGuard<()> {
    entry(&GENERATIONS, path).read_owned().await
}

/// Wait until no commit is being staged in a worktree of the mirror at `path`, and keep
/// new ones waiting, so that the mirror can be checked and replaced. Taken before
/// [`lock_mirror`].
pub(crate) async fn replace_generation(path: &Path) -> OwnedRwLockWriteGuard<()> {
    entry(&GENERATIONS, path).write_owned().await
}
