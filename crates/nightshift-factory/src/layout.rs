//! Where the factory keeps its files: mirrors, worktrees and per-job scratch space.

use std::path::{Path, PathBuf};

use nightshift_git::sanitize_ref_component;

/// The factory's working folder (by default `.nightshift/` beside the configuration file).
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The root is made absolute: gates and workers run in other folders, and the paths
    /// handed to them must mean the same there.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            root: std::path::absolute(&root).unwrap_or(root),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Cached bare mirrors, shared by every shift.
    pub fn mirrors(&self) -> PathBuf {
        self.root.join("mirrors")
    }

    pub fn worktree(&self, shift: &str, job: &str) -> PathBuf {
        self.root
            .join("worktrees")
            .join(sanitize_ref_component(shift))
            .join(sanitize_ref_component(job))
    }

    /// Scratch space outside the worktree (notes, worker homes).
    pub fn scratch(&self, shift: &str, job: &str) -> PathBuf {
        self.root
            .join("scratch")
            .join(sanitize_ref_component(shift))
            .join(sanitize_ref_component(job))
    }
}
