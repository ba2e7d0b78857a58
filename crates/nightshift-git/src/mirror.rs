//! [`Mirror`]: a bare cached clone of one source repository, shared by every job on it.

use std::path::{Path, PathBuf};

use crate::command::{Git, Identity, failed, trim_line};
use crate::error::GitError;
use crate::lock::{lock_mirror, replace_generation};
use crate::rebuild;
use crate::refs::{BRANCH_PREFIX, natural_cmp, under_prefix};
use crate::trust::{self, record};
use crate::usage::disk_usage;

mod source;
mod worktrees;

pub(crate) use worktrees::parse_worktree_list;

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
    ///
    /// A mirror that git finds broken (a ref file holding garbage or naming a missing
    /// object, a corrupt `packed-refs`, a fetch that fails on missing history), or that
    /// was changed outside the factory (configuration, hooks or the factory's refs; see
    /// `trust`), is rebuilt from the source: cloned afresh, every factory ref and job branch whose history is
    /// intact carried over (what is dropped is logged, with why), its worktrees kept, and
    /// swapped into place atomically. [`GitError::Rebuild`] when that fails: the broken
    /// mirror is then left as it was.
    pub async fn ensure(cache_dir: &Path, source: &str) -> Result<Mirror, GitError> {
        let source = normalize_source(source)?;
        tokio::fs::create_dir_all(cache_dir)
            .await
            .map_err(|e| GitError::io("create the mirror cache folder", cache_dir, e))?;
        let cache = tokio::fs::canonicalize(cache_dir)
            .await
            .map_err(|e| GitError::io("resolve the mirror cache folder", cache_dir, e))?;
        let path = cache.join(mirror_dir_name(&source));
        // Exclusive: a rebuild swaps the mirror, worktree indexes included, and must not
        // do so while a commit is being staged in one of its worktrees.
        let _generation = replace_generation(&path).await;
        let _guard = lock_mirror(&path).await;
        rebuild::recover_swap(&path).await?;

        let mirror = Mirror {
            path,
            source,
            identity: Identity::default(),
        };
        if tokio::fs::try_exists(&mirror.path).await.unwrap_or(false) {
            mirror.check_bare().await?;
            mirror.refresh_or_rebuild(&cache).await?;
        } else {
            mirror.clone_fresh(&cache).await?;
        }
        Ok(mirror)
    }

    /// Open a mirror made earlier by [`Mirror::ensure`], without touching the network
    /// unless it was changed outside the factory: then it is rebuilt from its source, as
    /// [`Mirror::ensure`] would. Its source is the one the factory recorded; a mirror
    /// without a record must be named after the source its configuration gives.
    pub async fn open(path: &Path) -> Result<Mirror, GitError> {
        let path = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| GitError::NotARepository {
                path: path.to_owned(),
                detail: format!("{e}"),
            })?;
        let source = match record::load(&path).await? {
            Some(record) => record.source,
            None => {
                let out = Git::new(&path, ["config", "--get", "remote.origin.url"])
                    .plain()
                    .output()
                    .await?;
                trim_line(&out.stdout)
            }
        };
        let named = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if named.as_deref() != Some(mirror_dir_name(&source).as_str()) {
            return Err(GitError::NotARepository {
                path,
                detail: format!(
                    "its folder is not named after its source {source:?}, so nightshift did not make it; open it with Mirror::ensure and its source"
                ),
            });
        }
        let mirror = Mirror {
            source,
            path,
            identity: Identity::default(),
        };
        mirror.check_bare().await?;
        let _generation = replace_generation(&mirror.path).await;
        let _guard = lock_mirror(&mirror.path).await;
        mirror.rebuild_if_tampered().await?;
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

    /// What the mirror was cloned from: a canonical local path or the URL as given. Every
    /// fetch and push names it, never the mirror's `origin`, whose configuration the
    /// factory does not trust.
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

    /// Point the ref `name` (it must start with `refs/`) at `sha`.
    pub async fn update_ref(&self, name: &str, sha: &str) -> Result<(), GitError> {
        check_ref_name(name, &self.path)?;
        let _guard = lock_mirror(&self.path).await;
        let added = record::updating(&self.path, &[(name, sha)]).await?;
        let updated = Git::new(&self.path, ["update-ref", name, sha]).run().await;
        record::updated(&self.path, added, updated.is_ok()).await?;
        updated.map(drop)
    }

    /// Land a job's branch in the source repository: push `refs/heads/<branch>` to the
    /// mirror's source (never to a URL the mirror's configuration names), fast-forward
    /// only. A branch that moved on upstream (someone else's commits, an earlier shift of
    /// the same name) is refused, never overwritten: the error says so, and the work stays
    /// on the mirror's branch and refs. A mirror changed outside the factory is rebuilt
    /// from its source first (see `trust`).
    pub async fn push_branch(&self, branch: &str) -> Result<(), GitError> {
        let spec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let _generation = replace_generation(&self.path).await;
        let _guard = lock_mirror(&self.path).await;
        self.rebuild_if_tampered().await?;
        Git::new(
            &self.path,
            [
                "push",
                "--quiet",
                "--porcelain",
                self.source.as_str(),
                spec.as_str(),
            ],
        )
        .run()
        .await?;
        Ok(())
    }

    /// Push the factory's own branch to the source, replacing what the source has there
    /// only when that is the factory's own work: a branch the source lacks is created; one
    /// whose tip the factory's refs reach (an earlier run's push, a pull request being
    /// updated) is overwritten with a lease on that exact tip, so a push by anyone in
    /// between makes git refuse; one holding a commit the factory never made is refused
    /// here, never overwritten. Only `nightshift/…` branches are pushed this way.
    pub async fn push_own_branch(&self, branch: &str) -> Result<(), GitError> {
        if !branch.starts_with(&format!("{BRANCH_PREFIX}/")) {
            return Err(GitError::InvalidArgument {
                what: format!(
                    "refusing to force-push `{branch}`: only the factory's own `{BRANCH_PREFIX}/…` branches are pushed with a lease"
                ),
            });
        }
        let full = format!("refs/heads/{branch}");
        let listed = Git::new(
            &self.path,
            ["ls-remote", "--heads", self.source.as_str(), full.as_str()],
        )
        .text()
        .await?;
        let remote = listed.lines().find_map(|l| {
            l.split_once('\t')
                .filter(|(_, r)| *r == full)
                .map(|(s, _)| s.to_string())
        });
        let Some(remote) = remote else {
            return self.push_branch(branch).await;
        };
        if !self
            .is_reachable_from_refs(&remote, &["refs/nightshift"])
            .await?
        {
            return Err(GitError::InvalidArgument {
                what: format!(
                    "branch `{branch}` in {} holds commit {remote}, which the factory did not make; it is not overwritten. Delete the branch there, or change landing.branch",
                    self.source
                ),
            });
        }
        let lease = format!("--force-with-lease={full}:{remote}");
        let spec = format!("{full}:{full}");
        let _generation = replace_generation(&self.path).await;
        let _guard = lock_mirror(&self.path).await;
        self.rebuild_if_tampered().await?;
        Git::new(
            &self.path,
            [
                "push",
                "--quiet",
                "--porcelain",
                lease.as_str(),
                self.source.as_str(),
                spec.as_str(),
            ],
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

    async fn check_bare(&self) -> Result<(), GitError> {
        // Runs no program whatever is configured; a tampered configuration is the trust
        // check's to find, and rebuild.
        let out = Git::new(&self.path, ["rev-parse", "--is-bare-repository"])
            .despite_config()
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
                self.source.as_str(),
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
        let tmp = temp_path(cache, "tmp", &self.path);
        clone_bare(cache, &self.source, &tmp).await?;
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
        record::store(
            &self.path,
            &record::fresh(&self.path, &self.source, Vec::new()).await?,
        )
        .await?;
        tracing::info!(mirror = %self.path.display(), source = %self.source, "cloned a new mirror");
        Ok(())
    }

    /// Refresh, or rebuild the mirror from its source where git finds it broken (see
    /// `rebuild` for the checks and what is carried over).
    async fn refresh_or_rebuild(&self, cache: &Path) -> Result<(), GitError> {
        // A rebuilt mirror is a fresh clone: nothing to refresh.
        if self.rebuild_if_tampered().await? {
            return Ok(());
        }
        let broken = match rebuild::broken_refs(&self.path).await? {
            Some(why) => why,
            None => match self.refresh().await {
                Ok(()) => return Ok(()),
                Err(e) => match rebuild::broken_history(&self.path).await? {
                    Some(why) => why,
                    // Not the mirror: the source cannot be reached, say. A rebuild would
                    // fail the same way, or re-clone for a passing fault.
                    None => return Err(e),
                },
            },
        };
        // The factory's record knows where its refs were, broken files or not.
        let recorded = record::load(&self.path)
            .await?
            .filter(|r| r.source == self.source)
            .map(|r| r.latest_refs());
        rebuild::rebuild(cache, &self.path, &self.source, &broken, recorded).await
    }

    /// Rebuild the mirror from its source if it was changed outside the factory (see
    /// `trust`), restoring the factory's refs from its record; whether it was. Called with
    /// the mirror's locks held.
    async fn rebuild_if_tampered(&self) -> Result<bool, GitError> {
        let Some(tampered) = trust::check(&self.path, &self.source).await? else {
            return Ok(false);
        };
        tracing::warn!(mirror = %self.path.display(), found = %tampered.why, "The mirror was changed outside the factory; rebuilding it from its source");
        let cache = self.path.parent().unwrap_or(Path::new("/"));
        let why = format!("changed outside the factory: {}", tampered.why);
        rebuild::rebuild(cache, &self.path, &self.source, &why, tampered.refs).await?;
        Ok(true)
    }
}

/// A new, unused path in `cache` for a folder of `kind` beside the mirror at `mirror`,
/// hidden (a leading dot) so that it is never taken for a mirror.
pub(crate) fn temp_path(cache: &Path, kind: &str, mirror: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let file_name = mirror
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    cache.join(format!(
        ".{kind}-{}-{stamp}-{file_name}",
        std::process::id()
    ))
}

/// `git clone --bare source dest`; nothing is left at `dest` if it fails.
pub(crate) async fn clone_bare(cache: &Path, source: &str, dest: &Path) -> Result<(), GitError> {
    let args: [&std::ffi::OsStr; 6] = [
        "clone".as_ref(),
        "--bare".as_ref(),
        "--quiet".as_ref(),
        "--".as_ref(),
        source.as_ref(),
        dest.as_os_str(),
    ];
    let cloned = Git::new(cache, args).run().await;
    if cloned.is_err() {
        let _ = tokio::fs::remove_dir_all(dest).await;
    }
    cloned.map(|_| ())
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
