//! A mirror an agent tampered with (the red-team findings): its configuration, hooks and
//! the factory's refs are never trusted, and a changed mirror is rebuilt from its source.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use nightshift_git::{GitError, iteration_ref, job_branch};

use super::{Fixture, git, write};

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").ino()
}

/// The mirror's own configuration, as `git config --list` prints it.
fn config(mirror: &Path) -> String {
    git(mirror, &["config", "--file", "config", "--list"])
}

/// What a fresh bare clone of `upstream` holds in its configuration.
fn clean_config(upstream: &Path) -> String {
    format!(
        "core.repositoryformatversion=0\ncore.filemode=true\ncore.bare=true\nremote.origin.url={}",
        upstream.display()
    )
}

/// Regression: an agent set `remote.origin.pushurl` in the mirror, and the next landing
/// pushed the job's branch to the attacker's repository while the report said `pushed`.
#[tokio::test]
async fn a_pushurl_set_in_the_mirror_never_receives_the_landing() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "work\n");
    let sha = wt
        .commit_and_keep("work", Some(&iteration_ref("s", "j", 1)))
        .await
        .expect("commit");
    let attacker = fx.tmp.path().join("attacker.git");
    git(
        fx.tmp.path(),
        &["init", "--quiet", "--bare", "attacker.git"],
    );
    let pushurl = attacker.to_str().expect("utf-8");
    git(mirror.path(), &["config", "remote.origin.pushurl", pushurl]);
    let before = inode(mirror.path());

    let branch = job_branch("s", "j");
    mirror.push_branch(&branch).await.expect("push");

    let landed = git(
        &fx.upstream,
        &["rev-parse", &format!("refs/heads/{branch}")],
    );
    assert_eq!(landed, sha, "the branch landed in the source");
    assert_eq!(
        git(&attacker, &["for-each-ref"]),
        "",
        "nothing reached the attacker"
    );
    assert_ne!(inode(mirror.path()), before, "the mirror was rebuilt");
    assert_eq!(config(mirror.path()), clean_config(&fx.upstream));
    assert_eq!(
        mirror.refs("refs/nightshift").await.expect("refs"),
        vec![(iteration_ref("s", "j", 1), sha)]
    );
}

/// Regression: `uploadpack` set in the mirror ran the agent's command inside the factory at
/// the next refresh.
#[tokio::test]
async fn an_uploadpack_or_fsmonitor_set_in_the_mirror_never_runs() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let marker = fx.tmp.path().join("MARKER");
    let marker2 = fx.tmp.path().join("MARKER2");
    // fsmonitor has a fixed name: overridden on every call, so git runs with it set.
    let fsmonitor = format!("touch {}", marker2.display());
    git(mirror.path(), &["config", "core.fsmonitor", &fsmonitor]);
    write(wt.path(), "a", "work\n");
    wt.commit_all("work")
        .await
        .expect("commit despite fsmonitor");
    assert!(wt.is_clean().await.expect("status despite fsmonitor"));
    let uploadpack = format!(
        "sh -c 'touch {}; exec git-upload-pack \"$@\"' -",
        marker.display()
    );
    git(
        mirror.path(),
        &["config", "remote.origin.uploadpack", &uploadpack],
    );
    let before = inode(mirror.path());

    let refreshed = fx.mirror().await;

    assert!(!marker.exists(), "the uploadpack command ran");
    assert!(!marker2.exists(), "the fsmonitor hook ran");
    assert_ne!(inode(refreshed.path()), before, "the mirror was rebuilt");
    assert_eq!(config(refreshed.path()), clean_config(&fx.upstream));
}

/// An `include.path` pulls in a filter driver for the worktree's `.gitattributes`: the
/// factory's `git add` refuses to run rather than run its command, and the next use of the
/// mirror rebuilds it.
#[tokio::test]
async fn an_include_of_a_filter_driver_is_refused_and_the_mirror_rebuilt() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let marker = fx.tmp.path().join("MARKER3");
    let included = fx.tmp.path().join("evil.config");
    std::fs::write(
        &included,
        format!(
            "[filter \"evil\"]\n\tclean = sh -c 'touch {}; cat'\n",
            marker.display()
        ),
    )
    .expect("write");
    git(
        mirror.path(),
        &["config", "include.path", included.to_str().expect("utf-8")],
    );
    write(wt.path(), ".gitattributes", "* filter=evil\n");
    write(wt.path(), "a", "changed\n");

    let err = wt.commit_all("work").await.expect_err("refused");
    let GitError::Untrusted { file, key, .. } = &err else {
        panic!("not refused as untrusted: {err:?}");
    };
    assert_eq!(
        (file.as_path(), key.as_str()),
        (mirror.path().join("config").as_path(), "include.path")
    );
    assert!(!marker.exists(), "the filter ran");

    let before = inode(mirror.path());
    let rebuilt = fx.mirror().await;
    assert_ne!(inode(rebuilt.path()), before, "the mirror was rebuilt");
    assert_eq!(config(rebuilt.path()), clean_config(&fx.upstream));
    assert!(!marker.exists(), "the filter ran");
}

/// A hook dropped into the mirror's `hooks/` never runs, and the mirror is rebuilt
/// without it.
#[tokio::test]
async fn a_hook_dropped_into_the_mirror_never_runs_and_is_found() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let marker = fx.tmp.path().join("HOOKED");
    let hook = mirror.path().join("hooks/reference-transaction");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    write(wt.path(), "a", "work\n");
    wt.commit_and_keep("work", Some(&iteration_ref("s", "j", 1)))
        .await
        .expect("commit");
    assert!(!marker.exists(), "the hook ran");

    let before = inode(mirror.path());
    let rebuilt = fx.mirror().await;
    assert_ne!(inode(rebuilt.path()), before, "the mirror was rebuilt");
    assert!(!rebuilt.path().join("hooks/reference-transaction").exists());
    assert!(!marker.exists(), "the hook ran");
}

/// A factory ref moved by hand is found, and the rebuilt mirror has it where the factory
/// put it.
#[tokio::test]
async fn a_factory_ref_moved_by_hand_is_restored() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "work\n");
    let keep = iteration_ref("s", "j", 1);
    let sha = wt
        .commit_and_keep("work", Some(&keep))
        .await
        .expect("commit");
    git(mirror.path(), &["update-ref", &keep, &fx.initial]);
    let made = iteration_ref("s", "j", 2);
    git(mirror.path(), &["update-ref", &made, &fx.initial]);
    let before = inode(mirror.path());

    let rebuilt = fx.mirror().await;
    assert_ne!(inode(rebuilt.path()), before, "the mirror was rebuilt");
    assert_eq!(
        rebuilt.refs("refs/nightshift").await.expect("refs"),
        vec![(keep, sha)],
        "the moved ref restored, the one made by hand gone"
    );
}

/// An untouched mirror is used as it is: no rebuild on refresh or push.
#[tokio::test]
async fn an_untouched_mirror_is_not_rebuilt() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "work\n");
    mirror
        .update_ref(&iteration_ref("s", "j", 1), &fx.initial)
        .await
        .expect("update_ref");
    wt.commit_and_keep("work", Some(&iteration_ref("s", "j", 2)))
        .await
        .expect("commit");
    let before = inode(mirror.path());
    fx.mirror().await;
    mirror
        .push_branch(&job_branch("s", "j"))
        .await
        .expect("push");
    assert_eq!(inode(mirror.path()), before);
}
