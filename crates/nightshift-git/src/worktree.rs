//! [`Worktree`]: one job's checkout of a mirror, on the job's branch.

use std::path::{Path, PathBuf};

use crate::command::{Git, Identity, failed, trim_line};
use crate::error::GitError;
use crate::lock::{hold_generation, lock_mirror};
use crate::mirror::{is_reachable, resolve_commit};
use crate::usage::disk_usage;

/// Where removing a worktree requires its `HEAD` to be kept.
const KEEPING_PREFIXES: &[&str] = &["refs/heads", crate::refs::REF_NAMESPACE];

/// The index size (about 600 files) above which a fresh checkout's index is settled
/// (see [`Worktree::settle_index`]).
const SETTLE_INDEX_BYTES: u64 = 64 * 1024;

/// How many changed paths an error message names.
const NAMED_PATHS: usize = 5;

/// A git worktree of a [`Mirror`](crate::Mirror), checked out on its own branch.
#[derive(Debug)]
pub struct Worktree {
    path: PathBuf,
    branch: String,
    mirror: PathBuf,
    identity: Identity,
}

impl Worktree {
    pub(crate) fn new(path: PathBuf, branch: String, mirror: PathBuf, identity: Identity) -> Self {
        Worktree {
            path,
            branch,
            mirror,
            identity,
        }
    }

    /// The worktree's folder (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The branch it works on, e.g. `nightshift/<shift>/<job>`.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The mirror it belongs to.
    pub fn mirror_path(&self) -> &Path {
        &self.mirror
    }

    /// Commit as `identity` from now on.
    pub fn with_identity(mut self, identity: Identity) -> Worktree {
        self.identity = identity;
        self
    }

    /// The full sha of `HEAD`.
    pub async fn head(&self) -> Result<String, GitError> {
        Git::new(&self.path, ["rev-parse", "--verify", "HEAD"])
            .text()
            .await
    }

    /// Stage everything (`git add -A`, respecting `.gitignore`) and commit on the worktree's
    /// branch with `message` (kept as given, `#` lines included), even when nothing changed.
    /// No hook runs and nothing is signed, whatever the repository configures. If the agent
    /// left `HEAD` on another branch or detached, `HEAD` is first pointed back at the job's
    /// branch (the files stay as they are), so the commit always lands on the job's branch.
    /// Returns the new commit's sha.
    pub async fn commit_all(&self, message: &str) -> Result<String, GitError> {
        self.commit_and_keep(message, None).await
    }

    /// Like [`Worktree::commit_all`], and point `keep_ref` (a full name under `refs/`,
    /// such as an iteration ref) at the new commit in the same ref transaction as the
    /// branch: both move, or neither does.
    pub async fn commit_and_keep(
        &self,
        message: &str,
        keep_ref: Option<&str>,
    ) -> Result<String, GitError> {
        if let Some(name) = keep_ref {
            crate::mirror::check_ref_name(name, &self.mirror)?;
        }
        // Held across staging and commit so that a mirror rebuilt meanwhile (see
        // `Mirror::ensure`) cannot swap this worktree's index from under a `git add`.
        let _generation = hold_generation(&self.mirror).await;
        // Staging touches only this worktree's index and writes objects atomically: it
        // needs no lock, which keeps the mirror free while a big tree is hashed.
        Git::new(&self.path, ["add", "--all"]).run().await?;
        let _guard = lock_mirror(&self.mirror).await;
        self.reattach().await?;
        // `write-tree` + `commit-tree` + `update-ref` rather than `git commit`: the same
        // commit without re-reading every file for a status summary — about half the
        // time on a 10,000-file tree. No hook can run on this path.
        let tree = Git::new(&self.path, ["write-tree"]).text().await?;
        let sha = Git::new(
            &self.path,
            ["commit-tree", tree.as_str(), "-p", "HEAD", "-F", "-"],
        )
        .identity(&self.identity)
        .input(cleanup_message(message).into_bytes())
        .text()
        .await?;
        // One `update-ref --stdin` transaction for the branch and the kept ref: one
        // process, and no state where one moved without the other.
        let mut transaction = format!("update refs/heads/{}\0{sha}\0\0", self.branch);
        if let Some(name) = keep_ref {
            transaction.push_str(&format!("update {name}\0{sha}\0\0"));
        }
        // The kept ref is recorded ahead, so the mirror's next trust check knows it as
        // the factory's (see `trust`).
        let keep: Vec<(&str, &str)> = keep_ref.iter().map(|name| (*name, sha.as_str())).collect();
        let added = crate::trust::record::updating(&self.mirror, &keep).await?;
        let updated = Git::new(
            &self.path,
            ["update-ref", "-m", "nightshift: iteration", "--stdin", "-z"],
        )
        .input(transaction.into_bytes())
        .run()
        .await;
        crate::trust::record::updated(&self.mirror, added, updated.is_ok()).await?;
        updated?;
        tracing::debug!(worktree = %self.path.display(), branch = %self.branch, sha, "committed");
        Ok(sha)
    }

    /// Put `paths` in the working tree as they are at `rev` (`git restore --source`), the
    /// index and the branch untouched. git writes each file afresh: a symbolic link at a
    /// path (or above it) is replaced, never followed, so nothing is written outside the
    /// worktree. A path `rev` does not have is an error.
    pub async fn restore_from(&self, rev: &str, paths: &[&str]) -> Result<(), GitError> {
        let mut args = vec!["restore", "--source", rev, "--worktree", "--"];
        args.extend(paths);
        Git::new(&self.path, &args).run().await.map(drop)
    }

    /// Move the branch and the files back to `sha` (`git reset --hard`, then
    /// `git clean -ffd`: untracked files and nested repositories go, ignored files such as
    /// build caches stay), e.g. after a rejected iteration.
    pub async fn reset_to(&self, sha: &str) -> Result<(), GitError> {
        // A full object name needs no lookup (an unknown one fails in `reset` itself).
        let commit = if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            sha.to_owned()
        } else {
            resolve_commit(&self.path, sha)
                .await?
                .ok_or_else(|| GitError::UnknownRevision {
                    repo: self.path.clone(),
                    rev: sha.to_owned(),
                })?
        };
        let _guard = lock_mirror(&self.mirror).await;
        self.reattach().await?;
        Git::new(&self.path, ["reset", "--hard", "--quiet", commit.as_str()])
            .run()
            .await
            .map_err(|e| match e {
                GitError::Failed { ref stderr, .. }
                    if stderr.contains("Could not parse object") =>
                {
                    GitError::UnknownRevision {
                        repo: self.path.clone(),
                        rev: sha.to_owned(),
                    }
                }
                other => other,
            })?;
        Git::new(&self.path, ["clean", "-ffd", "--quiet"])
            .run()
            .await?;
        tracing::debug!(worktree = %self.path.display(), branch = %self.branch, sha = commit, "reset");
        Ok(())
    }

    /// Whether nothing is modified, staged or untracked (ignored files do not count).
    pub async fn is_clean(&self) -> Result<bool, GitError> {
        Ok(self.dirty_paths().await?.is_empty())
    }

    /// The value of `key` as git sees it in this worktree (the repository's and the user's
    /// configuration, none of the factory's overrides), e.g. `core.hooksPath` as the agent
    /// may have set it. Note that `git config` in a worktree writes the mirror's shared
    /// configuration, so such a setting shows in every worktree of the mirror.
    pub async fn config_get(&self, key: &str) -> Result<Option<String>, GitError> {
        if key.is_empty() || key.starts_with('-') {
            return Err(GitError::InvalidArgument {
                what: format!("{key:?} is not a git configuration key (like core.hooksPath)"),
            });
        }
        let (out, args) = Git::new(&self.path, ["config", "--get", key])
            .plain()
            .output_with_args()
            .await?;
        match out.status {
            0 => Ok(Some(trim_line(&out.stdout))),
            1 => Ok(None),
            _ => Err(failed(args, &self.path, &out)),
        }
    }

    /// Bytes under the worktree, ignored files (build caches) included.
    pub async fn disk_usage(&self) -> Result<u64, GitError> {
        disk_usage(&self.path).await
    }

    /// Delete every untracked file, ignored ones included (`git clean -ffdx`): what a
    /// worker left past the disk limit, before anything is committed.
    pub async fn remove_untracked(&self) -> Result<(), GitError> {
        let _guard = lock_mirror(&self.mirror).await;
        Git::new(&self.path, ["clean", "-ffdx", "--quiet"])
            .run()
            .await?;
        Ok(())
    }

    /// Remove the worktree (its branch stays). Refuses with [`GitError::WouldLoseWork`] if
    /// it has uncommitted changes or untracked files, or if its `HEAD` is not reachable from
    /// any ref under `refs/heads` or `refs/nightshift` (see [`Worktree::check_removable`] to
    /// ask without giving the handle up). A worktree whose folder is already gone is just
    /// forgotten.
    pub async fn remove(self) -> Result<(), GitError> {
        let _guard = lock_mirror(&self.mirror).await;
        if !tokio::fs::try_exists(&self.path).await.unwrap_or(false) {
            Git::new(&self.mirror, ["worktree", "prune"]).run().await?;
            tracing::info!(worktree = %self.path.display(), "forgot a worktree whose folder was already gone");
            return Ok(());
        }
        // Checked under the lock, so no commit or reset of ours slips in between.
        self.removable().await?;
        let args: [&std::ffi::OsStr; 3] = [
            "worktree".as_ref(),
            "remove".as_ref(),
            self.path.as_os_str(),
        ];
        Git::new(&self.mirror, args).run().await?;
        tracing::info!(worktree = %self.path.display(), branch = %self.branch, "removed the worktree");
        Ok(())
    }

    /// Whether [`Worktree::remove`] would go ahead: `Ok(())`, or the
    /// [`GitError::WouldLoseWork`] it would refuse with.
    pub async fn check_removable(&self) -> Result<(), GitError> {
        let _guard = lock_mirror(&self.mirror).await;
        self.removable().await
    }

    async fn removable(&self) -> Result<(), GitError> {
        let dirty = self.dirty_paths().await?;
        if !dirty.is_empty() {
            let mut named = dirty
                .iter()
                .take(NAMED_PATHS)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if dirty.len() > NAMED_PATHS {
                named.push_str(&format!(" and {} more", dirty.len() - NAMED_PATHS));
            }
            return Err(GitError::WouldLoseWork {
                path: self.path.clone(),
                reason: format!(
                    "it has uncommitted changes ({named}); commit them (commit_all) or reset the worktree first"
                ),
            });
        }
        let out = Git::new(&self.path, ["rev-parse", "--verify", "HEAD"])
            .output()
            .await?;
        if out.status != 0 {
            return Err(GitError::WouldLoseWork {
                path: self.path.clone(),
                reason:
                    "its HEAD does not name a commit (was its branch deleted?); inspect it by hand"
                        .to_owned(),
            });
        }
        let head = trim_line(&out.stdout);
        if !is_reachable(&self.path, &head, KEEPING_PREFIXES).await? {
            return Err(GitError::WouldLoseWork {
                path: self.path.clone(),
                reason: format!(
                    "its HEAD {head} is not reachable from any ref under refs/heads or refs/nightshift; keep it with update_ref (e.g. an iteration ref) first"
                ),
            });
        }
        Ok(())
    }

    /// Paths `git status` reports as modified, staged or untracked.
    async fn dirty_paths(&self) -> Result<Vec<String>, GitError> {
        let out = Git::new(
            &self.path,
            ["status", "--porcelain=v1", "-z", "--untracked-files=normal"],
        )
        .run()
        .await?;
        let mut paths = Vec::new();
        let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
        while let Some(field) = fields.next() {
            let text = String::from_utf8_lossy(field);
            let status = text.get(..2).unwrap_or("");
            paths.push(text.get(3..).unwrap_or("").to_owned());
            if status.starts_with('R') || status.starts_with('C') {
                // A rename's source path follows as its own field.
                fields.next();
            }
        }
        Ok(paths)
    }

    /// Make a fresh checkout's index trustworthy by its file times. git records times to
    /// the second here: a file written in the same second as the index that lists it is
    /// "racily clean", and every later index write re-reads all such files to tell (80 ms
    /// per write on a 10,000-file tree, for as long as the factory keeps writing the index
    /// in that state). Waiting for the next second and refreshing once settles it.
    pub(crate) async fn settle_index(&self) -> Result<(), GitError> {
        let index = match self.admin_dir().await {
            Some(dir) => dir.join("index"),
            None => return Ok(()),
        };
        let Ok(meta) = tokio::fs::metadata(&index).await else {
            return Ok(());
        };
        // A small index costs little to re-read: not worth waiting a second for.
        if meta.len() < SETTLE_INDEX_BYTES {
            return Ok(());
        }
        let Ok(written) = meta.modified() else {
            return Ok(());
        };
        let second_after = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| std::time::Duration::from_secs(d.as_secs() + 1))
                .unwrap_or_default()
        };
        let wait_until = second_after(written);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if let Some(wait) = wait_until.checked_sub(now) {
            tokio::time::sleep(wait + std::time::Duration::from_millis(5)).await;
        }
        // Exit status 1 means "some files need updating": nothing to act on here.
        Git::new(&self.path, ["update-index", "-q", "--refresh"])
            .output()
            .await?;
        Ok(())
    }

    /// This worktree's administrative folder (`<mirror>/worktrees/<name>`), from its `.git`
    /// file.
    async fn admin_dir(&self) -> Option<PathBuf> {
        let dotgit = tokio::fs::read_to_string(self.path.join(".git"))
            .await
            .ok()?;
        // Relative (`worktree.useRelativePaths`) or absolute.
        dotgit
            .trim()
            .strip_prefix("gitdir: ")
            .map(|dir| self.path.join(dir))
    }

    /// Point `HEAD` back at the job's branch if something moved it (files untouched).
    /// Called with the mirror lock held.
    async fn reattach(&self) -> Result<(), GitError> {
        let want = format!("refs/heads/{}", self.branch);
        // Fast path, no process: the worktree's `.git` file names its administrative folder,
        // whose `HEAD` says `ref: refs/heads/<branch>` when all is well.
        if let Some(dir) = self.admin_dir().await
            && let Ok(head) = tokio::fs::read_to_string(dir.join("HEAD")).await
            && head.trim() == format!("ref: {want}")
        {
            return Ok(());
        }
        let out = Git::new(&self.path, ["symbolic-ref", "--quiet", "HEAD"])
            .output()
            .await?;
        let on = trim_line(&out.stdout);
        if out.status == 0 && on == want {
            return Ok(());
        }
        tracing::warn!(
            worktree = %self.path.display(),
            found = if out.status == 0 { on.as_str() } else { "a detached HEAD" },
            branch = %self.branch,
            "HEAD left the job's branch; pointing it back"
        );
        Git::new(&self.path, ["symbolic-ref", "HEAD", want.as_str()])
            .run()
            .await?;
        Ok(())
    }

    /// Remove the lock files a killed git left in this worktree's administrative folder
    /// and on its branch. Called on resume, with the mirror lock held: the worktree belongs
    /// to one job, so no other git is working in it.
    pub(crate) async fn clear_stale_locks(&self) -> Result<(), GitError> {
        let git_dir = PathBuf::from(
            Git::new(&self.path, ["rev-parse", "--absolute-git-dir"])
                .text()
                .await?,
        );
        let candidates = [
            git_dir.join("index.lock"),
            git_dir.join("HEAD.lock"),
            self.mirror
                .join("refs/heads")
                .join(format!("{}.lock", self.branch)),
        ];
        for lock in candidates {
            match tokio::fs::remove_file(&lock).await {
                Ok(()) => {
                    tracing::warn!(lock = %lock.display(), "removed a stale lock file left by an interrupted git command");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(GitError::io("remove the stale lock file", lock, e)),
            }
        }
        Ok(())
    }
}

/// What `git commit --cleanup=whitespace` makes of a message: no trailing whitespace on
/// lines, no blank lines at either end, one final newline (`#` lines kept).
fn cleanup_message(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim_end).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    let mut out = String::new();
    let mut blank = false;
    for l in &lines[start..end] {
        if l.is_empty() {
            blank = true;
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}
