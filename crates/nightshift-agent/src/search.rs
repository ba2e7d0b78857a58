//! The in-process search behind the `search` tool, and the one walker every listing uses.
//!
//! Walks honour `.gitignore`, `.ignore` and git's exclude files whether or not the folder is a
//! git repository (`require_git(false)`), show hidden files (`.github/`, `.gitignore`), and
//! never enter `.git`. Search reads one file at a time, skips binary files (a NUL byte in the
//! first 8 KiB) and files over [`MAX_SEARCH_FILE_BYTES`], and stops at the first of
//! `max_results` matches or `max_bytes` of output.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use ignore::WalkBuilder;
use regex::bytes::{Regex, RegexBuilder};

/// Files larger than this are not searched.
pub(crate) const MAX_SEARCH_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// A matching line is shown up to this many bytes.
const MAX_LINE_BYTES: usize = 300;
/// How much of a file decides whether it is binary.
pub(crate) const BINARY_PROBE: usize = 8 * 1024;
/// The most compiled-regex memory a pattern may take.
const REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// A walker over the non-ignored entries under `dir` (which lies in the worktree), each
/// directory's entries in name order when `sorted`.
pub(crate) fn walker(dir: &Path, max_depth: Option<usize>, sorted: bool) -> ignore::Walk {
    let mut builder = WalkBuilder::new(dir);
    builder
        .hidden(false)
        .require_git(false)
        .parents(true)
        .max_depth(max_depth)
        .filter_entry(|entry| entry.file_name() != ".git");
    if sorted {
        builder.sort_by_file_name(|a, b| a.cmp(b));
    }
    builder.build()
}

/// Whether `bytes` (the start of a file) look binary.
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_PROBE)].contains(&0)
}

/// A search request, already validated.
pub(crate) struct Query<'a> {
    /// The text or regular expression.
    pub pattern: &'a str,
    /// Whether `pattern` is a regular expression (otherwise a literal).
    pub regex: bool,
    /// The most matches to report.
    pub max_results: usize,
    /// The most bytes of output.
    pub max_bytes: usize,
}

/// Compiles the query's pattern.
fn compile(query: &Query<'_>) -> Result<Regex, String> {
    let source = if query.regex {
        query.pattern.to_owned()
    } else {
        regex::escape(query.pattern)
    };
    RegexBuilder::new(&source)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression: {e}"))
}

/// Searches the non-ignored files under `dir` (`rel_dir` is how the worktree names it, `.`
/// for the root) and renders the matches as `path:line: text`, bounded.
pub(crate) fn search(root: &Path, dir: &Path, query: &Query<'_>) -> Result<String, String> {
    let re = compile(query)?;
    let mut out = String::new();
    let mut matches = 0usize;
    let mut files_with_matches = 0usize;
    let mut stopped: Option<&str> = None;
    let mut content = Vec::new();
    'files: for entry in walker(dir, None, true) {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        if !read_text(path, &mut content) {
            continue;
        }
        let rel = relative(root, path);
        let mut any = false;
        for (i, line) in content.split(|&b| b == b'\n').enumerate() {
            if !re.is_match(line) {
                continue;
            }
            if matches == query.max_results {
                stopped = Some("max_results");
                break 'files;
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let shown = clip(line, MAX_LINE_BYTES);
            let entry_text = format!("{rel}:{}: {shown}\n", i + 1);
            if out.len() + entry_text.len() > query.max_bytes {
                stopped = Some("the output limit");
                break 'files;
            }
            out.push_str(&entry_text);
            matches += 1;
            any = true;
        }
        if any {
            files_with_matches += 1;
        }
    }
    if matches == 0 {
        return Ok(format!("no matches for `{}`", query.pattern));
    }
    match stopped {
        Some(why) => {
            let _ = write!(
                out,
                "[stopped at {why} after {}; narrow the pattern or the path to see the rest]",
                plural(matches, "match", "matches")
            );
        }
        None => {
            let _ = write!(
                out,
                "[{} in {}]",
                plural(matches, "match", "matches"),
                plural(files_with_matches, "file", "files")
            );
        }
    }
    Ok(out)
}

/// Reads `path` into `buf` when it is a searchable text file.
fn read_text(path: &Path, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file
        .metadata()
        .map_or(true, |m| m.len() > MAX_SEARCH_FILE_BYTES)
    {
        return false;
    }
    if file.take(MAX_SEARCH_FILE_BYTES).read_to_end(buf).is_err() {
        return false;
    }
    !looks_binary(buf)
}

/// `1 match`, `2 matches`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `path` relative to `root`, `/`-separated.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for (i, part) in rel.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&part.as_os_str().to_string_lossy());
    }
    if out.is_empty() { ".".to_owned() } else { out }
}

/// `line` as text, cut to at most `max` bytes (on a character boundary) with a marker.
pub(crate) fn clip(line: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(line);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip(b"abc", 5), "abc");
        assert_eq!(clip("héllo".as_bytes(), 2), "h… [5 more bytes]");
    }

    #[test]
    fn literal_patterns_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.rs"), "fn a() {}\nlet x = a.b();\n").unwrap();
        let q = Query {
            pattern: "a.b(",
            regex: false,
            max_results: 10,
            max_bytes: 1000,
        };
        let out = search(dir.path(), dir.path(), &q).unwrap();
        assert_eq!(out, "a.rs:2: let x = a.b();\n[1 match in 1 file]");
        let bad = Query { regex: true, ..q };
        assert!(
            search(dir.path(), dir.path(), &bad)
                .unwrap_err()
                .contains("invalid regular expression")
        );
    }
}
