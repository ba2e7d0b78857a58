//! Worktree-relative paths: every path a tool takes is relative to the worktree, and one that
//! is absolute or leads out of it (through `..` or a symlink) is refused.

use std::path::{Component, Path, PathBuf};

/// The longest path a tool accepts, in bytes.
pub(crate) const MAX_PATH_LEN: usize = 4096;

/// A path inside the worktree.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The full path on disk (the worktree joined with `rel`).
    pub full: PathBuf,
    /// The normalized relative path, `/`-separated, `.` for the worktree itself.
    pub rel: String,
}

/// Resolves `path` (relative to `root`) to a path inside the worktree, or says why not.
///
/// `..` is resolved lexically and may not climb above the worktree; the deepest part of the
/// path that exists is canonicalized and must still lie inside the worktree, so a symlink
/// that points outside is refused, and so is a dangling symlink (it could point anywhere).
pub(crate) fn resolve(root: &Path, path: &str) -> Result<Resolved, String> {
    if path.len() > MAX_PATH_LEN {
        return Err(format!("path is longer than {MAX_PATH_LEN} bytes"));
    }
    if path.contains('\0') {
        return Err("path contains a NUL byte".to_owned());
    }
    let given = Path::new(path);
    let mut parts: Vec<&str> = Vec::new();
    for component in given.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return Err(format!(
                    "`{path}` is absolute; paths are relative to the worktree root"
                ));
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("`{path}` leads outside the worktree"));
                }
            }
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => return Err(format!("`{path}` is not valid UTF-8")),
            },
        }
    }
    let rel = if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    };
    let mut full = root.to_path_buf();
    full.extend(&parts);
    check_inside(root, &full, path)?;
    Ok(Resolved { full, rel })
}

/// Whether `path` is refused because it leads outside the worktree (absolute, climbing
/// above it, or through a symlink out), rather than for any other reason.
pub(crate) fn leads_outside(root: &Path, path: &str) -> bool {
    resolve(root, path).is_err_and(|e| e.contains("leads outside") || e.contains("is absolute"))
}

/// Checks that the deepest existing ancestor of `full` (itself included) lies inside `root`
/// once symlinks are followed.
fn check_inside(root: &Path, full: &Path, shown: &str) -> Result<(), String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot resolve the worktree root: {e}"))?;
    for ancestor in full.ancestors() {
        let Ok(meta) = std::fs::symlink_metadata(ancestor) else {
            continue;
        };
        let real = match ancestor.canonicalize() {
            Ok(real) => real,
            Err(_) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "`{shown}` goes through a symlink whose target does not exist"
                ));
            }
            Err(e) => return Err(format!("cannot resolve `{shown}`: {e}")),
        };
        if real.starts_with(&root) {
            return Ok(());
        }
        return Err(format!(
            "`{shown}` leads outside the worktree (through a symlink)"
        ));
    }
    Err(format!("cannot resolve `{shown}`"))
}

/// Whether `rel` (as returned by [`resolve`]) is in the repository's git metadata.
pub(crate) fn is_git_metadata(rel: &str) -> bool {
    rel == ".git" || rel.starts_with(".git/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_rules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("a")).unwrap();
        assert_eq!(resolve(root, "a/../b.txt").unwrap().rel, "b.txt");
        assert_eq!(resolve(root, "./a/./c").unwrap().rel, "a/c");
        assert_eq!(resolve(root, "").unwrap().rel, ".");
        assert_eq!(resolve(root, ".").unwrap().rel, ".");
        assert!(resolve(root, "../x").unwrap_err().contains("outside"));
        assert!(resolve(root, "a/../../x").unwrap_err().contains("outside"));
        assert!(
            resolve(root, "/etc/passwd")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(is_git_metadata(".git/hooks/pre-commit"));
        assert!(!is_git_metadata(".github/x"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
        std::fs::create_dir(root.join("in")).unwrap();
        std::os::unix::fs::symlink(root.join("in"), root.join("inlink")).unwrap();
        assert!(resolve(root, "out/x").unwrap_err().contains("outside"));
        assert!(resolve(root, "out").unwrap_err().contains("outside"));
        assert!(
            resolve(root, "dangling")
                .unwrap_err()
                .contains("does not exist")
        );
        assert_eq!(
            resolve(root, "inlink/new/file").unwrap().rel,
            "inlink/new/file"
        );
    }
}
