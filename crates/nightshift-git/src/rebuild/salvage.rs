//! Listing the factory's refs of a broken mirror: by git where it can, else from the ref
//! files themselves, read leniently.
//!
//! git lists refs despite a broken ref file (it warns and skips it), but refuses every
//! ref at once when one line of `packed-refs` is corrupt. Then the loose ref files and
//! the readable lines of `packed-refs` are read here, only to name candidates: git itself
//! checks each one's objects before it is carried (`rebuild::carry`). Nothing is written.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Dropped, Ref};
use crate::command::{Git, trim_line};
use crate::error::GitError;
use crate::refs::{BRANCH_PREFIX, REF_NAMESPACE, under_prefix};

/// How much of a corrupt line or file a log line quotes.
const QUOTED: usize = 80;

/// The refs a rebuilt mirror carries over: iteration refs and job branches.
fn carried_prefixes() -> [String; 2] {
    [
        REF_NAMESPACE.to_owned(),
        format!("refs/heads/{BRANCH_PREFIX}"),
    ]
}

/// The factory's refs of the mirror at `mirror`, and those that cannot even be read.
pub(super) async fn factory_refs(mirror: &Path) -> Result<(Vec<Ref>, Vec<Dropped>), GitError> {
    let prefixes = carried_prefixes();
    let mut args = vec!["for-each-ref", "--format=%(objectname) %(refname)"];
    args.extend(prefixes.iter().map(String::as_str));
    // Reads refs only, so it runs in a mirror whose configuration was tampered with.
    let out = Git::new(mirror, &args).despite_config().output().await?;
    if out.status == 0 {
        let refs = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
            .collect();
        let dropped = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(
                |line| match line.strip_prefix("warning: ignoring broken ref ") {
                    Some(name) => Dropped {
                        name: name.trim().to_owned(),
                        why: "its file does not hold an object name".to_owned(),
                    },
                    None => Dropped {
                        name: "(a ref git skipped)".to_owned(),
                        why: line.trim().to_owned(),
                    },
                },
            )
            .collect();
        return Ok((refs, dropped));
    }
    let refused = trim_line(&out.stderr);
    if tokio::fs::try_exists(mirror.join("reftable"))
        .await
        .unwrap_or(false)
    {
        return Err(GitError::NotARepository {
            path: mirror.to_owned(),
            detail: format!(
                "git cannot list its refs ({refused}) and they are kept in a reftable, which nightshift does not read by hand; repair the refs with git, or remove the mirror (its refs under refs/nightshift are then lost)"
            ),
        });
    }
    tracing::warn!(mirror = %mirror.display(), refused, "git cannot list the broken mirror's refs; reading its ref files");
    let dir = mirror.to_owned();
    tokio::task::spawn_blocking(move || read_ref_files(&dir, &prefixes))
        .await
        .map_err(|e| GitError::io("read the ref files of", mirror, std::io::Error::other(e)))?
        .map_err(|e| GitError::io("read the ref files of", mirror, e))
}

/// The refs under `prefixes` as the files of `git_dir` hold them: `packed-refs`, then the
/// loose files, which take precedence as they do for git.
pub(super) fn read_ref_files(
    git_dir: &Path,
    prefixes: &[String],
) -> std::io::Result<(Vec<Ref>, Vec<Dropped>)> {
    let mut found = BTreeMap::new();
    let mut dropped = Vec::new();
    let carried = |name: &str| prefixes.iter().any(|p| under_prefix(name, p));
    match std::fs::read(git_dir.join("packed-refs")) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            for (i, line) in text.lines().enumerate() {
                // The header, and the peeled value that follows an annotated tag.
                if line.is_empty() || line.starts_with('#') || line.starts_with('^') {
                    continue;
                }
                match line.split_once(' ') {
                    Some((sha, name)) if is_object_name(sha) && !name.contains(' ') => {
                        if carried(name) {
                            found.insert(name.to_owned(), sha.to_owned());
                        }
                    }
                    _ => dropped.push(Dropped {
                        name: format!("packed-refs line {}", i + 1),
                        why: format!("{:?} is not `<object name> <ref name>`", quote(line)),
                    }),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    for prefix in prefixes {
        read_loose(git_dir, prefix, &mut found, &mut dropped)?;
    }
    Ok((found.into_iter().collect(), dropped))
}

/// The loose ref files at and under `name` (a folder or a file below `git_dir`).
fn read_loose(
    git_dir: &Path,
    name: &str,
    found: &mut BTreeMap<String, String>,
    dropped: &mut Vec<Dropped>,
) -> std::io::Result<()> {
    let path = git_dir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let child = entry.file_name();
            let child = child.to_string_lossy();
            // A lock file is a ref update in flight (or left by a crash), not a ref.
            if !child.ends_with(".lock") {
                read_loose(git_dir, &format!("{name}/{child}"), found, dropped)?;
            }
        }
        return Ok(());
    }
    let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
    let value = text.trim();
    if is_object_name(value) {
        found.insert(name.to_owned(), value.to_owned());
    } else {
        // As for git, the broken loose file hides whatever `packed-refs` says.
        found.remove(name);
        dropped.push(Dropped {
            name: name.to_owned(),
            why: format!("its file holds {:?}, not an object name", quote(value)),
        });
    }
    Ok(())
}

/// A full SHA-1 or SHA-256 object name in hex.
fn is_object_name(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn quote(s: &str) -> String {
    s.chars().take(QUOTED).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[test]
    fn ref_files_are_read_leniently_loose_over_packed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git_dir = dir.path();
        std::fs::write(
            git_dir.join("packed-refs"),
            format!(
                "# pack-refs with: peeled fully-peeled sorted \n{A} refs/heads/main\n{A} refs/heads/nightshift/s/j\n^{B}\n{A} refs/nightshift/s/j/1\nzzzz refs/nightshift/s/j/2\n{A} refs/nightshift/s/j/3\n"
            ),
        )
        .expect("packed-refs");
        let loose = git_dir.join("refs/nightshift/s/j");
        std::fs::create_dir_all(&loose).expect("mkdir");
        std::fs::write(loose.join("1"), format!("{B}\n")).expect("loose");
        std::fs::write(loose.join("3"), "garbage\n").expect("loose");
        std::fs::write(loose.join("4.lock"), format!("{B}\n")).expect("lock");
        std::fs::write(loose.join("5"), format!("{B}\n")).expect("loose");

        let (refs, dropped) = read_ref_files(git_dir, &carried_prefixes()).expect("read");
        assert_eq!(
            refs,
            vec![
                ("refs/heads/nightshift/s/j".to_owned(), A.to_owned()),
                ("refs/nightshift/s/j/1".to_owned(), B.to_owned()),
                ("refs/nightshift/s/j/5".to_owned(), B.to_owned()),
            ]
        );
        assert_eq!(
            dropped,
            vec![
                Dropped {
                    name: "packed-refs line 6".to_owned(),
                    why: "\"zzzz refs/nightshift/s/j/2\" is not `<object name> <ref name>`"
                        .to_owned(),
                },
                Dropped {
                    name: "refs/nightshift/s/j/3".to_owned(),
                    why: "its file holds \"garbage\", not an object name".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn a_mirror_without_ref_files_has_no_factory_refs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (refs, dropped) = read_ref_files(dir.path(), &carried_prefixes()).expect("read");
        assert_eq!((refs, dropped), (vec![], vec![]));
    }
}
