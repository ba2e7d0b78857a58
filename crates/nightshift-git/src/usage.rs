//! Disk usage of a folder: the sizes of everything under it, symbolic links not followed.

use std::path::{Path, PathBuf};

use crate::error::GitError;

/// Bytes under `root` (apparent file sizes; a symbolic link counts as itself).
pub(crate) async fn disk_usage(root: &Path) -> Result<u64, GitError> {
    let root = root.to_owned();
    let for_error = root.clone();
    tokio::task::spawn_blocking(move || walk(&root))
        .await
        .map_err(|join| {
            GitError::io(
                "measure the disk usage of",
                for_error,
                std::io::Error::other(join.to_string()),
            )
        })?
}

fn walk(root: &Path) -> Result<u64, GitError> {
    let mut total = 0u64;
    let mut stack: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Removed while we walk (a build cleaning up): it no longer uses disk.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir != root => continue,
            Err(e) => return Err(GitError::io("list the folder", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| GitError::io("list the folder", &dir, e))?;
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(GitError::io("read the metadata of", entry.path(), e)),
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total = total.saturating_add(meta.len());
            }
        }
    }
    Ok(total)
}
