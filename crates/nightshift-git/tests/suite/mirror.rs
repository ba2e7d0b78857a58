//! Mirrors: clone, refresh, resolve, the default branch, and what a refresh must not touch.

use nightshift_git::{GitError, Mirror};

use super::{Fixture, branch_tip, cache_entries, commit_files, git, only};

#[tokio::test]
async fn a_local_repository_is_mirrored_then_refreshed_after_a_new_upstream_commit() {
    let fx = Fixture::new(&[("README.md", "hello\n")]).await;
    let mirror = fx.mirror().await;

    let name = mirror
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("upstream-") && name.ends_with(".git"),
        "{name}"
    );
    assert_eq!(name.len(), "upstream-".len() + 8 + ".git".len(), "{name}");
    assert_eq!(
        mirror.path().parent(),
        Some(fx.cache.canonicalize().expect("canon").as_path())
    );
    assert_eq!(
        git(mirror.path(), &["rev-parse", "--is-bare-repository"]),
        "true"
    );
    assert_eq!(
        mirror.resolve("main").await.expect("resolve"),
        Some(fx.initial.clone())
    );
    assert_eq!(mirror.default_branch().await.expect("default"), "main");

    let second = commit_files(&fx.upstream, &[("src/lib.rs", "fn a() {}\n")], "second");
    // Not fetched yet.
    assert_eq!(
        mirror.resolve("main").await.expect("resolve"),
        Some(fx.initial.clone())
    );

    let again = fx.mirror().await;
    assert_eq!(again.path(), mirror.path());
    assert_eq!(
        again.resolve("main").await.expect("resolve"),
        Some(second.clone())
    );
    assert_eq!(mirror.resolve("main").await.expect("resolve"), Some(second));
}

#[tokio::test]
async fn the_same_source_spelled_differently_shares_one_mirror() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let mirror = fx.mirror().await;
    let dotted = fx.upstream.join("..").join("upstream");
    let other = Mirror::ensure(&fx.cache, dotted.to_str().expect("utf-8"))
        .await
        .expect("ensure");
    assert_eq!(other.path(), mirror.path());
    assert_eq!(
        cache_entries(&fx.cache),
        only(&mirror),
        "one mirror, its record, and no leftover temporary clone"
    );
}

#[tokio::test]
async fn a_refresh_prunes_deleted_upstream_branches_but_keeps_the_factorys_branches_and_refs() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    git(&fx.upstream, &["branch", "feature"]);
    let mirror = fx.mirror().await;
    assert!(
        mirror
            .resolve("refs/heads/feature")
            .await
            .expect("resolve")
            .is_some()
    );

    // A job branch and an iteration ref that upstream does not have.
    let wt = mirror
        .worktree(&fx.worktree_path("j"), "nightshift/s/j", "main")
        .await
        .expect("worktree");
    let sha = wt.commit_all("iteration 1").await.expect("commit");
    mirror
        .update_ref("refs/nightshift/s/j/1", &sha)
        .await
        .expect("update_ref");

    git(&fx.upstream, &["branch", "-D", "feature"]);
    let new_main = commit_files(&fx.upstream, &[("b", "b\n")], "upstream moves on");
    let mirror = fx.mirror().await;

    assert_eq!(
        mirror.resolve("refs/heads/feature").await.expect("resolve"),
        None
    );
    assert_eq!(
        mirror.resolve("main").await.expect("resolve"),
        Some(new_main)
    );
    assert_eq!(branch_tip(&mirror, "j").await, Some(sha.clone()));
    assert_eq!(
        mirror.refs("refs/nightshift").await.expect("refs"),
        vec![("refs/nightshift/s/j/1".to_owned(), sha)]
    );
}

#[tokio::test]
async fn resolve_answers_none_for_what_does_not_exist() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let mirror = fx.mirror().await;
    assert_eq!(
        mirror.resolve("no-such-branch").await.expect("resolve"),
        None
    );
    assert_eq!(mirror.resolve("").await.expect("resolve"), None);
    assert_eq!(mirror.resolve("--all").await.expect("resolve"), None);
    assert_eq!(
        mirror.resolve(&fx.initial[..12]).await.expect("resolve"),
        Some(fx.initial.clone())
    );
}

#[tokio::test]
async fn a_missing_source_is_refused_with_its_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nope");
    let err = Mirror::ensure(&tmp.path().join("cache"), missing.to_str().expect("utf-8"))
        .await
        .expect_err("missing source");
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn a_folder_that_is_not_a_repository_is_refused_and_leaves_no_mirror() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    let cache = tmp.path().join("cache");
    let err = Mirror::ensure(&cache, plain.to_str().expect("utf-8"))
        .await
        .expect_err("not a repository");
    assert!(matches!(err, GitError::Failed { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(&cache).expect("ls").count(), 0);
}

#[tokio::test]
async fn open_finds_a_mirror_without_fetching_and_disk_usage_is_counted() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let mirror = fx.mirror().await;
    let opened = Mirror::open(mirror.path()).await.expect("open");
    assert_eq!(opened.path(), mirror.path());
    assert_eq!(opened.source(), mirror.source());
    assert!(mirror.disk_usage().await.expect("usage") > 0);
    let err = Mirror::open(&fx.upstream).await.expect_err("not bare");
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
}

#[tokio::test]
async fn only_a_branch_whose_tip_the_factory_made_is_pushed_over() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    // A person pushed a `nightshift/…` branch upstream; a fresh mirror clones it.
    git(&fx.upstream, &["branch", "nightshift/s/x"]);
    let theirs = git(&fx.upstream, &["rev-parse", "nightshift/s/x"]);
    let mirror = fx.mirror().await;
    let refused = mirror
        .push_own_branch("nightshift/s/x")
        .await
        .expect_err("their tip is not ours");
    assert!(
        refused.to_string().contains(&format!(
            "holds commit {theirs}, which the factory did not make"
        )),
        "{refused}"
    );
    // Outside `nightshift/` nothing is pushed at all.
    assert!(matches!(
        mirror.push_own_branch("main").await,
        Err(GitError::InvalidArgument { .. })
    ));
    // Once the tip is one of the factory's iterations, the branch is its own.
    mirror
        .update_ref("refs/nightshift/s/x/1", &theirs)
        .await
        .expect("ref");
    mirror
        .push_own_branch("nightshift/s/x")
        .await
        .expect("ours");
    assert_eq!(git(&fx.upstream, &["rev-parse", "nightshift/s/x"]), theirs);
}
