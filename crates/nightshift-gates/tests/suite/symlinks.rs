//! The `symlinks` gate: links out of the repository are defects, links inside pass.

use nightshift_gates::{ChangeStatus, FileChange, GateResult, Policy};

use super::{change, timeless};

fn symlinks(passed: bool, detail: &str, excerpt: &str) -> GateResult {
    super::policy_result("symlinks", passed, detail, excerpt)
}

/// Regression: a red-team agent's link to `/root/.ssh` was accepted into a change set.
#[test]
fn links_to_an_absolute_path_or_out_of_the_repository_are_defects() {
    let mut up = FileChange::symlink("docs/notes", "../../outside");
    up.status = ChangeStatus::Modified;
    up.old_text = Some("notes\n".into());
    let c = change(vec![
        FileChange::symlink("keys", "/root/.ssh"),
        up,
        FileChange::modified("src/lib.rs", "a", "b"),
    ]);
    assert_eq!(
        timeless(&Policy::default(), &c, "symlinks"),
        symlinks(
            false,
            "added symbolic link `keys` points to the absolute path `/root/.ssh`; \
             modified symbolic link `docs/notes` points to `../../outside`, outside the repository",
            "A keys -> /root/.ssh\nM docs/notes -> ../../outside\n",
        )
    );
}

#[test]
fn links_inside_the_repository_pass() {
    let c = change(vec![
        FileChange::symlink("docs/b.md", "a.md"),
        FileChange::symlink("a/b/readme", "../../README.md"),
    ]);
    assert_eq!(
        timeless(&Policy::default(), &c, "symlinks"),
        symlinks(
            true,
            "2 symbolic links added or changed, all pointing inside the repository",
            ""
        )
    );
}

#[test]
fn a_change_without_links_passes_and_a_deleted_link_is_not_looked_at() {
    let mut gone = FileChange::deleted("keys", "/root/.ssh");
    gone.link_target = Some("/root/.ssh".into());
    let c = change(vec![FileChange::modified("src/lib.rs", "a", "b"), gone]);
    assert_eq!(
        timeless(&Policy::default(), &c, "symlinks"),
        symlinks(true, "no symbolic links added or changed", "")
    );
}
