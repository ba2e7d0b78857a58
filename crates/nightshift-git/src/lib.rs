//! nightshift-git: every git operation of the factory, through the real `git` command line.
//!
//! The factory keeps one bare, cached **mirror** per source repository and one **worktree**
//! per job, on its own branch (`nightshift/<shift>/<job>`). Every iteration ends in a commit
//! that is kept under the factory's own refs (`refs/nightshift/<shift>/<job>/<n>`), accepted
//! or not; accepted iterations advance the job's branch, rejected ones are reset away from
//! the worktree but stay reachable through their ref. A worktree is only removed when its
//! work is reachable from a ref.
//!
//! Every command runs `git` (never libgit2) with a scrubbed environment
//! (`GIT_TERMINAL_PROMPT=0`, `GIT_CONFIG_NOSYSTEM=1`, no inherited `GIT_DIR` and friends) and
//! with hooks, signing, fsmonitor and automatic gc switched off, so an agent's configuration
//! cannot run code in the factory's commit path. Operations that write to a mirror (clone,
//! fetch, worktree add and remove, commits, resets, ref updates) are serialized per mirror
//! by an in-process async lock; reads run concurrently.
//!
//! Nothing here writes git's objects, indexes or refs by hand: staging, trees, commit
//! objects and refs are made by git itself (`add`, `write-tree`, `commit-tree`, one
//! `update-ref --stdin` transaction per iteration). What keeps that cheap goes through
//! git's own options: a fresh worktree's index settled once, and no checksum over the
//! index (`index.skipHash`).
//!
//! A mirror checks itself before every refresh and is rebuilt from its source when git
//! finds it broken (a bad ref written by a crash or an agent would otherwise fail every
//! later shift on that repository), carrying over the factory's refs whose history is
//! intact and its worktrees; see `rebuild`.
//!
//! Requires git 2.36 or newer.
//!
//! | module | holds |
//! |---|---|
//! | [`mirror`] | [`Mirror`]: create or refresh a bare cached clone, resolve revisions, refs, reachability |
//! | [`worktree`] | [`Worktree`]: commit everything, reset, cleanliness, configuration, safe removal |
//! | [`diff`] | [`FileChange`], [`ChangeStatus`], [`DiffStat`]: what changed between two commits |
//! | [`refs`] | the factory's ref and branch names, [`sanitize_ref_component`], natural ordering |
//! | [`error`] | [`GitError`] |
//! | `command` | how `git` is run: environment, hardening, identity ([`Identity`]) |
//! | `lock` | the per-mirror async locks: writes one at a time, no mirror swapped during a commit |
//! | `trust` | what the factory refuses in a mirror's own files: command-running keys on every call, the checks and the record before each use |
//! | `rebuild` | a broken mirror found by git's own checks and rebuilt from its source, the factory's refs and worktrees carried over |
//! | `usage` | disk usage of a folder |

mod command;
pub mod diff;
pub mod error;
mod lock;
pub mod mirror;
mod rebuild;
pub mod refs;
mod trust;
mod usage;
pub mod worktree;

pub use command::Identity;
pub use diff::{ChangeStatus, DiffStat, FileChange, TEXT_CAP_BYTES};
pub use error::GitError;
pub use mirror::Mirror;
pub use refs::{
    BRANCH_PREFIX, REF_NAMESPACE, iteration_prefix, iteration_ref, job_branch, natural_cmp,
    sanitize_ref_component,
};
pub use worktree::Worktree;
