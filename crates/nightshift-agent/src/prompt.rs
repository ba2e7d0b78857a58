//! What an iteration starts from: the system prompt and the first user message (the recipe,
//! a map of the repository, its guidance files and the progress notes).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use crate::Prompt;
use crate::search;
use crate::tools::paths;

/// The most lines of the repository map in the first message.
pub(crate) const MAP_ENTRIES: usize = 200;
/// The most bytes of guidance in the first message.
pub(crate) const GUIDANCE_BYTES: usize = 16 * 1024;
/// The guidance files, in the order they are shown.
pub(crate) const GUIDANCE_FILES: [&str; 4] = [
    "AGENTS.md",
    "CLAUDE.md",
    "CONTRIBUTING.md",
    ".github/copilot-instructions.md",
];
/// The most files a repository map walks.
const MAX_MAP_FILES: usize = 200_000;
/// The most files shown in one directory of the map.
const MAX_FILES_PER_DIR: usize = 25;
/// The deepest the map expands directories.
const MAX_MAP_DEPTH: usize = 8;

const SYSTEM_PROMPT: &str = "\
You are a careful software engineer working in a git repository, one iteration of a loop. \
Each iteration starts fresh: you know only this conversation, the repository's files, and the \
progress notes that earlier iterations left. Whatever you do not write to a file or to your \
notes is forgotten.

How to work:
- Read before you change: use list_files, search and read_file to find the code that matters.
- Take one well-defined step of the task per iteration, and make it complete: a small change \
that builds and passes the tests is worth more than a large one that does not.
- Change files with edit_file (exact replacement, matching exactly once) or write_file (whole \
files). All paths are relative to the repository root; you cannot leave it.
- Check your work with run: build, run the tests, run the linters the repository uses. \
Commands run in the repository root with no input and no network, and are killed when they \
take too long.
- Follow the repository's own guidance (AGENTS.md, CONTRIBUTING.md and the like).
- Never delete, skip or weaken a test to make it pass, never touch .git, and never bypass \
hooks: every change is checked by gates outside your reach, and such changes are rejected.
- Do not commit: the factory commits your changes when the iteration ends.

End the iteration by calling finish with a summary of what you did and how you checked it, \
`done: true` only when the WHOLE task is complete and verified (otherwise `done: false`), and \
`notes` for the next iteration: what is done, what remains, what you learned. Calling finish \
is the only way to hand over your notes.";

/// The system prompt of every iteration.
pub fn system_prompt() -> &'static str {
    SYSTEM_PROMPT
}

/// The first user message of an iteration.
/// The repository map as the first message shows it (for callers that cache it).
pub fn first_message_map(workdir: &Path) -> String {
    repo_map(workdir, MAP_ENTRIES)
}

pub(crate) fn first_message(workdir: &Path, prompt: &Prompt) -> String {
    // A caller that knows the tree has not changed shape may pass the map it made before:
    // walking a big repository every iteration is most of an iteration's own cost.
    let map = match &prompt.repo_map {
        Some(m) => m.clone(),
        None => repo_map(workdir, MAP_ENTRIES),
    };
    let guidance = guidance(workdir, GUIDANCE_BYTES);
    let mut out = String::with_capacity(
        prompt.recipe.len() + map.len() + guidance.len() + prompt.progress_notes.len() + 256,
    );
    out.push_str(prompt.recipe.trim_end());
    out.push_str("\n\n## Repository map\n\n");
    out.push_str(&map);
    out.push_str("\n\n## Repository guidance\n\n");
    if guidance.is_empty() {
        out.push_str("(none: the repository has no AGENTS.md, CLAUDE.md, CONTRIBUTING.md or .github/copilot-instructions.md)");
    } else {
        out.push_str(guidance.trim_end());
    }
    out.push_str("\n\n## Progress notes from earlier iterations\n\n");
    if prompt.progress_notes.trim().is_empty() {
        out.push_str("(none: this is the first iteration)");
    } else {
        out.push_str(prompt.progress_notes.trim_end());
    }
    out.push('\n');
    out
}

#[derive(Default)]
struct Dir {
    files: Vec<String>,
    dirs: BTreeMap<String, Dir>,
    /// Files in this directory and below.
    total: usize,
}

impl Dir {
    /// Adds the file at `rel` (relative to this directory).
    fn insert(&mut self, rel: &Path) {
        let mut dir = self;
        let mut parts = rel.components().peekable();
        while let Some(part) = parts.next() {
            dir.total += 1;
            let name = part.as_os_str().to_string_lossy();
            if parts.peek().is_none() {
                dir.files.push(name.into_owned());
                return;
            }
            if !dir.dirs.contains_key(name.as_ref()) {
                dir.dirs.insert(name.clone().into_owned(), Dir::default());
            }
            let Some(sub) = dir.dirs.get_mut(name.as_ref()) else {
                return;
            };
            dir = sub;
        }
    }

    /// Sorts the files of every directory (the walk is not sorted: it is faster that way).
    fn sort(&mut self) {
        self.files.sort_unstable();
        for sub in self.dirs.values_mut() {
            sub.sort();
        }
    }
}

/// A compact tree of the repository's non-ignored files (`.gitignore` respected, `.git` left
/// out): directories first with their file counts, expanded as deep as fits in
/// `max_entries` lines and collapsed below, at most 25 files shown per directory. The first
/// line gives the total; the output has at most `max_entries + 2` lines.
pub fn repo_map(workdir: &Path, max_entries: usize) -> String {
    let mut root = Dir::default();
    let mut walked_all = true;
    for entry in search::walker(workdir, None, false) {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_none_or(|t| t.is_dir()) {
            continue;
        }
        if root.total == MAX_MAP_FILES {
            walked_all = false;
            break;
        }
        if let Ok(rel) = entry.path().strip_prefix(workdir) {
            root.insert(rel);
        }
    }
    root.sort();
    let mut out = format!(
        "{}{} files (directories show how many files they hold)\n",
        if walked_all { "" } else { "more than " },
        root.total
    );
    if root.total == 0 || max_entries == 0 {
        return out.trim_end().to_owned();
    }
    let mut chosen: Vec<String> = Vec::new();
    let mut cut = false;
    for depth in 1..=MAX_MAP_DEPTH {
        let mut lines = Vec::new();
        if !render(&root, 0, depth, max_entries, &mut lines) {
            if depth == 1 {
                // Even the top level does not fit: show what fits of it.
                chosen = lines;
                cut = true;
            }
            break;
        }
        let complete = lines.len() == count_all(&root);
        chosen = lines;
        if complete {
            break;
        }
    }
    out.push_str(&chosen.join("\n"));
    if cut {
        out.push_str("\n… more entries not shown; use list_files");
    }
    out
}

/// The lines of a map that shows everything.
fn count_all(dir: &Dir) -> usize {
    dir.dirs.values().map(|d| 1 + count_all(d)).sum::<usize>()
        + dir.files.len().min(MAX_FILES_PER_DIR)
        + usize::from(dir.files.len() > MAX_FILES_PER_DIR)
}

/// Renders `dir` (at `level`) expanding directories above `depth`; false as soon as the
/// lines pass `max`.
fn render(dir: &Dir, level: usize, depth: usize, max: usize, lines: &mut Vec<String>) -> bool {
    let indent = "  ".repeat(level);
    for (name, sub) in &dir.dirs {
        if lines.len() == max {
            return false;
        }
        let files = if sub.total == 1 { "file" } else { "files" };
        lines.push(format!("{indent}{name}/ ({} {files})", sub.total));
        if level + 1 < depth && !render(sub, level + 1, depth, max, lines) {
            return false;
        }
    }
    for (i, file) in dir.files.iter().enumerate() {
        if lines.len() == max {
            return false;
        }
        if i == MAX_FILES_PER_DIR {
            lines.push(format!(
                "{indent}… {} more files",
                dir.files.len() - MAX_FILES_PER_DIR
            ));
            break;
        }
        lines.push(format!("{indent}{file}"));
    }
    true
}

/// The repository's guidance files that exist (AGENTS.md, CLAUDE.md, CONTRIBUTING.md,
/// .github/copilot-instructions.md), each under a `### NAME` header, cut to `max_bytes` in all
/// (with a note saying so). A file that is a symlink to one already shown, or that leads
/// outside the worktree, is left out. Empty when there are none.
pub fn guidance(workdir: &Path, max_bytes: usize) -> String {
    const NOTE: &str = "\n[guidance truncated; read the files for the rest]";
    let mut out = String::new();
    let mut seen = Vec::new();
    for name in GUIDANCE_FILES {
        let Ok(resolved) = paths::resolve(workdir, name) else {
            continue;
        };
        if !resolved.full.is_file() {
            continue;
        }
        if let Ok(real) = resolved.full.canonicalize() {
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
        }
        let Ok(file) = std::fs::File::open(&resolved.full) else {
            continue;
        };
        let mut bytes = Vec::new();
        if file
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let _ = write!(out, "### {name}\n\n{text}\n\n");
        if out.len() > max_bytes {
            break;
        }
    }
    let out = out.trim_end().to_owned();
    if out.len() <= max_bytes {
        return out;
    }
    let keep = max_bytes.saturating_sub(NOTE.len());
    let mut out = crate::tools::truncate(out, keep);
    if out.len() + NOTE.len() <= max_bytes {
        out.push_str(NOTE);
    }
    out
}
