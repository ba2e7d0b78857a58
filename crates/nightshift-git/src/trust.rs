//! The factory never trusts what a mirror's own files say: an agent (or a repository's
//! tests, run as gates) with write access to the mirror could otherwise turn the factory's
//! git against it.
//!
//! Three layers, each sound without the others:
//!
//! 1. **Every git call** is hardened (`command`): `-c` overrides for each command-running
//!    key that has a fixed name, and a refusal ([`GitError::Untrusted`]) when the
//!    repository's own configuration sets one that no override can reach — a filter
//!    driver, a remote's upload-pack, a URL rewrite, an include (see [`keys`] for the whole
//!    list and why each is there). A worktree's `.git` file and `commondir` are followed
//!    as git follows them, so the files checked are the files git reads.
//! 2. **No transfer goes through a remote's name**: fetches and pushes name the source the
//!    mirror was made for (`Mirror::source`, from the spec) as a URL with explicit
//!    refspecs, so `remote.origin.pushurl`, `remote.origin.uploadpack` and their kind are
//!    never consulted, whatever the mirror's configuration holds.
//! 3. **Before the factory uses a mirror** (`Mirror::ensure`, `Mirror::open`, each refresh
//!    and push) [`check`] compares it with what the factory itself wrote: every
//!    configuration key must be on the allow-list of what `git clone --bare` writes (with
//!    `remote.origin.url` the source) or in the record of the fresh clone; no
//!    `config.worktree` may hold anything, no `commondir` may redirect the mirror, no file
//!    in `hooks/` may be other than git's samples and what the fresh clone had; and the
//!    refs under `refs/nightshift` must be where the factory's record says. Anything else
//!    means the mirror was changed outside the factory: it is rebuilt from its source (see
//!    `rebuild`), the factory's refs restored from the record, and a warning names what
//!    was found.
//!
//! The record ([`record`]) lives beside the mirror, not in it, and is written by the
//! factory after each clone and rebuild and ahead of each of its own ref updates. Job
//! branches are not in it: an agent may commit on its own branch, and the factory resets
//! the branch to the accepted commit after every verdict. A mirror without a record (made
//! before records existed, or whose record was lost) is taken as it is once, with a
//! warning: its configuration must still pass the allow-list. Without a sandbox, an agent
//! that can write the record can forge it along with the refs; the record stops what
//! reaches the mirror alone (a git command in the worktree, a mirror lent read-write).

use std::path::Path;

use crate::error::GitError;

pub(crate) mod keys;
pub(crate) mod record;

/// Configuration keys `git clone --bare` (or `git worktree add`) writes, which the factory
/// accepts in a mirror; `remote.origin.url` is accepted only as the mirror's source.
const ALLOWED: &[(&str, Option<&str>)] = &[
    ("core.repositoryformatversion", None),
    ("core.filemode", None),
    ("core.bare", Some("true")),
    ("core.logallrefupdates", None),
    ("core.ignorecase", None),
    ("core.precomposeunicode", None),
    ("core.symlinks", None),
    ("extensions.objectformat", None),
    ("extensions.refstorage", None),
    ("extensions.relativeworktrees", None),
];

/// Whether the allow-list accepts `key = value` in the configuration of a mirror of
/// `source` (keys as `git config --list` prints them).
pub(crate) fn allowed(key: &str, value: &str, source: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key == "remote.origin.url" {
        return value == source;
    }
    ALLOWED
        .iter()
        .any(|(k, v)| *k == key && v.is_none_or(|v| v == value))
}

/// How a mirror was found changed outside the factory.
#[derive(Debug)]
pub(crate) struct Tampered {
    /// What was found, one clause naming the key, file or ref.
    pub why: String,
    /// The factory's refs as its record has them, to restore; `None` without a record.
    pub refs: Option<Vec<(String, String)>>,
}

/// Whether the mirror at `mirror`, made from `source`, holds anything the factory did not
/// write (see the module docs). A mirror without a record is recorded as it is.
pub(crate) async fn check(mirror: &Path, source: &str) -> Result<Option<Tampered>, GitError> {
    let record = record::load(mirror).await?.filter(|r| r.source == source);
    let restore = record.as_ref().map(record::Record::latest_refs);
    let tampered = |why: String| {
        Ok(Some(Tampered {
            why,
            refs: restore.clone(),
        }))
    };
    if let Some(why) = files_changed(mirror, source, record.as_ref()).await? {
        return tampered(why);
    }
    let Some(current) = record::current_refs(mirror).await? else {
        return Ok(None);
    };
    let Some(record) = record else {
        tracing::warn!(mirror = %mirror.display(), refs = current.len(), "The mirror has no trust record; taking its refs as the factory's");
        let mut adopted = record::fresh(mirror, source, current).await?;
        // Only what passed the allow-list: nothing beyond it is taken as git's own.
        adopted.config.clear();
        adopted.hooks.clear();
        record::store(mirror, &adopted).await?;
        return Ok(None);
    };
    if let Some(why) = refs_moved(&record.refs, &current) {
        return tampered(why);
    }
    Ok(None)
}

/// What in the mirror's configuration, `config.worktree` files, `commondir` or hooks the
/// factory did not write.
async fn files_changed(
    mirror: &Path,
    source: &str,
    record: Option<&record::Record>,
) -> Result<Option<String>, GitError> {
    if tokio::fs::try_exists(mirror.join("commondir"))
        .await
        .unwrap_or(false)
    {
        return Ok(Some(
            "it has a `commondir` file, which points git at another repository".to_owned(),
        ));
    }
    for (key, value) in keys::config_keys(&mirror.join("config")).await? {
        let recorded = record.is_some_and(|r| r.config.contains(&(key.clone(), value.clone())));
        if !allowed(&key, &value, source) && !recorded {
            let why =
                keys::command_key(&key).map_or(String::new(), |k| format!(", which {}", k.why));
            return Ok(Some(format!("its configuration sets `{key}`{why}")));
        }
    }
    for file in worktree_configs(mirror).await? {
        if let Some((key, _)) = keys::config_keys(&file).await?.into_iter().next() {
            return Ok(Some(format!("{} sets `{key}`", file.display())));
        }
    }
    let recorded_hooks = record.map_or(&[][..], |r| r.hooks.as_slice());
    for hook in record::hook_files(mirror).await? {
        if !recorded_hooks.contains(&hook) {
            return Ok(Some(format!(
                "it has a hook `hooks/{}` that git did not write there",
                hook.1
            )));
        }
    }
    Ok(None)
}

/// The `config.worktree` files of the mirror and of each of its worktrees.
async fn worktree_configs(mirror: &Path) -> Result<Vec<std::path::PathBuf>, GitError> {
    let mut files = vec![mirror.join("config.worktree")];
    let dir = mirror.join("worktrees");
    if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| GitError::io("list the worktrees of", &dir, e))?
        {
            files.push(entry.path().join("config.worktree"));
        }
    }
    let mut existing = Vec::new();
    for file in files {
        if tokio::fs::try_exists(&file).await.unwrap_or(false) {
            existing.push(file);
        }
    }
    Ok(existing)
}

/// The first difference between the recorded refs and the mirror's, if any.
fn refs_moved(recorded: &[(String, String)], current: &[(String, String)]) -> Option<String> {
    for (name, sha) in current {
        if recorded.contains(&(name.clone(), sha.clone())) {
            continue;
        }
        return Some(match recorded.iter().rev().find(|(n, _)| n == name) {
            Some((_, was)) => {
                format!("the ref {name} was moved from {was} to {sha} outside the factory")
            }
            None => format!("the ref {name} (at {sha}) was made outside the factory"),
        });
    }
    recorded
        .iter()
        .find(|(name, _)| !current.iter().any(|(n, _)| n == name))
        .map(|(name, sha)| format!("the ref {name} (at {sha}) was deleted outside the factory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_takes_what_a_bare_clone_writes_and_nothing_else() {
        assert!(allowed("core.bare", "true", "/s"));
        assert!(!allowed("core.bare", "false", "/s"));
        assert!(allowed("remote.origin.url", "/s", "/s"));
        assert!(!allowed("remote.origin.url", "/elsewhere", "/s"));
        assert!(!allowed("remote.origin.pushurl", "/s", "/s"));
        assert!(!allowed("user.name", "x", "/s"));
    }

    #[test]
    fn refs_are_compared_both_ways() {
        let r = |n: &str, s: &str| (n.to_owned(), s.to_owned());
        let recorded = [
            r("refs/nightshift/a", "1"),
            r("refs/nightshift/a", "2"),
            r("refs/nightshift/b", "3"),
        ];
        assert_eq!(
            refs_moved(
                &recorded,
                &[r("refs/nightshift/a", "2"), r("refs/nightshift/b", "3")]
            ),
            None
        );
        assert_eq!(
            refs_moved(
                &recorded,
                &[r("refs/nightshift/a", "1"), r("refs/nightshift/b", "3")]
            ),
            None
        );
        assert_eq!(
            refs_moved(
                &recorded,
                &[r("refs/nightshift/a", "9"), r("refs/nightshift/b", "3")]
            )
            .as_deref(),
            Some("the ref refs/nightshift/a was moved from 2 to 9 outside the factory")
        );
        assert_eq!(
            refs_moved(&recorded, &[r("refs/nightshift/a", "2")]).as_deref(),
            Some("the ref refs/nightshift/b (at 3) was deleted outside the factory")
        );
    }
}
