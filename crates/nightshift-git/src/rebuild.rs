//! A broken mirror found by git's own checks and rebuilt from its source, with the
//! factory's refs carried over: the kept iterations of past shifts live nowhere else.
//!
//! Two checks, in order of cost. Before every refresh, one `for-each-ref` that reads every
//! ref and looks up the type of the object it names (milliseconds for thousands of refs):
//! it fails or warns on a ref file holding garbage, a ref naming a missing object and a
//! corrupt `packed-refs` — what a crash or an agent with write access to the mirror can
//! leave, and what makes every later fetch fail. When a refresh fails all the same,
//! `fsck --connectivity-only` tells a broken history from a source that cannot be reached
//! (network, credentials): only the first is cured by a rebuild, and re-cloning a big
//! repository for a passing network fault would cost minutes.
//!
//! A rebuild clones the source afresh beside the mirror and carries over every ref under
//! `refs/nightshift` and `refs/heads/nightshift` whose history is intact: they are fetched
//! from a salvage repository that borrows the objects of the old mirror and of the fresh
//! clone (alternates) and holds just those refs, so git itself checks every object it
//! copies. A ref is dropped only where git finds something
//! missing; any other failure to carry stops the rebuild with the old mirror untouched.
//! What is dropped is logged with the reason before anything is replaced. The worktrees'
//! administrative files are copied, then the new mirror is swapped into place in one
//! `renameat2(RENAME_EXCHANGE)`, and each worktree's index is reset to its `HEAD` (files
//! untouched): an index may name a staged object that only the old mirror had.

use std::future::Future;
use std::path::Path;

use crate::command::{Git, Output};
use crate::error::GitError;
use crate::mirror::{clone_bare, parse_worktree_list, temp_path};
use crate::refs::{REF_NAMESPACE, under_prefix};

mod salvage;
mod swap;

pub(crate) use swap::recover_swap;

/// A ref as `(name, object name)`.
type Ref = (String, String);

/// A factory ref that could not be carried into the rebuilt mirror, and why.
#[derive(Debug, PartialEq)]
pub(crate) struct Dropped {
    pub name: String,
    pub why: String,
}

/// The files of a worktree's administrative folder a rebuilt mirror needs: where the
/// worktree is, its branch, its index (stat data, so no file is re-read), and the lock
/// that marks a half-made one. Reflogs and the agent's leftovers (`ORIG_HEAD`, a rebase
/// in progress) may name objects that were not carried, and are left behind.
const WORKTREE_FILES: [&str; 5] = ["HEAD", "commondir", "gitdir", "index", "locked"];

/// What is wrong with the mirror's refs, if git finds anything: see the module docs.
pub(crate) async fn broken_refs(mirror: &Path) -> Result<Option<String>, GitError> {
    let out = Git::new(
        mirror,
        [
            "for-each-ref",
            "--format=%(objectname) %(objecttype) %(refname)",
        ],
    )
    .output()
    .await?;
    // A broken ref file is only a warning to git, which skips it: it counts here. Other
    // warnings (the user's own configuration, a deprecated key) say nothing about the
    // mirror and must not make it rebuild.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let about_refs = stderr.lines().any(is_broken_ref_line);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // `%(objecttype)` is empty for a ref whose object is missing.
    let missing = stdout
        .lines()
        .any(|l| l.split(' ').nth(1).is_some_and(str::is_empty));
    Ok((out.status != 0 || about_refs || missing).then(|| complaint(&out)))
}

/// Whether a line git wrote says one of the mirror's refs is broken (a ref file holding
/// garbage, a name for a missing object, a bad line of `packed-refs`).
fn is_broken_ref_line(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("broken ref")
        || l.contains("does not point to a valid object")
        || l.contains("bad object")
        || l.contains("packed-refs")
        || l.contains("badrefname")
        || (l.contains("ref") && l.contains("invalid"))
}

/// What is missing from the mirror's history, if git finds anything.
pub(crate) async fn broken_history(mirror: &Path) -> Result<Option<String>, GitError> {
    let out = Git::new(
        mirror,
        [
            "fsck",
            "--connectivity-only",
            "--no-dangling",
            "--no-progress",
        ],
    )
    .output()
    .await?;
    Ok((out.status != 0).then(|| complaint(&out)))
}

/// The first lines of what git said, as one line.
fn complaint(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut said = lines.iter().take(3).copied().collect::<Vec<_>>().join("; ");
    if lines.len() > 3 {
        said.push_str(&format!("; and {} more lines", lines.len() - 3));
    }
    if said.is_empty() {
        said = format!("git exited with status {} and said nothing", out.status);
    }
    said
}

/// Rebuild the mirror at `mirror` from `source`, which git found `broken` (or the trust
/// check found changed). The refs under `refs/nightshift` carried over are `recorded`, the
/// factory's own record of them, where there is one, else the old mirror's. Called with
/// the mirror's locks held (see `Mirror::ensure`). The new mirror's trust record is
/// written before this returns.
pub(crate) async fn rebuild(
    cache: &Path,
    mirror: &Path,
    source: &str,
    broken: &str,
    recorded: Option<Vec<Ref>>,
) -> Result<(), GitError> {
    tracing::warn!(mirror = %mirror.display(), broken, "The mirror is broken; rebuilding it from its source");
    let fresh = temp_path(cache, "rebuild", mirror);
    let salvage = temp_path(cache, "salvage", mirror);
    let prepared = prepare(cache, mirror, source, &fresh, &salvage, recorded).await;
    remove_quietly(&salvage).await;
    let failed = |source| GitError::Rebuild {
        path: mirror.to_owned(),
        broken: broken.to_owned(),
        source: Box::new(source),
    };
    let (carried, dropped) = match prepared {
        Ok(carried) => carried,
        Err(e) => {
            remove_quietly(&fresh).await;
            return Err(failed(e));
        }
    };
    for d in &dropped {
        tracing::warn!(mirror = %mirror.display(), r#ref = %d.name, why = %d.why, "Dropped a factory ref that the rebuilt mirror cannot keep");
    }
    let old = match swap::swap(&fresh, mirror).await {
        Ok(old) => old,
        Err(e) => {
            remove_quietly(&fresh).await;
            return Err(failed(e));
        }
    };
    remove_quietly(&old).await;
    reset_worktree_indexes(mirror).await;
    let kept = carried.len();
    crate::trust::record::store(
        mirror,
        &crate::trust::record::fresh(mirror, source, carried).await?,
    )
    .await?;
    tracing::info!(mirror = %mirror.display(), source, kept, dropped = dropped.len(), "Rebuilt the mirror from its source");
    Ok(())
}

/// Everything up to the swap: the fresh clone at `fresh`, with the factory's intact refs
/// (those under `refs/nightshift` from `recorded` where given) and the worktrees' files.
/// Returns the refs carried, and those dropped.
async fn prepare(
    cache: &Path,
    mirror: &Path,
    source: &str,
    fresh: &Path,
    salvage: &Path,
    recorded: Option<Vec<Ref>>,
) -> Result<(Vec<Ref>, Vec<Dropped>), GitError> {
    let (mut refs, mut dropped) = salvage::factory_refs(mirror).await?;
    if let Some(recorded) = recorded {
        let ours = |name: &str| under_prefix(name, REF_NAMESPACE);
        refs.retain(|(name, _)| !ours(name));
        dropped.retain(|d| !ours(&d.name));
        refs.extend(recorded);
    }
    clone_bare(cache, source, fresh).await?;
    let kept = carry(cache, mirror, fresh, salvage, refs, &mut dropped).await?;
    copy_worktrees(mirror, fresh).await?;
    Ok((kept, dropped))
}

/// Fetch `refs` from the old mirror into `fresh` through a salvage repository at
/// `salvage` that holds just them; returns those carried.
async fn carry(
    cache: &Path,
    old: &Path,
    fresh: &Path,
    salvage: &Path,
    refs: Vec<Ref>,
    dropped: &mut Vec<Dropped>,
) -> Result<Vec<Ref>, GitError> {
    if refs.is_empty() {
        return Ok(refs);
    }
    let args: [&std::ffi::OsStr; 4] = [
        "init".as_ref(),
        "--bare".as_ref(),
        "--quiet".as_ref(),
        salvage.as_os_str(),
    ];
    Git::new(cache, args).run().await?;
    // The documented alternates file: the salvage repository reads the old mirror's
    // objects without the old mirror's refs, which git may refuse to read at all, and
    // the fresh clone's, so that history shared with the source is whole even where the
    // old mirror lost some of it.
    let alternates = salvage.join("objects/info/alternates");
    let objects = format!(
        "{}\n{}\n",
        old.join("objects").display(),
        fresh.join("objects").display()
    );
    tokio::fs::write(&alternates, objects)
        .await
        .map_err(|e| GitError::io("write the salvage repository's alternates", &alternates, e))?;

    let refs = existing_commits(salvage, refs, dropped).await?;
    let refs = all_or_each(refs, dropped, |batch| async move {
        let mut transaction = String::new();
        for (name, sha) in &batch {
            transaction.push_str(&format!("update {name}\0{sha}\0\0"));
        }
        Git::new(salvage, ["update-ref", "--stdin", "-z"])
            .input(transaction.into_bytes())
            .run()
            .await
            .map(|_| ())
    })
    .await;
    let before = dropped.len();
    let salvage_arg = salvage.to_string_lossy().into_owned();
    let carried = all_or_each(refs, dropped, |batch| {
        let salvage_arg = salvage_arg.clone();
        async move {
            let mut args = vec![
                "fetch".to_owned(),
                "--quiet".to_owned(),
                "--no-tags".to_owned(),
                "--no-write-fetch-head".to_owned(),
                salvage_arg,
            ];
            args.extend(batch.iter().map(|(name, _)| format!("+{name}:{name}")));
            Git::new(fresh, &args).run().await.map(|_| ())
        }
    })
    .await;
    let unfetched = &dropped[before..];
    if !unfetched.is_empty() && !history_is_broken(salvage, unfetched).await? {
        // git refused to copy refs whose history is all there: not a broken ref but a
        // failing fetch (a full disk, say). Dropping them would lose work.
        return Err(GitError::NotARepository {
            path: old.to_owned(),
            detail: format!(
                "its ref {} could not be copied into the rebuilt mirror although nothing is missing from its history: {}",
                unfetched[0].name, unfetched[0].why
            ),
        });
    }
    Ok(carried)
}

/// Keep the refs whose object is a commit present in the repository at `salvage`.
async fn existing_commits(
    salvage: &Path,
    refs: Vec<Ref>,
    dropped: &mut Vec<Dropped>,
) -> Result<Vec<Ref>, GitError> {
    let input: String = refs.iter().map(|(_, sha)| format!("{sha}\n")).collect();
    let args = ["cat-file", "--batch-check=%(objectname) %(objecttype)"];
    let out = Git::new(salvage, args).input(input).run().await?;
    let text = String::from_utf8_lossy(&out);
    let answers: Vec<&str> = text.lines().collect();
    if answers.len() != refs.len() {
        return Err(GitError::Output {
            args: args.join(" "),
            repo: salvage.to_owned(),
            detail: format!("{} answers for {} objects", answers.len(), refs.len()),
        });
    }
    let mut kept = Vec::new();
    for ((name, sha), answer) in refs.into_iter().zip(answers) {
        match answer.rsplit_once(' ').map(|(_, kind)| kind) {
            Some("commit") => kept.push((name, sha)),
            Some("missing") => dropped.push(Dropped {
                name,
                why: format!("it names {sha}, which is missing from the mirror"),
            }),
            _ => dropped.push(Dropped {
                name,
                why: format!("it names {answer:?}, not a commit"),
            }),
        }
    }
    Ok(kept)
}

/// Whether git finds an object missing from the history of the refs in `unfetched`.
async fn history_is_broken(salvage: &Path, unfetched: &[Dropped]) -> Result<bool, GitError> {
    let mut args = vec![
        "rev-list",
        "--objects",
        "--missing=print",
        "--end-of-options",
    ];
    args.extend(unfetched.iter().map(|d| d.name.as_str()));
    let out = Git::new(salvage, &args).output().await?;
    // Older git stops at a missing commit instead of printing it.
    Ok(out.status != 0
        || out
            .stdout
            .split(|&b| b == b'\n')
            .any(|l| l.starts_with(b"?")))
}

/// Run `step` on all of `refs` at once; if git refuses, on each ref alone, dropping those
/// it refuses with git's reason. Returns the refs `step` succeeded for.
async fn all_or_each<F, Fut>(refs: Vec<Ref>, dropped: &mut Vec<Dropped>, step: F) -> Vec<Ref>
where
    F: Fn(Vec<Ref>) -> Fut,
    Fut: Future<Output = Result<(), GitError>>,
{
    if refs.is_empty() || step(refs.clone()).await.is_ok() {
        return refs;
    }
    let mut kept = Vec::new();
    for r in refs {
        match step(vec![r.clone()]).await {
            Ok(()) => kept.push(r),
            Err(e) => dropped.push(Dropped {
                name: r.0,
                why: match e {
                    GitError::Failed { stderr, .. } => stderr,
                    other => other.to_string(),
                },
            }),
        }
    }
    kept
}

/// Copy each worktree's [`WORKTREE_FILES`] from the old mirror into `fresh`.
async fn copy_worktrees(old: &Path, fresh: &Path) -> Result<(), GitError> {
    let from = old.join("worktrees");
    let mut entries = match tokio::fs::read_dir(&from).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(GitError::io("list the worktrees of", &from, e)),
    };
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| GitError::io("list the worktrees of", &from, e))?
    {
        if !entry.file_type().await.is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let to = fresh.join("worktrees").join(entry.file_name());
        tokio::fs::create_dir_all(&to)
            .await
            .map_err(|e| GitError::io("create the worktree folder", &to, e))?;
        for file in WORKTREE_FILES {
            match tokio::fs::copy(entry.path().join(file), to.join(file)).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(GitError::io(
                        "copy the worktree file",
                        entry.path().join(file),
                        e,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Reset the index of every worktree of the rebuilt mirror to its `HEAD`, keeping the
/// stat data of unchanged entries (`git reset`, mixed): the files are not touched.
async fn reset_worktree_indexes(mirror: &Path) {
    let listed = match Git::new(mirror, ["worktree", "list", "--porcelain", "-z"])
        .run()
        .await
    {
        Ok(out) => parse_worktree_list(&out),
        Err(e) => {
            tracing::warn!(mirror = %mirror.display(), error = %e, "Could not list the rebuilt mirror's worktrees");
            return;
        }
    };
    for entry in listed {
        // The first record is the bare mirror itself; a half-made worktree is made again
        // by `Mirror::worktree`.
        let half_made = entry.locked.as_deref() == Some("initializing");
        if entry.path == mirror || half_made {
            continue;
        }
        if !tokio::fs::try_exists(&entry.path).await.unwrap_or(false) {
            continue;
        }
        if let Ok(out) = Git::new(&entry.path, ["reset", "--quiet"]).output().await
            && out.status != 0
        {
            tracing::warn!(worktree = %entry.path.display(), said = %complaint(&out), "Could not reset the worktree's index to its HEAD after the rebuild");
        }
    }
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_dir_all(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), error = %e, "Could not remove a folder left by a mirror rebuild");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::is_broken_ref_line;

    #[test]
    fn only_what_git_says_of_refs_counts_as_broken() {
        for broken in [
            "warning: ignoring broken ref refs/nightshift/s/j/1",
            "error: refs/heads/x does not point to a valid object!",
            "fatal: bad object refs/heads/main",
            "fatal: unexpected line in .git/packed-refs: garbage",
        ] {
            assert!(is_broken_ref_line(broken), "{broken}");
        }
        for unrelated in [
            "warning: unable to access '/home/u/.config/git/attributes': Permission denied",
            "warning: core.fsmonitor is deprecated",
            "hint: use --quiet to silence this",
        ] {
            assert!(!is_broken_ref_line(unrelated), "{unrelated}");
        }
    }
}
