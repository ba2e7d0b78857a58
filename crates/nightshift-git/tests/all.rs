//! nightshift-git against the real `git`, in temporary folders: mirrors, worktrees, the
//! factory's refs, commits, resets, diffs, safe removal, resume and concurrency.

mod suite;
