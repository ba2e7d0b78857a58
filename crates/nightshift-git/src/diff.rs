//! What changed between two commits: per-file changes with texts, unified diffs, numbers.

use std::collections::HashMap;

use crate::command::Git;
use crate::error::GitError;
use crate::worktree::Worktree;

/// The most bytes of a file's text [`FileChange`] carries; larger files have no text.
pub const TEXT_CAP_BYTES: u64 = 1024 * 1024;

/// Bytes git looks at to call a file binary (a NUL among them).
const BINARY_SNIFF: usize = 8000;

/// How one file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeStatus {
    Added,
    /// Content or type (e.g. file to symbolic link) changed.
    Modified,
    Deleted,
    /// Moved from `from`, maybe with edits (git's rename detection, 50% similarity).
    Renamed {
        from: String,
    },
}

/// One changed file. The texts are `None` for a side where the file is absent, binary
/// (a NUL byte in its first 8000 bytes, or not UTF-8), a submodule, or over
/// [`TEXT_CAP_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub status: ChangeStatus,
    pub old_text: Option<String>,
    pub new_text: Option<String>,
    /// Where the file points when its new side is a symbolic link (mode `120000`): the
    /// link's text as git stores it, bytes that are not UTF-8 replaced by U+FFFD.
    pub link_target: Option<String>,
}

/// git's mode of a symbolic link.
const SYMLINK_MODE: &str = "120000";

/// Size of a change, as `git diff --numstat` counts it (binary files count as files only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStat {
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// Options that make `git diff` output the same whatever the user configured.
const DIFF_OPTS: &[&str] = &[
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--find-renames",
    "--ignore-submodules=none",
];

/// The object name git uses for "no file on this side".
const NULL_SHA: &str = "0000000000000000000000000000000000000000";

/// One record of `git diff --raw -z`.
#[derive(Debug, PartialEq)]
struct RawEntry {
    old_mode: String,
    new_mode: String,
    old_sha: String,
    new_sha: String,
    status: char,
    /// The new path (the only path for non-renames).
    path: String,
    /// The old path of a rename or copy.
    from: Option<String>,
}

/// The unified diff between two commits of the repository at `dir`.
async fn unified_diff(dir: &std::path::Path, base: &str, head: &str) -> Result<String, GitError> {
    let mut args: Vec<&str> = vec!["diff", "--src-prefix=a/", "--dst-prefix=b/"];
    args.extend(DIFF_OPTS);
    args.extend(["--end-of-options", base, head]);
    let out = Git::new(dir, &args).run().await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

impl crate::Mirror {
    /// The unified diff between two commits (or branches) of the mirror, e.g. a job's
    /// starting point and its branch, after its worktree is gone.
    pub async fn diff(&self, base: &str, head: &str) -> Result<String, GitError> {
        unified_diff(self.path(), base, head).await
    }
}

impl Worktree {
    /// Files changed from `base` to `head`, with their old and new texts, and the unified
    /// diff between them (`a/` and `b/` prefixes, renames detected), from one `git diff`:
    /// what the gates read after every iteration.
    pub async fn changes_and_diff(
        &self,
        base: &str,
        head: &str,
    ) -> Result<(Vec<FileChange>, String), GitError> {
        let mut args: Vec<&str> = vec![
            "diff",
            "--raw",
            "-z",
            "--no-abbrev",
            "--patch",
            "--src-prefix=a/",
            "--dst-prefix=b/",
        ];
        args.extend(DIFF_OPTS);
        args.extend(["--end-of-options", base, head]);
        let out = Git::new(self.path(), &args).run().await?;
        let (entries, patch) = parse_raw(&out).map_err(|detail| GitError::Output {
            args: args.join(" "),
            repo: self.path().to_owned(),
            detail,
        })?;
        let patch = String::from_utf8_lossy(patch).into_owned();

        let wanted: Vec<&str> = entries
            .iter()
            .flat_map(|e| [(&e.old_sha, &e.old_mode), (&e.new_sha, &e.new_mode)])
            .filter(|(sha, mode)| sha.as_str() != NULL_SHA && mode.as_str() != "160000")
            .map(|(sha, _)| sha.as_str())
            .collect();
        let texts = self.blob_texts(&wanted).await?;
        let text_of = |sha: &str| texts.get(sha).cloned().flatten();
        let links: Vec<&str> = entries
            .iter()
            .filter(|e| e.new_mode == SYMLINK_MODE)
            .map(|e| e.new_sha.as_str())
            .collect();
        let targets = self.link_targets(&links).await?;

        let changes = entries
            .into_iter()
            .map(|e| {
                let status = match (e.status, e.from) {
                    ('A', _) | ('C', _) => ChangeStatus::Added,
                    ('D', _) => ChangeStatus::Deleted,
                    ('R', Some(from)) => ChangeStatus::Renamed { from },
                    _ => ChangeStatus::Modified,
                };
                // A copy is a new file whose old side is another file: no old text.
                let old_text = if e.status == 'C' {
                    None
                } else {
                    text_of(&e.old_sha)
                };
                FileChange {
                    link_target: targets.get(&e.new_sha).cloned(),
                    path: e.path,
                    status,
                    old_text,
                    new_text: text_of(&e.new_sha),
                }
            })
            .collect();
        Ok((changes, patch))
    }

    /// Files, inserted and deleted lines from `base` to `head`.
    pub async fn diff_stat(&self, base: &str, head: &str) -> Result<DiffStat, GitError> {
        let mut args: Vec<&str> = vec!["diff", "--numstat", "-z"];
        args.extend(DIFF_OPTS);
        args.extend(["--end-of-options", base, head]);
        let out = Git::new(self.path(), &args).run().await?;
        parse_numstat(&out).map_err(|detail| GitError::Output {
            args: args.join(" "),
            repo: self.path().to_owned(),
            detail,
        })
    }

    /// What the symbolic links stored as the blobs `shas` point to, by blob.
    async fn link_targets(&self, shas: &[&str]) -> Result<HashMap<String, String>, GitError> {
        if shas.is_empty() {
            return Ok(HashMap::new());
        }
        let request: String = shas.iter().map(|s| format!("{s}\n")).collect();
        let out = Git::new(self.path(), ["cat-file", "--batch"])
            .input(request)
            .run()
            .await?;
        let blobs = parse_batch(&out).map_err(|detail| GitError::Output {
            args: "cat-file --batch".to_owned(),
            repo: self.path().to_owned(),
            detail,
        })?;
        Ok(blobs
            .into_iter()
            .filter_map(|(sha, bytes)| Some((sha, String::from_utf8_lossy(&bytes?).into_owned())))
            .collect())
    }

    /// The texts of blobs, `None` for those too large, binary or not UTF-8. Sizes are asked
    /// first so a huge blob is never read.
    async fn blob_texts(&self, shas: &[&str]) -> Result<HashMap<String, Option<String>>, GitError> {
        let mut texts = HashMap::new();
        if shas.is_empty() {
            return Ok(texts);
        }
        let mut unique: Vec<&str> = shas.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let request = |list: &[&str]| list.iter().map(|s| format!("{s}\n")).collect::<String>();

        let args = [
            "cat-file",
            "--batch-check=%(objectname) %(objecttype) %(objectsize)",
        ];
        let out = Git::new(self.path(), args)
            .input(request(&unique))
            .run()
            .await?;
        let mut small = Vec::new();
        for line in String::from_utf8_lossy(&out).lines() {
            let mut parts = line.split(' ');
            let (Some(sha), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next())
            else {
                texts.insert(line.split(' ').next().unwrap_or("").to_owned(), None);
                continue;
            };
            let size: u64 = size.parse().unwrap_or(u64::MAX);
            if kind == "blob" && size <= TEXT_CAP_BYTES {
                small.push(sha.to_owned());
            } else {
                texts.insert(sha.to_owned(), None);
            }
        }
        if small.is_empty() {
            return Ok(texts);
        }
        let small_refs: Vec<&str> = small.iter().map(String::as_str).collect();
        let out = Git::new(self.path(), ["cat-file", "--batch"])
            .input(request(&small_refs))
            .run()
            .await?;
        let blobs = parse_batch(&out).map_err(|detail| GitError::Output {
            args: "cat-file --batch".to_owned(),
            repo: self.path().to_owned(),
            detail,
        })?;
        for (sha, content) in blobs {
            texts.insert(sha, content.and_then(text_of_bytes));
        }
        Ok(texts)
    }
}

/// Text, unless it looks binary or is not UTF-8.
fn text_of_bytes(bytes: Vec<u8>) -> Option<String> {
    let sniff = &bytes[..bytes.len().min(BINARY_SNIFF)];
    if sniff.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

fn field_text(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

/// Parse `git diff --raw -z --no-abbrev [--patch]`: `:<old mode> <new mode> <old sha>
/// <new sha> <status>[score]` NUL path NUL, with a second path NUL for renames and copies;
/// with `--patch`, one NUL and the unified diff follow the records. Returns the records
/// and the rest (the patch, or nothing).
fn parse_raw(out: &[u8]) -> Result<(Vec<RawEntry>, &[u8]), String> {
    let mut rest = out;
    let field = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let f = rest[..end].to_vec();
        *rest = rest.get(end + 1..).unwrap_or(&[]);
        Some(f)
    };
    let mut entries = Vec::new();
    while rest.first() == Some(&b':') {
        let Some(meta) = field(&mut rest) else { break };
        let meta = field_text(&meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, old_sha, new_sha, status] = parts[..] else {
            return Err(format!(
                "raw diff record {meta:?} does not have five fields"
            ));
        };
        let status_char = status
            .chars()
            .next()
            .ok_or_else(|| format!("raw diff record {meta:?} has an empty status"))?;
        let first =
            field(&mut rest).ok_or_else(|| format!("raw diff record {meta:?} has no path"))?;
        let (path, from) = if matches!(status_char, 'R' | 'C') {
            let second = field(&mut rest)
                .ok_or_else(|| format!("rename record {meta:?} has no new path"))?;
            (field_text(&second), Some(field_text(&first)))
        } else {
            (field_text(&first), None)
        };
        entries.push(RawEntry {
            old_mode: old_mode.to_owned(),
            new_mode: new_mode.to_owned(),
            old_sha: old_sha.to_owned(),
            new_sha: new_sha.to_owned(),
            status: status_char,
            path,
            from,
        });
    }
    // The records and the patch are parted by one NUL.
    let patch = rest.strip_prefix(b"\0").unwrap_or(rest);
    Ok((entries, patch))
}

/// Parse `git diff --numstat -z`: `<added>\t<deleted>\t<path>` NUL, or for a rename
/// `<added>\t<deleted>\t` NUL old NUL new NUL; binary files show `-` for both numbers.
fn parse_numstat(out: &[u8]) -> Result<DiffStat, String> {
    let mut stat = DiffStat::default();
    let mut fields = out.split(|&b| b == 0);
    while let Some(field) = fields.next() {
        if field.is_empty() {
            continue;
        }
        let text = field_text(field);
        let mut parts = text.splitn(3, '\t');
        let (Some(added), Some(deleted), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "numstat record {text:?} does not have three fields"
            ));
        };
        if path.is_empty() {
            // A rename: the old and new paths follow as two fields.
            fields.next();
            fields.next();
        }
        stat.files += 1;
        if added != "-" {
            stat.insertions += added
                .parse::<u64>()
                .map_err(|e| format!("numstat count {added:?}: {e}"))?;
        }
        if deleted != "-" {
            stat.deletions += deleted
                .parse::<u64>()
                .map_err(|e| format!("numstat count {deleted:?}: {e}"))?;
        }
    }
    Ok(stat)
}

/// Objects read by `git cat-file --batch`: name, and content unless missing.
type BatchObjects = Vec<(String, Option<Vec<u8>>)>;

/// Parse `git cat-file --batch`: `<sha> <type> <size>` LF, content, LF; or `<name> missing` LF.
fn parse_batch(out: &[u8]) -> Result<BatchObjects, String> {
    let mut objects = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a header line has no end")?;
        let header = field_text(&rest[..end]);
        rest = &rest[end + 1..];
        let parts: Vec<&str> = header.split(' ').collect();
        match parts[..] {
            [name, "missing"] | [name, "ambiguous"] => objects.push((name.to_owned(), None)),
            [sha, _kind, size] => {
                let size: usize = size
                    .parse()
                    .map_err(|e| format!("object size in {header:?}: {e}"))?;
                if rest.len() < size + 1 {
                    return Err(format!("object {sha} is cut short"));
                }
                objects.push((sha.to_owned(), Some(rest[..size].to_vec())));
                rest = &rest[size + 1..];
            }
            _ => return Err(format!("unexpected header {header:?}")),
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_records_with_renames() {
        let out = b":100644 100644 aaaa bbbb M\0src/a.rs\0:100644 100644 cccc dddd R087\0old name.txt\0new name.txt\0:000000 100644 0000 eeee A\0n\0";
        let (entries, patch) = parse_raw(out).expect("parse");
        assert!(patch.is_empty());
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].path, "new name.txt");
        assert_eq!(entries[1].from.as_deref(), Some("old name.txt"));
        assert_eq!(entries[1].status, 'R');
        assert_eq!(entries[2].old_mode, "000000");
    }

    #[test]
    fn raw_records_then_the_patch() {
        let out = b":100644 100644 aaaa bbbb M\0a.txt\0:100644 100644 cccc dddd R100\0b c.txt\0d.txt\0\0diff --git a/a.txt b/a.txt\n+x\n";
        let (entries, patch) = parse_raw(out).expect("parse");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].from.as_deref(), Some("b c.txt"));
        assert_eq!(patch, b"diff --git a/a.txt b/a.txt\n+x\n");
    }

    #[test]
    fn numstat_with_binary_and_rename() {
        let out = b"3\t1\tsrc/a.rs\0-\t-\tlogo.png\0" as &[u8];
        let mut all = out.to_vec();
        all.extend_from_slice(b"0\t0\t\0old\0new\0");
        assert_eq!(
            parse_numstat(&all).expect("parse"),
            DiffStat {
                files: 3,
                insertions: 3,
                deletions: 1
            }
        );
    }

    #[test]
    fn batch_output_with_missing_and_embedded_newlines() {
        let out = b"abc blob 5\na\nb\nc\nzzz missing\n";
        assert_eq!(
            parse_batch(out).expect("parse"),
            vec![
                ("abc".to_owned(), Some(b"a\nb\nc".to_vec())),
                ("zzz".to_owned(), None)
            ]
        );
    }

    #[test]
    fn binary_and_invalid_utf8_have_no_text() {
        assert_eq!(text_of_bytes(b"ok\n".to_vec()), Some("ok\n".to_owned()));
        assert_eq!(text_of_bytes(b"a\0b".to_vec()), None);
        assert_eq!(text_of_bytes(vec![0xff, 0xfe]), None);
    }
}
