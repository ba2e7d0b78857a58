//! Removing a worktree only when no work would be lost.

use nightshift_git::{GitError, iteration_ref};

use super::{Fixture, branch_tip, git, write};

#[tokio::test]
async fn remove_refuses_a_worktree_with_uncommitted_changes() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "edited but not committed\n");
    write(wt.path(), "new.txt", "untracked\n");
    let path = wt.path().to_owned();
    let err = wt.remove().await.expect_err("dirty");
    match &err {
        GitError::WouldLoseWork { path: p, reason } => {
            assert_eq!(p, &path);
            assert!(
                reason.contains("uncommitted") && reason.contains("new.txt"),
                "{reason}"
            );
        }
        other => panic!("expected WouldLoseWork, got {other:?}"),
    }
    assert!(path.join("new.txt").exists());
}

#[tokio::test]
async fn remove_refuses_a_worktree_whose_head_no_ref_keeps() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    // The agent detaches HEAD and commits: nothing but the worktree holds that commit.
    git(wt.path(), &["checkout", "-q", "--detach"]);
    write(wt.path(), "a", "orphan work\n");
    git(wt.path(), &["commit", "-q", "-am", "orphan"]);
    let orphan = git(wt.path(), &["rev-parse", "HEAD"]);
    let path = wt.path().to_owned();

    let err = wt.check_removable().await.expect_err("unreferenced");
    assert!(matches!(err, GitError::WouldLoseWork { .. }), "{err:?}");
    assert!(err.to_string().contains(&orphan), "{err}");
    let err = wt.remove().await.expect_err("unreferenced");
    assert!(matches!(err, GitError::WouldLoseWork { .. }), "{err:?}");
    assert!(path.exists());
    assert_eq!(git(&path, &["rev-parse", "HEAD"]), orphan);
}

#[tokio::test]
async fn a_detached_head_kept_under_an_iteration_ref_may_be_removed() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    git(wt.path(), &["checkout", "-q", "--detach"]);
    write(wt.path(), "a", "detached work\n");
    git(wt.path(), &["commit", "-q", "-am", "detached"]);
    let detached = git(wt.path(), &["rev-parse", "HEAD"]);
    assert!(wt.check_removable().await.is_err());

    mirror
        .update_ref(&iteration_ref("s", "j", 1), &detached)
        .await
        .expect("keep");
    wt.check_removable().await.expect("removable now");
    let path = wt.path().to_owned();
    wt.remove().await.expect("remove");
    assert!(!path.exists());
}

#[tokio::test]
async fn remove_succeeds_when_the_work_is_kept_and_leaves_the_branch() {
    let fx = Fixture::new(&[(".gitignore", "target/\n"), ("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "accepted\n");
    let sha = wt.commit_all("iteration 1").await.expect("commit");
    write(wt.path(), "target/big.o", "ignored build output\n");
    assert!(wt.disk_usage().await.expect("usage") > 0);
    let path = wt.path().to_owned();

    wt.remove().await.expect("remove");
    assert!(!path.exists());
    assert_eq!(branch_tip(&mirror, "j").await, Some(sha.clone()));
    assert!(!git(mirror.path(), &["worktree", "list"]).contains(path.to_str().expect("utf-8")));

    // The branch is free again: a new worktree picks the work up.
    let again = mirror
        .worktree(&path, "nightshift/s/j", "main")
        .await
        .expect("again");
    assert_eq!(again.head().await.expect("head"), sha);
}

#[tokio::test]
async fn removing_a_worktree_whose_folder_is_gone_forgets_it() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    std::fs::remove_dir_all(wt.path()).expect("rm");
    wt.remove().await.expect("forget");
    assert_eq!(
        git(mirror.path(), &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}
