//! Worktrees: new branches, commits with and without changes, the factory's refs, resume.

use nightshift_git::{GitError, Identity, iteration_prefix, iteration_ref, job_branch};

use super::{Fixture, branch_tip, git, read, write};

#[tokio::test]
async fn a_worktree_on_a_new_branch_commits_with_and_without_changes() {
    let fx = Fixture::new(&[("README.md", "hello\n")]).await;
    let (mirror, wt) = fx.job("j").await;

    assert_eq!(wt.branch(), "nightshift/s/j");
    assert_eq!(wt.head().await.expect("head"), fx.initial);
    assert_eq!(read(wt.path(), "README.md"), "hello\n");
    assert!(wt.is_clean().await.expect("clean"));
    assert_eq!(
        git(wt.path(), &["symbolic-ref", "HEAD"]),
        "refs/heads/nightshift/s/j"
    );

    write(wt.path(), "src/new.rs", "fn new() {}\n");
    write(wt.path(), "README.md", "hello again\n");
    assert!(!wt.is_clean().await.expect("dirty"));
    let first = wt.commit_all("iteration 1").await.expect("commit");
    assert!(wt.is_clean().await.expect("clean"));
    assert_eq!(wt.head().await.expect("head"), first);
    assert_eq!(git(wt.path(), &["rev-parse", "HEAD~1"]), fx.initial);
    assert_eq!(
        git(
            wt.path(),
            &[
                "show",
                "--name-status",
                "--format=%an <%ae>|%cn <%ce>|%B",
                "HEAD"
            ]
        ),
        "nightshift <nightshift@localhost>|nightshift <nightshift@localhost>|iteration 1\n\n\nM\tREADME.md\nA\tsrc/new.rs"
    );

    let empty = wt
        .commit_all("iteration 2: nothing to do")
        .await
        .expect("empty commit");
    assert_ne!(empty, first);
    assert_eq!(git(wt.path(), &["rev-parse", "HEAD~1"]), first);
    assert_eq!(git(wt.path(), &["diff", "--name-only", &first, &empty]), "");

    // The branch lives in the mirror.
    assert_eq!(branch_tip(&mirror, "j").await, Some(empty));
}

#[tokio::test]
async fn iteration_refs_are_listed_in_natural_order() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let mut made = Vec::new();
    for n in 1..=11u32 {
        write(wt.path(), "a", &format!("{n}\n"));
        let sha = wt
            .commit_all(&format!("iteration {n}"))
            .await
            .expect("commit");
        mirror
            .update_ref(&iteration_ref("s", "j", n), &sha)
            .await
            .expect("update_ref");
        made.push((format!("refs/nightshift/s/j/{n}"), sha));
    }
    // A neighbouring job whose name extends this one's must not be listed with it.
    mirror
        .update_ref(&iteration_ref("s", "j2", 1), &made[0].1)
        .await
        .expect("update_ref");

    assert_eq!(
        mirror
            .refs(&iteration_prefix("s", "j"))
            .await
            .expect("refs"),
        made
    );
    assert_eq!(
        mirror.refs("refs/nightshift/s/j/").await.expect("refs"),
        made
    );
    let all = mirror.refs("refs/nightshift").await.expect("refs");
    assert_eq!(all.len(), 12);
    assert_eq!(all[11].0, "refs/nightshift/s/j2/1");

    let err = mirror
        .refs("nightshift/s")
        .await
        .expect_err("not under refs/");
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err:?}");
    let err = mirror
        .update_ref("nightshift/s/j/1", &made[0].1)
        .await
        .expect_err("not under refs/");
    assert!(matches!(err, GitError::InvalidArgument { .. }), "{err:?}");
}

#[tokio::test]
async fn the_agents_hooks_and_signing_settings_do_not_run_in_the_commit_path() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    let hooks = fx.tmp.path().join("evil-hooks");
    std::fs::create_dir_all(&hooks).expect("mkdir");
    let marker = fx.tmp.path().join("hook-ran");
    for hook in [
        "pre-commit",
        "commit-msg",
        "prepare-commit-msg",
        "post-commit",
        "reference-transaction",
    ] {
        let script = hooks.join(hook);
        std::fs::write(
            &script,
            format!("#!/bin/sh\ntouch {}\nexit 1\n", marker.display()),
        )
        .expect("hook");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    git(
        wt.path(),
        &["config", "core.hooksPath", hooks.to_str().expect("utf-8")],
    );
    git(wt.path(), &["config", "commit.gpgSign", "true"]);

    write(wt.path(), "a", "changed\n");
    let sha = wt
        .commit_all("#1 keeps its hash line\n\nbody")
        .await
        .expect("commit despite hooks");
    assert!(!marker.exists(), "a hook ran");
    assert_eq!(
        git(wt.path(), &["log", "-1", "--format=%B", &sha]),
        "#1 keeps its hash line\n\nbody"
    );
    // What the agent configured is still visible to the gates.
    assert_eq!(
        wt.config_get("core.hooksPath").await.expect("config"),
        Some(hooks.to_str().expect("utf-8").to_owned())
    );
    assert_eq!(
        wt.config_get("nightshift.unset").await.expect("config"),
        None
    );
}

#[tokio::test]
async fn a_commit_lands_on_the_job_branch_even_if_the_agent_switched_branches() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    git(wt.path(), &["checkout", "-q", "-b", "agent-branch"]);
    write(wt.path(), "a", "agent's work\n");
    let sha = wt.commit_all("iteration 1").await.expect("commit");
    assert_eq!(
        git(wt.path(), &["symbolic-ref", "HEAD"]),
        "refs/heads/nightshift/s/j"
    );
    assert_eq!(branch_tip(&mirror, "j").await, Some(sha.clone()));
    assert_eq!(
        git(wt.path(), &["show", &format!("{sha}:a")]),
        "agent's work"
    );
    assert_eq!(
        git(wt.path(), &["rev-parse", &format!("{sha}~1")]),
        fx.initial
    );
}

#[tokio::test]
async fn a_custom_identity_signs_the_factorys_commits() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let mirror = fx.mirror().await.with_identity(Identity {
        name: "Bot".to_owned(),
        email: "bot@example.com".to_owned(),
    });
    let wt = mirror
        .worktree(&fx.worktree_path("j"), &job_branch("s", "j"), "main")
        .await
        .expect("worktree");
    let sha = wt.commit_all("x").await.expect("commit");
    assert_eq!(
        git(
            wt.path(),
            &["log", "-1", "--format=%an <%ae>|%cn <%ce>", &sha]
        ),
        "Bot <bot@example.com>|Bot <bot@example.com>"
    );
}

#[tokio::test]
async fn resume_returns_the_existing_worktree_with_its_commits_and_clears_stale_locks() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "one\n");
    let first = wt.commit_all("iteration 1").await.expect("commit");
    write(wt.path(), "notes.md", "work in progress\n");
    let path = wt.path().to_owned();
    drop(wt);

    // A `kill -9` during `git add` leaves the index locked.
    let git_dir = git(&path, &["rev-parse", "--absolute-git-dir"]);
    std::fs::write(std::path::Path::new(&git_dir).join("index.lock"), "").expect("lock");

    // Start points are ignored for an existing branch: nothing is reset.
    let again = mirror
        .worktree(&path, &job_branch("s", "j"), "main")
        .await
        .expect("resume");
    assert_eq!(again.path(), path);
    assert_eq!(again.head().await.expect("head"), first);
    assert_eq!(read(&path, "notes.md"), "work in progress\n");
    let second = again
        .commit_all("iteration 2")
        .await
        .expect("commit after resume");
    assert_eq!(git(&path, &["rev-parse", &format!("{second}~1")]), first);

    // Another branch at the same path is a conflict, not a silent switch.
    let err = mirror
        .worktree(&path, &job_branch("s", "other"), "main")
        .await
        .expect_err("wrong branch");
    assert!(matches!(err, GitError::WorktreeConflict { .. }), "{err:?}");
}

#[tokio::test]
async fn a_worktree_whose_folder_vanished_is_added_again_on_its_branch() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a", "kept\n");
    let sha = wt.commit_all("iteration 1").await.expect("commit");
    let path = wt.path().to_owned();
    std::fs::remove_dir_all(&path).expect("rm");

    let again = mirror
        .worktree(&path, &job_branch("s", "j"), "main")
        .await
        .expect("re-add");
    assert_eq!(again.head().await.expect("head"), sha);
    assert_eq!(read(&path, "a"), "kept\n");

    // The branch is not held by a worktree whose folder is gone, wherever it was.
    std::fs::remove_dir_all(&path).expect("rm");
    let elsewhere = mirror
        .worktree(
            &fx.worktree_path("elsewhere"),
            &job_branch("s", "j"),
            "main",
        )
        .await
        .expect("re-add elsewhere");
    assert_eq!(elsewhere.head().await.expect("head"), sha);
}

#[tokio::test]
async fn occupied_paths_and_branches_are_refused() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;

    let occupied = fx.worktree_path("occupied");
    write(&occupied, "precious.txt", "do not clobber\n");
    let err = mirror
        .worktree(&occupied, &job_branch("s", "k"), "main")
        .await
        .expect_err("occupied folder");
    assert!(matches!(err, GitError::WorktreeConflict { .. }), "{err:?}");
    assert_eq!(read(&occupied, "precious.txt"), "do not clobber\n");

    let err = mirror
        .worktree(&fx.worktree_path("second"), wt.branch(), "main")
        .await
        .expect_err("branch in use");
    assert!(
        err.to_string().contains(&wt.path().display().to_string()),
        "{err}"
    );

    let err = mirror
        .worktree(
            &fx.worktree_path("bad-start"),
            &job_branch("s", "x"),
            "no-such-start",
        )
        .await
        .expect_err("unknown start");
    assert!(matches!(err, GitError::UnknownRevision { .. }), "{err:?}");
}

#[tokio::test]
async fn a_worktree_add_killed_half_way_is_made_again_on_resume() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let path = wt.path().to_owned();
    // What `git worktree add` leaves when killed before its checkout finished.
    let git_dir = git(&path, &["rev-parse", "--absolute-git-dir"]);
    std::fs::write(
        std::path::Path::new(&git_dir).join("locked"),
        "initializing",
    )
    .expect("lock");
    std::fs::remove_file(path.join("a")).expect("half checkout");
    drop(wt);

    let again = mirror
        .worktree(&path, &job_branch("s", "j"), "main")
        .await
        .expect("made again");
    assert_eq!(read(&path, "a"), "a\n");
    assert!(again.is_clean().await.expect("clean"));
    assert!(!git(mirror.path(), &["worktree", "list", "--porcelain"]).contains("locked"));
}

#[tokio::test]
async fn disk_usage_counts_every_byte_under_the_worktree_ignored_files_included() {
    let fx = Fixture::new(&[(".gitignore", "target/\n"), ("a", "12345\n")]).await;
    let (_mirror, wt) = fx.job("j").await;
    let dot_git = std::fs::metadata(wt.path().join(".git"))
        .expect(".git file")
        .len();
    assert_eq!(wt.disk_usage().await.expect("usage"), dot_git + 8 + 6);
    write(wt.path(), "target/debug/big.o", &"o".repeat(1000));
    std::os::unix::fs::symlink("/usr", wt.path().join("target/link")).expect("symlink");
    assert_eq!(
        wt.disk_usage().await.expect("usage"),
        dot_git + 8 + 6 + 1000 + "/usr".len() as u64,
        "the symbolic link counts as itself, not what it points to"
    );
}

#[tokio::test]
async fn commit_and_keep_moves_the_branch_and_the_kept_ref_together() {
    let fx = Fixture::new(&[("a.txt", "a\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    write(wt.path(), "a.txt", "b\n");
    let keep = iteration_ref("s", "j", 1);
    let c = wt
        .commit_and_keep("iteration 1", Some(&keep))
        .await
        .expect("commit");
    assert_eq!(branch_tip(&mirror, "j").await, Some(c.clone()));
    assert_eq!(
        mirror.resolve(&keep).await.expect("resolve"),
        Some(c.clone())
    );

    // A kept ref outside refs/ is refused before anything is committed or moved.
    write(wt.path(), "a.txt", "c\n");
    let err = wt
        .commit_and_keep("iteration 2", Some("nightshift/s/j/2"))
        .await
        .expect_err("refused");
    assert!(
        matches!(err, GitError::InvalidArgument { .. }),
        "unexpected: {err}"
    );
    assert_eq!(branch_tip(&mirror, "j").await, Some(c));
    assert_eq!(
        read(wt.path(), "a.txt"),
        "c\n",
        "the work is still in the worktree"
    );
}

/// What `git stripspace` (the cleanup of `git commit --cleanup=whitespace`) makes of `text`.
fn stripspace(text: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("git")
        .arg("stripspace")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git stripspace");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The iteration's commit, by `git commit-tree`: its message cleaned up as `git commit`
/// would (`#` lines kept), the factory's identity, the job's branch tip as parent, and a
/// sound repository.
#[tokio::test]
async fn the_commit_holds_the_message_as_git_commit_cleans_it_up() {
    let fx = Fixture::new(&[("a.txt", "a\n"), ("dir/b.txt", "b\n")]).await;
    let (mirror, wt) = fx.job("j").await;
    let parent = wt.head().await.expect("head");
    write(wt.path(), "dir/b.txt", "c\n");
    let message = "\n#1 nightshift: s / j iteration 1\n\n\nchanged b  \n\n\n";
    let c = wt
        .commit_and_keep(message, Some(&iteration_ref("s", "j", 1)))
        .await
        .expect("commit");
    let cleaned = stripspace(message);
    assert_eq!(cleaned, "#1 nightshift: s / j iteration 1\n\nchanged b\n");

    let text = git(mirror.path(), &["cat-file", "commit", &c]);
    let when = text
        .lines()
        .find_map(|l| l.strip_prefix("committer nightshift <nightshift@localhost> "))
        .expect("committer line")
        .to_string();
    let tree = git(mirror.path(), &["rev-parse", &format!("{c}^{{tree}}")]);
    assert_eq!(
        text,
        format!(
            "tree {tree}\nparent {parent}\nauthor nightshift <nightshift@localhost> {when}\ncommitter nightshift <nightshift@localhost> {when}\n\n{}",
            cleaned.trim_end()
        )
    );
    git(mirror.path(), &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(git(wt.path(), &["show", "HEAD:dir/b.txt"]), "c");
    assert!(wt.is_clean().await.expect("clean"));
}

#[tokio::test]
async fn a_fresh_worktree_has_an_index_newer_than_its_files() {
    // Files checked out in the same second as the index are "racily clean": every later
    // index write would re-read them all. A new worktree's index is written after that second.
    // Only indexes of some size are settled (about 600 files and up).
    let files: Vec<(String, String)> = (0..1500)
        .map(|i| (format!("f{i}.txt"), format!("{i}\n")))
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let fx = Fixture::new(&borrowed).await;
    let (_mirror, wt) = fx.job("j").await;
    let secs = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .expect("mtime")
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs()
    };
    let admin = git(wt.path(), &["rev-parse", "--absolute-git-dir"]);
    let index = secs(&std::path::Path::new(&admin).join("index"));
    let newest = files
        .iter()
        .map(|(p, _)| secs(&wt.path().join(p)))
        .max()
        .expect("files");
    assert!(
        index > newest,
        "index written at {index}, a file at {newest}"
    );
}
