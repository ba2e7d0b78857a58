//! [`Mirror`]: a bare cached clone of one source repository, shared by every job on it.

use std::path::{Path, PathBuf};

use crate::command::{Git, Identity, failed, trim_line};
use crate::error::GitError;
use crate::lock::lock_mirror;
use crate::refs::{BRANCH_PREFIX, natural_cmp, under_prefix};
use crate::usage::disk_usage;
use crate::worktree::Worktree;

mod source;

use source::{mirror_dir_name, normalize_source};

/// A bare cached clone of one source repository (`<cache>/<name>-<8 hex>.git`).
#[derive(Debug, Clone)]
pub struct Mirror {
    path: PathBuf,
    source: String,
    identity: Identity,
}

impl Mirror {
    /// Create or refresh the mirror of `source` (a local path to a repository, or a git URL)
    /// under `cache_dir`, at `cache_dir/<name>-<8 hex of sha256(source)>.git`.
    ///
    /// The first call clones (`git clone --bare`, into a temporary folder renamed into place
    /// so an interrupted clone never looks like a mirror). Later calls fetch every upstream
    /// branch, pruning deleted ones — except the factory's own job branches
    /// (`nightshift/…`), which upstream does not have and a plain `fetch --prune` would
    /// delete — and then let `git gc --auto` run in the foreground.
    pub async fn ensure(cache_dir: &Path, source: &str) -> Result<Mirror, GitError> {
        let source = normalize_source(source)?;
        tokio::fs::create_dir_all(cache_dir)
            .await
            .map_err(|e| GitError::io("create the mirror cache folder", cache_dir, e))?;
        let cache = tokio::fs::canonicalize(cache_dir)
            .await
            .map_err(|e| GitError::io("resolve the mirror cache folder", cache_dir, e))?;
        let path = cache.join(mirror_dir_name(&source));
        let _guard = lock_mirror(&path).await;

        let mirror = Mirror {
            path,
            source,
            identity: Identity::default(),
        };
        if tokio::fs::try_exists(&mirror.path).await.unwrap_or(false) {
            mirror.check_existing().await?;
            mirror.refresh().await?;
        } else {
            mirror.clone_fresh(&cache).await?;
        }
        Ok(mirror)
    }

    /// Open a mirror made earlier by [`Mirror::ensure`], without touching the network.
    pub async fn open(path: &Path) -> Result<Mirror, GitError> {
        let path = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| GitError::NotARepository {
                path: path.to_owned(),
                detail: format!("{e}"),
            })?;
        let source = Git::new(&path, ["config", "--get", "remote.origin.url"])
            .plain()
            .output()
            .await?;
        let mirror = Mirror {
            source: trim_line(&source.stdout),
            path,
            identity: Identity::default(),
        };
        mirror.check_bare().await?;
        Ok(mirror)
    }

    /// The same mirror, committing as `identity` in the worktrees it makes from now on.
    pub fn with_identity(mut self, identity: Identity) -> Mirror {
        self.identity = identity;
        self
    }

    /// Who commits in this mirror's worktrees (`nightshift <nightshift@localhost>` unless set).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The mirror's folder (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the mirror was cloned from: a canonical local path or the URL as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The full sha of the commit `rev` names, or `None` when it names none.
    pub async fn resolve(&self, rev: &str) -> Result<Option<String>, GitError> {
        resolve_commit(&self.path, rev).await
    }

    /// The branch the mirror's `HEAD` points to (upstream's default branch at clone time).
    pub async fn default_branch(&self) -> Result<String, GitError> {
        let (out, args) = Git::new(&self.path, ["symbolic-ref", "--quiet", "--short", "HEAD"])
            .output_with_args()
            .await?;
        match out.status {
            0 => Ok(trim_line(&out.stdout)),
            1 => Err(GitError::NotARepository {
                path: self.path.clone(),
                detail: "its HEAD is detached, so it has no default branch; name the start branch explicitly".to_owned(),
            }),
            _ => Err(failed(args, &self.path, &out)),
        }
    }

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

    /// Point the ref `name` (it must start with `refs/`) at `sha`.
    pub async fn update_ref(&self, name: &str, sha: &str) -> Result<(), GitError> {
        check_ref_name(name, &self.path)?;
        let _guard = lock_mirror(&self.path).await;
        Git::new(&self.path, ["update-ref", name, sha])
            .run()
            .await?;
        Ok(())
    }

    /// Land a job's branch in the source repository: push `refs/heads/<branch>` to the
    /// mirror's origin, fast-forward only. A branch that moved on upstream (someone else's
    /// commits, an earlier shift of the same name) is refused, never overwritten: the error
    /// says so, and the work stays on the mirror's branch and refs.
    pub async fn push_branch(&self, branch: &str) -> Result<(), GitError> {
        let spec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let _guard = lock_mirror(&self.path).await;
        Git::new(
            &self.path,
            ["push", "--quiet", "--porcelain", "origin", spec.as_str()],
        )
        .run()
        .await?;
        Ok(())
    }

    /// The refs at or under `prefix` (whole components: `refs/x/a` lists `refs/x/a/1` but not
    /// `refs/x/ab/1`; empty lists every ref), as `(refname, sha)` in natural order of the
    /// name (`…/2` before `…/10`).
    pub async fn refs(&self, prefix: &str) -> Result<Vec<(String, String)>, GitError> {
        check_prefix(prefix, &self.path)?;
        let pattern = prefix.trim_end_matches('/');
        let mut args = vec!["for-each-ref", "--format=%(objectname) %(refname)"];
        if !pattern.is_empty() {
            args.push(pattern);
        }
        let out = Git::new(&self.path, &args).run().await?;
        let text = String::from_utf8_lossy(&out);
        let mut refs = Vec::new();
        for line in text.lines() {
            let Some((sha, name)) = line.split_once(' ') else {
                return Err(GitError::Output {
                    args: args.join(" "),
                    repo: self.path.clone(),
                    detail: format!("line {line:?} is not `<sha> <refname>`"),
                });
            };
            if under_prefix(name, pattern) {
                refs.push((name.to_owned(), sha.to_owned()));
            }
        }
        refs.sort_by(|a, b| natural_cmp(&a.0, &b.0));
        Ok(refs)
    }

    /// Whether the commit `sha` is reachable from any ref at or under one of `prefixes`
    /// (e.g. `["refs/heads", "refs/nightshift"]`). An unknown commit is not reachable.
    pub async fn is_reachable_from_refs(
        &self,
        sha: &str,
        prefixes: &[&str],
    ) -> Result<bool, GitError> {
        is_reachable(&self.path, sha, prefixes).await
    }

    /// Bytes the mirror takes on disk.
    pub async fn disk_usage(&self) -> Result<u64, GitError> {
        disk_usage(&self.path).await
    }

    fn worktree_handle(&self, path: PathBuf, branch: &str) -> Worktree {
        Worktree::new(
            path,
            branch.to_owned(),
            self.path.clone(),
            self.identity.clone(),
        )
    }

    async fn check_bare(&self) -> Result<(), GitError> {
        let out = Git::new(&self.path, ["rev-parse", "--is-bare-repository"])
            .output()
            .await?;
        if out.status != 0 || trim_line(&out.stdout) != "true" {
            return Err(GitError::NotARepository {
                path: self.path.clone(),
                detail: "it is not a bare repository; move it away so that the mirror can be cloned again".to_owned(),
            });
        }
        Ok(())
    }

    async fn check_existing(&self) -> Result<(), GitError> {
        self.check_bare().await?;
        let origin = Git::new(&self.path, ["config", "--get", "remote.origin.url"])
            .plain()
            .output()
            .await?;
        let found = trim_line(&origin.stdout);
        if found != self.source {
            return Err(GitError::SourceMismatch {
                path: self.path.clone(),
                expected: self.source.clone(),
                found,
            });
        }
        Ok(())
    }

    async fn refresh(&self) -> Result<(), GitError> {
        let keep = format!("^refs/heads/{BRANCH_PREFIX}/*");
        Git::new(
            &self.path,
            [
                "fetch",
                "--quiet",
                "--prune",
                "origin",
                "+refs/heads/*:refs/heads/*",
                keep.as_str(),
            ],
        )
        .run()
        .await?;
        Git::new(&self.path, ["gc", "--auto", "--quiet"])
            .config("gc.auto=6700")
            .config("gc.autoDetach=false")
            .config("maintenance.autoDetach=false")
            .run()
            .await?;
        tracing::info!(mirror = %self.path.display(), source = %self.source, "refreshed the mirror");
        Ok(())
    }

    async fn clone_fresh(&self, cache: &Path) -> Result<(), GitError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = cache.join(format!(".tmp-{}-{stamp}-{file_name}", std::process::id()));
        let args: [&std::ffi::OsStr; 6] = [
            "clone".as_ref(),
            "--bare".as_ref(),
            "--quiet".as_ref(),
            "--".as_ref(),
            self.source.as_ref(),
            tmp.as_os_str(),
        ];
        let cloned = Git::new(cache, args).run().await;
        if let Err(e) = cloned {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(e);
        }
        if let Err(e) = tokio::fs::rename(&tmp, &self.path).await {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            // Another process cloned the same source meanwhile: use its mirror.
            if tokio::fs::try_exists(&self.path).await.unwrap_or(false) {
                return self.check_existing().await;
            }
            return Err(GitError::io(
                "move the fresh clone into place at",
                &self.path,
                e,
            ));
        }
        tracing::info!(mirror = %self.path.display(), source = %self.source, "cloned a new mirror");
        Ok(())
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

/// The full sha of the commit `rev` names in the repository at `dir`, or `None`.
pub(crate) async fn resolve_commit(dir: &Path, rev: &str) -> Result<Option<String>, GitError> {
    if rev.is_empty() {
        return Ok(None);
    }
    let spec = format!("{rev}^{{commit}}");
    let (out, args) = Git::new(
        dir,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            spec.as_str(),
        ],
    )
    .output_with_args()
    .await?;
    match out.status {
        0 => Ok(Some(trim_line(&out.stdout))),
        1 => Ok(None),
        _ => Err(failed(args, dir, &out)),
    }
}

/// See [`Mirror::is_reachable_from_refs`]; runs in any folder of the repository.
pub(crate) async fn is_reachable(
    dir: &Path,
    sha: &str,
    prefixes: &[&str],
) -> Result<bool, GitError> {
    if prefixes.is_empty() {
        return Ok(false);
    }
    for prefix in prefixes {
        check_prefix(prefix, dir)?;
    }
    let Some(commit) = resolve_commit(dir, sha).await? else {
        return Ok(false);
    };
    let contains = format!("--contains={commit}");
    let mut args = vec![
        "for-each-ref",
        "--count=1",
        "--format=%(refname)",
        contains.as_str(),
    ];
    args.extend(prefixes.iter().map(|p| p.trim_end_matches('/')));
    let out = Git::new(dir, &args).run().await?;
    Ok(!trim_line(&out).is_empty())
}

fn check_prefix(prefix: &str, repo: &Path) -> Result<(), GitError> {
    if prefix.is_empty() || prefix == "refs" || prefix.starts_with("refs/") {
        Ok(())
    } else {
        Err(GitError::InvalidArgument {
            what: format!(
                "ref prefix {prefix:?} for {} must be empty or start with refs/ (e.g. refs/nightshift/<shift>/<job>)",
                repo.display()
            ),
        })
    }
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

/// Refuse a ref name that is not a full name under `refs/` (or could smuggle a second
/// command into an `update-ref --stdin` transaction).
pub(crate) fn check_ref_name(name: &str, repo: &Path) -> Result<(), GitError> {
    if !name.starts_with("refs/") || name.bytes().any(|b| b == 0 || b == b'\n') {
        return Err(GitError::InvalidArgument {
            what: format!(
                "refusing to update the ref {name:?} in {}: give a full name under refs/ (e.g. from iteration_ref)",
                repo.display()
            ),
        });
    }
    Ok(())
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
