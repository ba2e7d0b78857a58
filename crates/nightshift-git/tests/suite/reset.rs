//! Rejected iterations: reset away from the worktree, kept under their ref.

use nightshift_git::iteration_ref;

use super::{Fixture, branch_tip, git, read, write};

#[tokio::test]
async fn reset_after_a_rejected_change_restores_files_keeps_the_commit_and_ignored_files() {
    let fx = Fixture::new(&[(".gitignore", "target/\n"), ("src/lib.rs", "fn ok() {}\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "target/cache.bin", "build cache\n");

    let accepted = wt.head().await.expect("head");
    write(wt.path(), "src/lib.rs", "fn broken( {}\n");
    write(wt.path(), "src/extra.rs", "junk\n");
    let rejected = wt
        .commit_all("iteration 1 (rejected)")
        .await
        .expect("commit");
    mirror
        .update_ref(&iteration_ref("s", "j", 1), &rejected)
        .await
        .expect("keep");
    // Something the agent left behind after the commit, tracked by nothing.
    write(wt.path(), "scratch/tmp.txt", "untracked\n");
    // Lost on the reset, but kept by the ref: the point of the factory's refs.
    wt.reset_to(&accepted).await.expect("reset");

    assert_eq!(wt.head().await.expect("head"), accepted);
    assert_eq!(branch_tip(&mirror, "j").await, Some(accepted.clone()));
    assert_eq!(read(wt.path(), "src/lib.rs"), "fn ok() {}\n");
    assert!(!wt.path().join("src/extra.rs").exists());
    assert!(!wt.path().join("scratch").exists());
    assert_eq!(read(wt.path(), "target/cache.bin"), "build cache\n");
    assert!(wt.is_clean().await.expect("clean"));

    assert!(
        mirror
            .is_reachable_from_refs(&rejected, &["refs/nightshift"])
            .await
            .expect("reachable")
    );
    assert!(
        !mirror
            .is_reachable_from_refs(&rejected, &["refs/heads"])
            .await
            .expect("reachable")
    );
    assert_eq!(
        git(wt.path(), &["show", &format!("{rejected}:src/lib.rs")]),
        "fn broken( {}"
    );
}

#[tokio::test]
async fn reset_removes_a_nested_repository_the_agent_created() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    let base = wt.head().await.expect("head");
    let nested = wt.path().join("fixture-repo");
    std::fs::create_dir_all(&nested).expect("mkdir");
    git(&nested, &["init", "-q"]);
    wt.reset_to(&base).await.expect("reset");
    assert!(!nested.exists());
    assert!(wt.is_clean().await.expect("clean"));
}

#[tokio::test]
async fn reset_to_an_unknown_commit_is_refused() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    let err = wt
        .reset_to("0123456789012345678901234567890123456789")
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, nightshift_git::GitError::UnknownRevision { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn reachability_needs_a_ref_under_one_of_the_prefixes() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let sha = wt.commit_all("on the job branch").await.expect("commit");
    let check = |prefixes: &'static [&'static str]| {
        let mirror = mirror.clone();
        let sha = sha.clone();
        async move {
            mirror
                .is_reachable_from_refs(&sha, prefixes)
                .await
                .expect("reachable")
        }
    };
    assert!(check(&["refs/heads"]).await);
    assert!(check(&["refs/heads/nightshift/s"]).await);
    assert!(!check(&["refs/heads/main"]).await);
    assert!(!check(&["refs/nightshift"]).await);
    assert!(!check(&[]).await);
    assert!(
        !mirror
            .is_reachable_from_refs("0123456789012345678901234567890123456789", &["refs/heads"])
            .await
            .expect("unknown commit")
    );
    // The start commit is in main's history, and so in the job branch's.
    assert!(
        mirror
            .is_reachable_from_refs(&fx.initial, &["refs/heads/main"])
            .await
            .expect("reachable")
    );
}
