//! The factory's record of a mirror: what it was cloned from, what git itself wrote in its
//! configuration and hooks at clone time, and where each of the factory's refs points.
//!
//! One text file per mirror, `<cache>/.nightshift-trust/<mirror folder name>`: beside the
//! mirror, not in it, so that no git command run in a worktree can reach it and a sandbox
//! that lends the agent the mirror (read-only) need not lend it the record. It is written
//! whole (a temporary file renamed into place) under the mirror's write lock, like every
//! other write to the mirror. A ref update is recorded ahead: the new value is added before
//! `update-ref` runs and the old one dropped after, so a factory killed in between finds a
//! value it wrote either way, never a ref it must call foreign.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::command::Git;
use crate::error::GitError;
use crate::refs::{REF_NAMESPACE, under_prefix};

/// The folder of the cache the records live in; hidden, so it is never taken for a mirror.
pub(crate) const RECORDS_DIR: &str = ".nightshift-trust";

/// The first line of every record.
const HEADER: &str =
    "# nightshift trust record 1: written by the factory, see nightshift-git's trust module";

/// What the factory knows a mirror should hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Record {
    pub source: String,
    /// Configuration entries of the fresh clone outside the allow-list (what the user's own
    /// git wrote there, from their templates say), as `(key, value)`.
    pub config: Vec<(String, String)>,
    /// Files the fresh clone's `hooks/` held besides git's samples, as `(sha256, name)`.
    pub hooks: Vec<(String, String)>,
    /// Accepted values of the refs under [`REF_NAMESPACE`], as `(name, sha)`; a name appears
    /// twice while an update is in flight.
    pub refs: Vec<(String, String)>,
}

impl Record {
    /// The refs as they should be: the newest value of each name.
    pub fn latest_refs(&self) -> Vec<(String, String)> {
        let mut latest: Vec<(String, String)> = Vec::new();
        for (name, sha) in &self.refs {
            match latest.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = sha.clone(),
                None => latest.push((name.clone(), sha.clone())),
            }
        }
        latest
    }

    fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\nsource {}\n", hex::encode(&self.source));
        for (key, value) in &self.config {
            text.push_str(&format!(
                "config {} {}\n",
                hex::encode(key),
                hex::encode(value)
            ));
        }
        for (digest, name) in &self.hooks {
            text.push_str(&format!("hook {digest} {}\n", hex::encode(name)));
        }
        for (name, sha) in &self.refs {
            text.push_str(&format!("ref {sha} {name}\n"));
        }
        text
    }

    fn parse(text: &str) -> Option<Record> {
        let unhex = |s: &str| String::from_utf8(hex::decode(s).ok()?).ok();
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut record = Record::default();
        for line in lines {
            let mut parts = line.splitn(3, ' ');
            match (parts.next()?, parts.next(), parts.next()) {
                ("source", Some(source), None) => record.source = unhex(source)?,
                ("config", Some(key), Some(value)) => {
                    record.config.push((unhex(key)?, unhex(value)?));
                }
                ("hook", Some(digest), Some(name)) => {
                    record.hooks.push((digest.to_owned(), unhex(name)?));
                }
                ("ref", Some(sha), Some(name)) => {
                    record.refs.push((name.to_owned(), sha.to_owned()));
                }
                _ => return None,
            }
        }
        (!record.source.is_empty()).then_some(record)
    }
}

/// Where the record of the mirror at `mirror` is kept.
pub(crate) fn record_path(mirror: &Path) -> PathBuf {
    let name = mirror.file_name().unwrap_or_default();
    mirror
        .parent()
        .unwrap_or(Path::new("/"))
        .join(RECORDS_DIR)
        .join(name)
}

/// The mirror's record; `None` when there is none, or one the factory did not write (it
/// cannot be read), which is logged.
pub(crate) async fn load(mirror: &Path) -> Result<Option<Record>, GitError> {
    let path = record_path(mirror);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(GitError::io("read the mirror's trust record", &path, e)),
    };
    let record = Record::parse(&text);
    if record.is_none() {
        tracing::warn!(record = %path.display(), "The mirror's trust record cannot be read; it is set aside");
    }
    Ok(record)
}

/// Write the mirror's record whole.
pub(crate) async fn store(mirror: &Path, record: &Record) -> Result<(), GitError> {
    let path = record_path(mirror);
    let dir = path.parent().unwrap_or(Path::new("/"));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| GitError::io("create the folder of trust records", dir, e))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    tokio::fs::write(&tmp, record.to_text())
        .await
        .map_err(|e| GitError::io("write the mirror's trust record", &tmp, e))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| GitError::io("put the mirror's trust record in place at", &path, e))
}

/// The record of a mirror the factory has just cloned from `source` (or rebuilt), holding
/// `refs`: its configuration beyond the allow-list and its hooks are taken as git wrote them.
pub(crate) async fn fresh(
    mirror: &Path,
    source: &str,
    refs: Vec<(String, String)>,
) -> Result<Record, GitError> {
    let config = super::keys::config_keys(&mirror.join("config"))
        .await?
        .into_iter()
        .filter(|(key, value)| !super::allowed(key, value, source))
        .collect();
    Ok(Record {
        source: source.to_owned(),
        config,
        hooks: hook_files(mirror).await?,
        refs: refs
            .into_iter()
            .filter(|(name, _)| under_prefix(name, REF_NAMESPACE))
            .collect(),
    })
}

/// The files of the mirror's `hooks/` other than git's `*.sample` files, as
/// `(sha256, name)` in name order.
pub(crate) async fn hook_files(mirror: &Path) -> Result<Vec<(String, String)>, GitError> {
    let dir = mirror.join("hooks");
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(GitError::io("list the hooks of", &dir, e)),
    };
    let mut hooks = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| GitError::io("list the hooks of", &dir, e))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sample") {
            continue;
        }
        // A folder or a link counts by its name alone: its content is not git's either.
        let digest = match tokio::fs::symlink_metadata(entry.path()).await {
            Ok(meta) if meta.is_file() => {
                let bytes = tokio::fs::read(entry.path())
                    .await
                    .map_err(|e| GitError::io("read the hook", entry.path(), e))?;
                hex::encode(Sha256::digest(&bytes))
            }
            _ => "-".to_owned(),
        };
        hooks.push((digest, name));
    }
    hooks.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(hooks)
}

/// Record, ahead of an `update-ref` in the mirror at `mirror`, the new values in
/// `updates` of refs under [`REF_NAMESPACE`]. Returns those added, for [`updated`].
/// Nothing is recorded for a mirror without a record (it is taken as it is on its next
/// check). Called with the mirror's write lock held.
pub(crate) async fn updating(
    mirror: &Path,
    updates: &[(&str, &str)],
) -> Result<Vec<(String, String)>, GitError> {
    let Some(mut record) = load(mirror).await? else {
        return Ok(Vec::new());
    };
    let mut added = Vec::new();
    for (name, sha) in updates {
        let entry = ((*name).to_owned(), (*sha).to_owned());
        if under_prefix(name, REF_NAMESPACE) && !record.refs.contains(&entry) {
            record.refs.push(entry.clone());
            added.push(entry);
        }
    }
    if !added.is_empty() {
        store(mirror, &record).await?;
    }
    Ok(added)
}

/// After the `update-ref` that [`updating`] prepared: on success each ref keeps only its
/// new value; on failure the new values go.
pub(crate) async fn updated(
    mirror: &Path,
    added: Vec<(String, String)>,
    succeeded: bool,
) -> Result<(), GitError> {
    if added.is_empty() {
        return Ok(());
    }
    let Some(mut record) = load(mirror).await? else {
        return Ok(());
    };
    record.refs.retain(|entry| {
        let ours = added.contains(entry);
        if succeeded {
            ours || !added.iter().any(|(name, _)| *name == entry.0)
        } else {
            !ours
        }
    });
    store(mirror, &record).await
}

/// The refs under [`REF_NAMESPACE`] of the mirror at `mirror`, as `(name, sha)`; `None`
/// when git cannot list them (a corrupt `packed-refs`: the rebuild's checks find it).
pub(crate) async fn current_refs(mirror: &Path) -> Result<Option<Vec<(String, String)>>, GitError> {
    let out = Git::new(
        mirror,
        [
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            REF_NAMESPACE,
        ],
    )
    .output()
    .await?;
    if out.status != 0 {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let record = Record {
            source: "/srv/repo with space".to_owned(),
            config: vec![("core.hookspath".to_owned(), "a\nb".to_owned())],
            hooks: vec![("-".to_owned(), "pre commit".to_owned())],
            refs: vec![
                ("refs/nightshift/s/j/1".to_owned(), "a".repeat(40)),
                ("refs/nightshift/s/j/1".to_owned(), "b".repeat(40)),
            ],
        };
        assert_eq!(Record::parse(&record.to_text()), Some(record.clone()));
        assert_eq!(
            record.latest_refs(),
            vec![("refs/nightshift/s/j/1".to_owned(), "b".repeat(40))]
        );
        assert_eq!(Record::parse("source 2f\n"), None, "no header");
        assert_eq!(Record::parse(&format!("{HEADER}\nsource zz\n")), None);
    }
}
