//! [`Mirror::worktree`]: adding a job's worktree, or finding it again on resume.

use std::path::{Path, PathBuf};

use super::{Mirror, resolve_commit};
use crate::command::Git;
use crate::error::GitError;
use crate::lock::lock_mirror;
use crate::worktree::Worktree;

impl Mirror {
    /// Add a worktree at `path` on `branch`, creating the branch at `start` when it does not
    /// exist; on resume, return the worktree already at `path` (it must be on `branch`),
    /// with the lock files a killed git left in it removed.
    pub async fn worktree(
        &self,
        path: &Path,
        branch: &str,
        start: &str,
    ) -> Result<Worktree, GitError> {
        let path = std::path::absolute(path)
            .map_err(|e| GitError::io("make an absolute path of", path, e))?;
        let branch_ref = format!("refs/heads/{branch}");
        let _guard = lock_mirror(&self.path).await;

        let mut exists = tokio::fs::try_exists(&path).await.unwrap_or(false);
        let canonical = if exists {
            tokio::fs::canonicalize(&path)
                .await
                .map_err(|e| GitError::io("resolve the worktree path", &path, e))?
        } else {
            path.clone()
        };
        let listed = self.list_worktrees().await?;
        let mut prune = false;
        for entry in &listed {
            if !tokio::fs::try_exists(&entry.path).await.unwrap_or(false) {
                // Registered, but its folder is gone (at this path or another holding the
                // branch): forget it; its branch and commits stay.
                prune = true;
                continue;
            }
            let same_path = entry.path == canonical || entry.path == path;
            if same_path && entry.locked.as_deref() == Some("initializing") {
                self.discard_half_made(&path).await?;
                exists = false;
                prune = true;
                continue;
            }
            if same_path {
                if entry.branch.as_deref() != Some(branch_ref.as_str()) {
                    let on = entry
                        .branch
                        .as_deref()
                        .map_or("a detached HEAD".to_owned(), |b| format!("branch {b}"));
                    return Err(GitError::WorktreeConflict {
                        path,
                        detail: format!(
                            "it is a worktree of {} on {on}, not on {branch_ref}; remove it or pick another path",
                            self.path.display()
                        ),
                    });
                }
                let worktree = self.worktree_handle(canonical, branch);
                worktree.clear_stale_locks().await?;
                tracing::info!(worktree = %worktree.path().display(), branch, "reusing the existing worktree");
                return Ok(worktree);
            }
            if entry.branch.as_deref() == Some(branch_ref.as_str()) {
                return Err(GitError::WorktreeConflict {
                    path,
                    detail: format!(
                        "branch {branch} is already checked out in the worktree {}; remove that worktree or use another branch",
                        entry.path.display()
                    ),
                });
            }
        }
        if prune {
            Git::new(&self.path, ["worktree", "prune"]).run().await?;
        }
        if exists && dir_has_entries(&path).await? {
            return Err(GitError::WorktreeConflict {
                path,
                detail: format!(
                    "the folder exists, is not empty and is not a worktree of {}; move it away or pick another path",
                    self.path.display()
                ),
            });
        }

        let mut args: Vec<std::ffi::OsString> =
            vec!["worktree".into(), "add".into(), "--quiet".into()];
        if resolve_commit(&self.path, &branch_ref).await?.is_some() {
            args.extend([path.clone().into_os_string(), branch.into()]);
        } else {
            let start_sha = resolve_commit(&self.path, start).await?.ok_or_else(|| {
                GitError::UnknownRevision {
                    repo: self.path.clone(),
                    rev: start.to_owned(),
                }
            })?;
            args.extend([
                "--no-track".into(),
                "-b".into(),
                branch.into(),
                path.clone().into_os_string(),
                start_sha.into(),
            ]);
        }
        Git::new(&self.path, &args).run().await?;
        let canonical = tokio::fs::canonicalize(&path)
            .await
            .map_err(|e| GitError::io("resolve the new worktree path", &path, e))?;
        tracing::info!(worktree = %canonical.display(), branch, mirror = %self.path.display(), "added a worktree");
        let worktree = self.worktree_handle(canonical, branch);
        worktree.settle_index().await?;
        Ok(worktree)
    }

    /// Remove a worktree that a killed `git worktree add` left half made: it holds no work
    /// yet (its branch, if new, stays and is reused).
    async fn discard_half_made(&self, path: &Path) -> Result<(), GitError> {
        tracing::warn!(worktree = %path.display(), "removing a half-made worktree left by an interrupted `git worktree add`");
        let args: [&std::ffi::OsStr; 5] = [
            "worktree".as_ref(),
            "remove".as_ref(),
            "--force".as_ref(),
            "--force".as_ref(),
            path.as_os_str(),
        ];
        if let Err(e) = Git::new(&self.path, args).run().await {
            tracing::warn!(error = %e, "could not remove the half-made worktree with git; deleting its folder");
        }
        match tokio::fs::remove_dir_all(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(GitError::io("remove the half-made worktree", path, e))
            }
            _ => Ok(()),
        }
    }

    fn worktree_handle(&self, path: PathBuf, branch: &str) -> Worktree {
        Worktree::new(
            path,
            branch.to_owned(),
            self.path.clone(),
            self.identity.clone(),
        )
    }

    async fn list_worktrees(&self) -> Result<Vec<ListedWorktree>, GitError> {
        let out = Git::new(&self.path, ["worktree", "list", "--porcelain", "-z"])
            .run()
            .await?;
        Ok(parse_worktree_list(&out))
    }
}

/// One record of `git worktree list --porcelain -z`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListedWorktree {
    pub path: PathBuf,
    pub branch: Option<String>,
    pub locked: Option<String>,
}

pub(crate) fn parse_worktree_list(out: &[u8]) -> Vec<ListedWorktree> {
    let mut list = Vec::new();
    let mut current: Option<ListedWorktree> = None;
    for field in out.split(|&b| b == 0) {
        let field = String::from_utf8_lossy(field);
        if field.is_empty() {
            list.extend(current.take());
            continue;
        }
        let (key, value) = field.split_once(' ').unwrap_or((&field, ""));
        match key {
            "worktree" => {
                list.extend(current.take());
                current = Some(ListedWorktree {
                    path: PathBuf::from(value),
                    ..ListedWorktree::default()
                });
            }
            "branch" => {
                if let Some(c) = current.as_mut() {
                    c.branch = Some(value.to_owned());
                }
            }
            "locked" => {
                if let Some(c) = current.as_mut() {
                    c.locked = Some(value.to_owned());
                }
            }
            _ => {}
        }
    }
    list.extend(current);
    list
}

async fn dir_has_entries(path: &Path) -> Result<bool, GitError> {
    let mut entries = tokio::fs::read_dir(path)
        .await
        .map_err(|e| GitError::io("list the folder", path, e))?;
    Ok(entries
        .next_entry()
        .await
        .map_err(|e| GitError::io("list the folder", path, e))?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_list_is_parsed() {
        let out = b"worktree /m.git\0bare\0\0worktree /w 1\0HEAD abc\0branch refs/heads/x\0locked initializing\0\0worktree /d\0HEAD def\0detached\0\0";
        assert_eq!(
            parse_worktree_list(out),
            vec![
                ListedWorktree {
                    path: "/m.git".into(),
                    branch: None,
                    locked: None
                },
                ListedWorktree {
                    path: "/w 1".into(),
                    branch: Some("refs/heads/x".into()),
                    locked: Some("initializing".into())
                },
                ListedWorktree {
                    path: "/d".into(),
                    branch: None,
                    locked: None
                },
            ]
        );
    }
}
