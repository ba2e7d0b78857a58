//! Putting a rebuilt mirror in the old one's place: one atomic exchange of the two
//! folders where the file system can (Linux `renameat2(RENAME_EXCHANGE)`), else two
//! renames that a crash between them cannot turn into a lost mirror.

use std::path::{Path, PathBuf};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use crate::error::GitError;

/// Where the two-rename swap sets the old mirror aside: a name [`recover_swap`] knows.
fn retired_path(mirror: &Path) -> PathBuf {
    let name = mirror
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    mirror.with_file_name(format!(".retired-{name}"))
}

/// Put `fresh` at `mirror`; returns where the old mirror is now, for the caller to remove.
pub(super) async fn swap(fresh: &Path, mirror: &Path) -> Result<PathBuf, GitError> {
    let (fresh, mirror) = (fresh.to_owned(), mirror.to_owned());
    let target = mirror.clone();
    tokio::task::spawn_blocking(move || swap_blocking(&fresh, &mirror, true))
        .await
        .map_err(|e| {
            GitError::io(
                "swap in the rebuilt mirror at",
                &target,
                std::io::Error::other(e),
            )
        })?
        .map_err(|e| GitError::io("swap in the rebuilt mirror at", &target, e))
}

/// See [`swap`]; `exchange: false` goes straight to the two renames (for tests).
pub(super) fn swap_blocking(
    fresh: &Path,
    mirror: &Path,
    exchange: bool,
) -> std::io::Result<PathBuf> {
    if exchange {
        match renameat_with(CWD, fresh, CWD, mirror, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(fresh.to_owned()),
            // The file system (or kernel) cannot exchange: fall back below.
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::debug!(mirror = %mirror.display(), "no atomic exchange here; swapping the mirror with two renames");
    }
    let retired = retired_path(mirror);
    std::fs::rename(mirror, &retired)?;
    if let Err(e) = std::fs::rename(fresh, mirror) {
        // Put the old mirror back rather than leave none.
        std::fs::rename(&retired, mirror)?;
        return Err(e);
    }
    Ok(retired)
}

/// Finish what a two-rename swap a crash interrupted left behind: the old mirror set
/// aside with nothing in its place goes back; set aside with the new one in place, it
/// goes. Called with the mirror's locks held, before the mirror is looked at.
pub(crate) async fn recover_swap(mirror: &Path) -> Result<(), GitError> {
    let retired = retired_path(mirror);
    if !tokio::fs::try_exists(&retired).await.unwrap_or(false) {
        return Ok(());
    }
    if tokio::fs::try_exists(mirror).await.unwrap_or(false) {
        tracing::warn!(mirror = %mirror.display(), "Removing the old mirror an interrupted rebuild left aside");
        tokio::fs::remove_dir_all(&retired)
            .await
            .map_err(|e| GitError::io("remove the old mirror", &retired, e))
    } else {
        tracing::warn!(mirror = %mirror.display(), "Putting back the mirror an interrupted rebuild had set aside");
        tokio::fs::rename(&retired, mirror)
            .await
            .map_err(|e| GitError::io("put back the mirror set aside at", &retired, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(path: &Path, marker: &str) {
        std::fs::create_dir_all(path).expect("mkdir");
        std::fs::write(path.join("marker"), marker).expect("write");
    }

    fn marker(path: &Path) -> String {
        std::fs::read_to_string(path.join("marker")).expect("marker")
    }

    #[test]
    fn both_swaps_put_the_fresh_folder_in_place_and_hand_back_the_old_one() {
        for exchange in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (fresh, mirror) = (dir.path().join(".rebuild-m.git"), dir.path().join("m.git"));
            folder(&fresh, "new");
            folder(&mirror, "old");
            let old = swap_blocking(&fresh, &mirror, exchange).expect("swap");
            assert_eq!(marker(&mirror), "new");
            assert_eq!(marker(&old), "old");
            let expected = if exchange {
                fresh
            } else {
                retired_path(&mirror)
            };
            assert_eq!(old, expected);
        }
    }

    #[tokio::test]
    async fn a_swap_cut_short_by_a_crash_is_finished_on_the_next_look() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mirror = dir.path().join("m.git");
        // Crashed between the two renames: the old mirror is only set aside.
        folder(&retired_path(&mirror), "old");
        recover_swap(&mirror).await.expect("recover");
        assert_eq!(marker(&mirror), "old");
        assert!(!retired_path(&mirror).exists());

        // Crashed after both: the new mirror is in place, the old one still aside.
        folder(&retired_path(&mirror), "older");
        recover_swap(&mirror).await.expect("recover");
        assert_eq!(marker(&mirror), "old");
        assert!(!retired_path(&mirror).exists());
    }
}
