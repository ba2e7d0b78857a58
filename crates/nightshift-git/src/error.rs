//! The one error type of this crate: each variant says what failed, where, and what to do.

use std::path::PathBuf;

/// What went wrong in a git operation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` could not be started at all.
    #[error(
        "could not run `git {args}` in {}: {source}; install git 2.36 or newer and make sure it is on PATH",
        repo.display()
    )]
    Spawn {
        args: String,
        repo: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `git` ran and exited with a failure status (`-1` when it was killed by a signal).
    #[error(
        "`git {args}` failed in {} with exit status {status}: {stderr}",
        repo.display()
    )]
    Failed {
        args: String,
        repo: PathBuf,
        status: i32,
        stderr: String,
    },

    /// The folder is missing, or is not a repository of the kind the operation needs.
    #[error("{} is not a git repository nightshift can use: {detail}", path.display())]
    NotARepository { path: PathBuf, detail: String },

    /// Removing the worktree would lose work that no ref keeps.
    #[error("refusing to remove the worktree {}: {reason}", path.display())]
    WouldLoseWork { path: PathBuf, reason: String },

    /// A revision the caller named does not resolve to a commit.
    #[error(
        "{} has no commit {rev:?}; name a branch, tag or sha that exists there (refresh the mirror if it is new upstream)",
        repo.display()
    )]
    UnknownRevision { repo: PathBuf, rev: String },

    /// The worktree path or branch is already taken by something else.
    #[error("cannot use {} as a worktree: {detail}", path.display())]
    WorktreeConflict { path: PathBuf, detail: String },

    /// The cache entry for a source holds a clone of another source.
    #[error(
        "the mirror {} was cloned from {found:?}, not {expected:?}; remove that folder or use another cache folder",
        path.display()
    )]
    SourceMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// A mirror git found broken could not be rebuilt from its source; the broken mirror
    /// is left as it was.
    #[error(
        "the mirror {} is broken ({broken}) and could not be rebuilt from its source: {source}; it is left as it was: make sure the source can be cloned, then run again",
        path.display()
    )]
    Rebuild {
        path: PathBuf,
        broken: String,
        #[source]
        source: Box<GitError>,
    },

    /// A repository's own configuration sets a key that would make git run a program or
    /// send the factory's transfers elsewhere, which no `-c` override can neutralise.
    #[error(
        "refusing to run git in {}: {} sets `{key}`, which {why}; nightshift never lets a repository's own configuration run programs or redirect its fetches and pushes. Remove the key; a mirror changed this way is rebuilt from its source on its next use",
        repo.display(),
        file.display()
    )]
    Untrusted {
        repo: PathBuf,
        file: PathBuf,
        key: String,
        why: String,
    },

    /// The caller passed something this crate refuses before running git.
    #[error("{what}")]
    InvalidArgument { what: String },

    /// A file-system operation of this crate (not of git) failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `git` succeeded but printed something this crate cannot read.
    #[error(
        "unexpected output from `git {args}` in {}: {detail}; this git may be too old (nightshift needs 2.36 or newer)",
        repo.display()
    )]
    Output {
        args: String,
        repo: PathBuf,
        detail: String,
    },
}

impl GitError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        GitError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
