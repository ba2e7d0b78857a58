//! An iteration's change, as the factory hands it over (this crate never calls git).

use serde::{Deserialize, Serialize};

/// How one file changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    /// Moved from `from` (a path relative to the repository root) to the file's `path`.
    Renamed {
        from: String,
    },
}

/// One changed file. Paths are relative to the repository root, `/`-separated.
///
/// `old_text` is the file before the change and `new_text` after it; either is `None` where the
/// file did not exist on that side or is not text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub status: ChangeStatus,
    pub old_text: Option<String>,
    pub new_text: Option<String>,
    /// Where the file points when it is a symbolic link after the change (git's mode
    /// `120000`): the link's text, as git stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

impl FileChange {
    pub fn added(path: impl Into<String>, new_text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            status: ChangeStatus::Added,
            old_text: None,
            new_text: Some(new_text.into()),
            link_target: None,
        }
    }

    pub fn modified(
        path: impl Into<String>,
        old_text: impl Into<String>,
        new_text: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            status: ChangeStatus::Modified,
            old_text: Some(old_text.into()),
            new_text: Some(new_text.into()),
            link_target: None,
        }
    }

    pub fn deleted(path: impl Into<String>, old_text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            status: ChangeStatus::Deleted,
            old_text: Some(old_text.into()),
            new_text: None,
            link_target: None,
        }
    }

    pub fn renamed(
        from: impl Into<String>,
        to: impl Into<String>,
        old_text: impl Into<String>,
        new_text: impl Into<String>,
    ) -> Self {
        Self {
            path: to.into(),
            status: ChangeStatus::Renamed { from: from.into() },
            old_text: Some(old_text.into()),
            new_text: Some(new_text.into()),
            link_target: None,
        }
    }

    /// A symbolic link added at `path`, pointing to `target` (git stores the target as the
    /// link's text).
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        let target = target.into();
        Self {
            path: path.into(),
            status: ChangeStatus::Added,
            old_text: None,
            new_text: Some(target.clone()),
            link_target: Some(target),
        }
    }

    /// The path before the change: `from` for a rename, `path` otherwise.
    pub fn old_path(&self) -> &str {
        match &self.status {
            ChangeStatus::Renamed { from } => from,
            _ => &self.path,
        }
    }

    /// Every path this change touches: `path`, and a rename's `from`.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let from = match &self.status {
            ChangeStatus::Renamed { from } => Some(from.as_str()),
            _ => None,
        };
        std::iter::once(self.path.as_str()).chain(from)
    }

    /// A short verb for messages: `added`, `modified`, `deleted`, `renamed`.
    pub fn verb(&self) -> &'static str {
        match self.status {
            ChangeStatus::Added => "added",
            ChangeStatus::Modified => "modified",
            ChangeStatus::Deleted => "deleted",
            ChangeStatus::Renamed { .. } => "renamed",
        }
    }

    /// A one-letter status like `git diff --name-status`: `A`, `M`, `D`, `R`.
    pub fn letter(&self) -> char {
        match self.status {
            ChangeStatus::Added => 'A',
            ChangeStatus::Modified => 'M',
            ChangeStatus::Deleted => 'D',
            ChangeStatus::Renamed { .. } => 'R',
        }
    }
}

/// An iteration's committed change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub files: Vec<FileChange>,
    pub insertions: u64,
    pub deletions: u64,
    /// the repository's core.hooksPath as the agent left it, if set
    pub hooks_path: Option<String>,
}
