//! What changed between two commits: statuses and texts, numbers, unified text.

use nightshift_git::{ChangeStatus, DiffStat, FileChange, TEXT_CAP_BYTES};

use super::{Fixture, write};

const LONG: &str =
    "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n";

async fn changed_fixture() -> (Fixture, nightshift_git::Worktree, String, String) {
    let fx = Fixture::new(&[
        ("keep.txt", "same\n"),
        ("edit.txt", "one\ntwo\nthree\n"),
        ("gone.txt", "bye\n"),
        ("old/name.txt", LONG),
        ("logo.bin", "\0\x01\x02"),
    ])
    .await;
    let (_mirror, wt) = fx.job("j").await;
    let base = wt.head().await.expect("head");
    write(wt.path(), "edit.txt", "one\n2\nthree\nfour\n");
    std::fs::remove_file(wt.path().join("gone.txt")).expect("rm");
    std::fs::remove_file(wt.path().join("old/name.txt")).expect("rm");
    write(
        wt.path(),
        "new/name.txt",
        &LONG.replace("line 10\n", "line ten\n"),
    );
    write(wt.path(), "added.txt", "fresh\n");
    write(wt.path(), "logo.bin", "\0\x03");
    let head = wt.commit_all("change things").await.expect("commit");
    (fx, wt, base, head)
}

#[tokio::test]
async fn changes_report_each_status_with_old_and_new_texts() {
    let (_fx, wt, base, head) = changed_fixture().await;
    let (mut changes, _) = wt.changes_and_diff(&base, &head).await.expect("changes");
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(
        changes,
        vec![
            FileChange {
                path: "added.txt".into(),
                status: ChangeStatus::Added,
                old_text: None,
                new_text: text("fresh\n"),
                link_target: None,
            },
            FileChange {
                path: "edit.txt".into(),
                status: ChangeStatus::Modified,
                old_text: text("one\ntwo\nthree\n"),
                new_text: text("one\n2\nthree\nfour\n"),
                link_target: None,
            },
            FileChange {
                path: "gone.txt".into(),
                status: ChangeStatus::Deleted,
                old_text: text("bye\n"),
                new_text: None,
                link_target: None,
            },
            FileChange {
                path: "logo.bin".into(),
                status: ChangeStatus::Modified,
                old_text: None,
                new_text: None,
                link_target: None,
            },
            FileChange {
                path: "new/name.txt".into(),
                status: ChangeStatus::Renamed {
                    from: "old/name.txt".into()
                },
                old_text: text(LONG),
                new_text: text(&LONG.replace("line 10\n", "line ten\n")),
                link_target: None,
            },
        ]
    );
    assert_eq!(
        wt.changes_and_diff(&head, &head).await.expect("none").0,
        vec![]
    );
}

#[tokio::test]
async fn diff_stat_counts_lines_exactly_and_binary_files_as_files() {
    let (_fx, wt, base, head) = changed_fixture().await;
    // edit.txt +2 -1, gone.txt -1, rename +1 -1, added.txt +1, logo.bin binary.
    assert_eq!(
        wt.diff_stat(&base, &head).await.expect("stat"),
        DiffStat {
            files: 5,
            insertions: 4,
            deletions: 3
        }
    );
    assert_eq!(
        wt.diff_stat(&head, &head).await.expect("stat"),
        DiffStat::default()
    );
}

#[tokio::test]
async fn diff_is_a_unified_diff_with_standard_prefixes() {
    let (_fx, wt, base, head) = changed_fixture().await;
    let (_, diff) = wt.changes_and_diff(&base, &head).await.expect("diff");
    assert!(
        diff.contains("diff --git a/edit.txt b/edit.txt\n"),
        "{diff}"
    );
    assert!(diff.contains("-two\n+2\n three\n+four\n"), "{diff}");
    assert!(
        diff.contains("rename from old/name.txt\nrename to new/name.txt\n"),
        "{diff}"
    );
    assert!(diff.contains("deleted file mode 100644"), "{diff}");
    assert!(
        diff.contains("Binary files a/logo.bin and b/logo.bin differ"),
        "{diff}"
    );
    assert!(!diff.contains('\u{1b}'), "no colour");
    assert_eq!(wt.changes_and_diff(&head, &head).await.expect("diff").1, "");
}

/// The patch read together with the changes is the one a plain `git diff` of the mirror
/// prints.
#[tokio::test]
async fn the_patch_read_with_the_changes_is_the_plain_diff() {
    let (_fx, wt, base, head) = changed_fixture().await;
    let (_, diff) = wt.changes_and_diff(&base, &head).await.expect("both");
    let mirror = nightshift_git::Mirror::open(wt.mirror_path())
        .await
        .expect("mirror");
    assert_eq!(diff, mirror.diff(&base, &head).await.expect("diff"));
}

#[tokio::test]
async fn texts_over_the_cap_are_left_out() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    let base = wt.head().await.expect("head");
    let cap = usize::try_from(TEXT_CAP_BYTES).expect("fits");
    write(wt.path(), "big.txt", &"x".repeat(cap + 1));
    write(wt.path(), "fits.txt", &"y".repeat(cap));
    let head = wt.commit_all("big").await.expect("commit");
    let (mut changes, _) = wt.changes_and_diff(&base, &head).await.expect("changes");
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(changes[0].path, "big.txt");
    assert_eq!(changes[0].new_text, None);
    assert_eq!(changes[1].path, "fits.txt");
    assert_eq!(changes[1].new_text.as_ref().map(String::len), Some(cap));
}

#[tokio::test]
async fn an_unknown_revision_is_an_error_naming_it() {
    let (_fx, wt, base, _head) = changed_fixture().await;
    let err = wt
        .diff_stat(&base, "no-such-rev")
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("no-such-rev"), "{err}");
}

#[tokio::test]
async fn a_symbolic_link_carries_its_target() {
    let fx = Fixture::new(&[("README.md", "hi\n"), ("docs/a.md", "a\n")]).await;
    let (_mirror, wt) = fx.job("links").await;
    let base = wt.head().await.expect("head");
    std::os::unix::fs::symlink("/root/.ssh", wt.path().join("keys")).expect("link");
    std::os::unix::fs::symlink("a.md", wt.path().join("docs/b.md")).expect("link");
    std::fs::remove_file(wt.path().join("README.md")).expect("rm");
    std::os::unix::fs::symlink("../../outside", wt.path().join("README.md")).expect("link");
    let head = wt.commit_all("links").await.expect("commit");
    let (mut changes, _) = wt.changes_and_diff(&base, &head).await.expect("changes");
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let link = |path: &str, status, old: Option<&str>, target: &str| FileChange {
        path: path.into(),
        status,
        old_text: old.map(str::to_owned),
        new_text: Some(target.to_owned()),
        link_target: Some(target.to_owned()),
    };
    assert_eq!(
        changes,
        vec![
            link(
                "README.md",
                ChangeStatus::Modified,
                Some("hi\n"),
                "../../outside"
            ),
            link("docs/b.md", ChangeStatus::Added, None, "a.md"),
            link("keys", ChangeStatus::Added, None, "/root/.ssh"),
        ]
    );
}
