//! The file tools: `list_files`, `read_file`, `edit_file` and `write_file`. Each takes a
//! worktree-relative path (see `paths`) and answers text for the model, or an error text.
//! They are synchronous: the loop runs them on tokio's blocking pool.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::Path;

use super::paths::{self, Resolved};
use crate::search::{self, BINARY_PROBE, looks_binary};

/// The most entries `list_files` shows.
pub(crate) const MAX_LIST_ENTRIES: usize = 1000;
/// The deepest `list_files` goes.
pub(crate) const MAX_LIST_DEPTH: usize = 10;
/// `list_files`'s default depth.
pub(crate) const DEFAULT_LIST_DEPTH: usize = 2;
/// A line of `read_file` is shown up to this many bytes.
const MAX_READ_LINE_BYTES: usize = 2000;
/// The largest file `edit_file` edits and `write_file` writes.
pub(crate) const MAX_WRITE_BYTES: usize = 1024 * 1024;
/// The most entries `list_files` counts past what it shows.
const MAX_LIST_COUNT: usize = 100_000;

fn resolve_existing(root: &Path, path: &str) -> Result<(Resolved, std::fs::Metadata), String> {
    let resolved = paths::resolve(root, path)?;
    match std::fs::metadata(&resolved.full) {
        Ok(meta) => Ok((resolved, meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("`{}` does not exist", resolved.rel))
        }
        Err(e) => Err(format!("cannot open `{}`: {e}", resolved.rel)),
    }
}

fn resolve_writable(root: &Path, path: &str) -> Result<Resolved, String> {
    let resolved = paths::resolve(root, path)?;
    if resolved.rel == "." {
        return Err("a path to a file is needed".to_owned());
    }
    if paths::is_git_metadata(&resolved.rel) {
        return Err(format!(
            "`{}` is git metadata; the factory commits your changes, leave `.git` alone",
            resolved.rel
        ));
    }
    Ok(resolved)
}

/// `list_files`: the non-ignored entries under `path`, `depth` levels down, directories with
/// a trailing `/`, paths relative to the worktree root.
pub(crate) fn list_files(
    root: &Path,
    path: &str,
    depth: usize,
    max_bytes: usize,
) -> Result<String, String> {
    let (resolved, meta) = resolve_existing(root, path)?;
    if !meta.is_dir() {
        return Err(format!(
            "`{}` is a file, not a directory; use read_file to read it",
            resolved.rel
        ));
    }
    let depth = depth.clamp(1, MAX_LIST_DEPTH);
    let mut out = String::new();
    let mut shown = 0usize;
    let mut total = 0usize;
    let mut full = false;
    // Room kept for the closing note.
    let budget = max_bytes.saturating_sub(120);
    for entry in search::walker(&resolved.full, Some(depth), true) {
        let Ok(entry) = entry else { continue };
        if entry.depth() == 0 {
            continue;
        }
        total += 1;
        if total > MAX_LIST_COUNT {
            break;
        }
        if full {
            continue;
        }
        let rel = search::relative(root, entry.path());
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let line_len = rel.len() + usize::from(is_dir) + 1;
        if shown == MAX_LIST_ENTRIES || out.len() + line_len > budget {
            full = true;
            continue;
        }
        out.push_str(&rel);
        if is_dir {
            out.push('/');
        }
        out.push('\n');
        shown += 1;
    }
    let listed = shown;
    if total == 0 {
        return Ok(format!(
            "`{}` is empty (or holds only ignored files)",
            resolved.rel
        ));
    }
    if listed < total {
        let more = if total > MAX_LIST_COUNT {
            format!("more than {}", MAX_LIST_COUNT - listed)
        } else {
            (total - listed).to_string()
        };
        let _ = write!(
            out,
            "[{listed} entries shown, {more} more not shown: list a subdirectory or use a smaller depth]"
        );
    } else {
        let _ = write!(
            out,
            "[{}, depth {depth}]",
            search::plural(total, "entry", "entries")
        );
    }
    Ok(out)
}

/// `read_file`: lines `start_line..=end_line` (1-based) of a text file, numbered, bounded.
pub(crate) fn read_file(
    root: &Path,
    path: &str,
    start_line: Option<u64>,
    end_line: Option<u64>,
    max_bytes: usize,
) -> Result<String, String> {
    let (resolved, meta) = resolve_existing(root, path)?;
    if meta.is_dir() {
        return Err(format!(
            "`{}` is a directory; use list_files to see what it holds",
            resolved.rel
        ));
    }
    let start = start_line.unwrap_or(1).max(1);
    let end = end_line.unwrap_or(u64::MAX);
    if end < start {
        return Err(format!("end_line {end} is before start_line {start}"));
    }
    let file = std::fs::File::open(&resolved.full)
        .map_err(|e| format!("cannot open `{}`: {e}", resolved.rel))?;
    let mut reader = BufReader::with_capacity(BINARY_PROBE, file);
    let probe = reader
        .fill_buf()
        .map_err(|e| format!("cannot read `{}`: {e}", resolved.rel))?;
    if probe.is_empty() {
        return Ok(format!("`{}` is empty", resolved.rel));
    }
    if looks_binary(probe) {
        return Err(format!(
            "`{}` is a binary file ({} bytes); it cannot be shown as text",
            resolved.rel,
            meta.len()
        ));
    }

    let mut out = String::new();
    let mut line = Vec::new();
    let mut n = 0u64;
    let mut last_shown = 0u64;
    let mut cut = false;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read `{}`: {e}", resolved.rel))?;
        if read == 0 {
            break;
        }
        n += 1;
        if n < start {
            continue;
        }
        if n > end {
            // Past the range: only the number of lines is still wanted.
            n += count_lines(&mut reader);
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let entry = format!("{n:>6}\t{}\n", search::clip(text, MAX_READ_LINE_BYTES));
        if out.len() + entry.len() > max_bytes && last_shown > 0 {
            cut = true;
            n += count_lines(&mut reader);
            break;
        }
        out.push_str(&entry);
        last_shown = n;
    }
    let total = n;
    if start > total {
        return Err(format!(
            "start_line {start} is past the end of `{}` ({total} lines)",
            resolved.rel
        ));
    }
    if cut {
        let _ = write!(
            out,
            "[showing lines {start}-{last_shown} of {total}; call read_file with start_line={} to read more]",
            last_shown + 1
        );
    } else if start > 1 || last_shown < total {
        let _ = write!(out, "[lines {start}-{last_shown} of {total}]");
    }
    Ok(out)
}

/// Counts the lines left in `reader` (a last line without a newline counts).
fn count_lines(reader: &mut impl std::io::BufRead) -> u64 {
    let mut count = 0u64;
    let mut buf = [0u8; 8192];
    let mut last = b'\n';
    let mut any = false;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                any = true;
                count += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
                last = buf[k - 1];
            }
        }
    }
    if any && last != b'\n' {
        count += 1;
    }
    count
}

/// `edit_file`: replaces the one occurrence of `old_text` with `new_text`.
pub(crate) fn edit_file(
    root: &Path,
    path: &str,
    old_text: &str,
    new_text: &str,
) -> Result<String, String> {
    let resolved = resolve_writable(root, path)?;
    if old_text.is_empty() {
        return Err(
            "old_text is empty; give the exact text to replace, or use write_file to create a file"
                .to_owned(),
        );
    }
    let meta = match std::fs::metadata(&resolved.full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "`{}` does not exist; use write_file to create it",
                resolved.rel
            ));
        }
        Err(e) => return Err(format!("cannot open `{}`: {e}", resolved.rel)),
    };
    if meta.is_dir() {
        return Err(format!("`{}` is a directory", resolved.rel));
    }
    if meta.len() > MAX_WRITE_BYTES as u64 {
        return Err(format!(
            "`{}` is {} bytes; edit_file edits files up to {MAX_WRITE_BYTES} bytes (use run with a tool like sed)",
            resolved.rel,
            meta.len()
        ));
    }
    let bytes = std::fs::read(&resolved.full)
        .map_err(|e| format!("cannot read `{}`: {e}", resolved.rel))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!(
            "`{}` is not UTF-8 text; edit_file cannot edit it",
            resolved.rel
        )
    })?;
    let mut found = text.match_indices(old_text);
    let Some((at, _)) = found.next() else {
        return Err(format!(
            "old_text not found in `{}`; it must match the file exactly, whitespace and indentation included (read_file shows the current text)",
            resolved.rel
        ));
    };
    let count = 1 + found.count();
    if count > 1 {
        return Err(format!(
            "old_text matches {count} times in `{}`; include more context so that it matches exactly once",
            resolved.rel
        ));
    }
    let mut edited = String::with_capacity(text.len() - old_text.len() + new_text.len());
    edited.push_str(&text[..at]);
    edited.push_str(new_text);
    edited.push_str(&text[at + old_text.len()..]);
    if edited.len() > MAX_WRITE_BYTES {
        return Err(format!(
            "the edited file would be {} bytes; edit_file writes files up to {MAX_WRITE_BYTES} bytes",
            edited.len()
        ));
    }
    std::fs::write(&resolved.full, &edited)
        .map_err(|e| format!("cannot write `{}`: {e}", resolved.rel))?;
    let first = text[..at].matches('\n').count() + 1;
    let old_lines = old_text.matches('\n').count();
    let new_lines = new_text.matches('\n').count();
    Ok(format!(
        "edited `{}`: replaced lines {first}-{} with lines {first}-{}",
        resolved.rel,
        first + old_lines,
        first + new_lines
    ))
}

/// `write_file`: creates or overwrites a file, creating its parent directories.
pub(crate) fn write_file(root: &Path, path: &str, content: &str) -> Result<String, String> {
    let resolved = resolve_writable(root, path)?;
    if content.len() > MAX_WRITE_BYTES {
        return Err(format!(
            "content is {} bytes; write_file writes files up to {MAX_WRITE_BYTES} bytes",
            content.len()
        ));
    }
    let existed = match std::fs::metadata(&resolved.full) {
        Ok(meta) if meta.is_dir() => {
            return Err(format!("`{}` is a directory", resolved.rel));
        }
        Ok(_) => true,
        Err(_) => false,
    };
    if let Some(parent) = resolved.full.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create the directories of `{}`: {e}", resolved.rel))?;
    }
    std::fs::write(&resolved.full, content)
        .map_err(|e| format!("cannot write `{}`: {e}", resolved.rel))?;
    let verb = if existed { "overwrote" } else { "created" };
    Ok(format!(
        "{verb} `{}` ({}, {})",
        resolved.rel,
        search::plural(content.len(), "byte", "bytes"),
        search::plural(line_count(content), "line", "lines")
    ))
}

fn line_count(text: &str) -> usize {
    let newlines = text.matches('\n').count();
    if text.is_empty() || text.ends_with('\n') {
        newlines
    } else {
        newlines + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_file_ranges_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let body: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(root.join("f.txt"), &body).unwrap();
        let all = read_file(root, "f.txt", None, None, 1 << 20).unwrap();
        assert!(all.starts_with("     1\tline 1\n     2\tline 2\n"));
        assert!(all.ends_with("   100\tline 100\n"));
        let some = read_file(root, "f.txt", Some(3), Some(4), 1 << 20).unwrap();
        assert_eq!(some, "     3\tline 3\n     4\tline 4\n[lines 3-4 of 100]");
        let cut = read_file(root, "f.txt", None, None, 40).unwrap();
        assert_eq!(
            cut,
            "     1\tline 1\n     2\tline 2\n[showing lines 1-2 of 100; call read_file with start_line=3 to read more]"
        );
        let err = read_file(root, "f.txt", Some(101), None, 100).unwrap_err();
        assert_eq!(err, "start_line 101 is past the end of `f.txt` (100 lines)");
        std::fs::write(root.join("bin"), b"\x00\x01\x02").unwrap();
        assert!(
            read_file(root, "bin", None, None, 100)
                .unwrap_err()
                .contains("binary")
        );
        std::fs::write(root.join("nonl"), "a\nb").unwrap();
        assert_eq!(
            read_file(root, "nonl", Some(2), None, 100).unwrap(),
            "     2\tb\n[lines 2-2 of 2]"
        );
    }

    #[test]
    fn count_lines_counts_a_last_partial_line() {
        assert_eq!(count_lines(&mut &b"a\nb\n"[..]), 2);
        assert_eq!(count_lines(&mut &b"a\nb"[..]), 2);
        assert_eq!(count_lines(&mut &b""[..]), 0);
    }

    #[test]
    fn git_metadata_is_off_limits() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_file(dir.path(), ".git/hooks/pre-commit", "exit 0").unwrap_err();
        assert!(err.contains("git metadata"));
    }
}
