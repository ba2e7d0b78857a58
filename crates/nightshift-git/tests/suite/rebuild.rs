//! Broken mirrors: found by git's checks, rebuilt from the source, the factory's refs and
//! worktrees kept.

use std::path::{Path, PathBuf};

use nightshift_git::{GitError, Mirror, iteration_ref, job_branch};

use super::{Fixture, cache_entries, commit_files, git, only, read, record_of, write};

/// A mirror with the history of a past shift: jobs `j` (two kept iterations) and `k` (one),
/// and one more iteration ref of `j` that each test breaks.
struct Shift {
    fx: Fixture,
    mirror: Mirror,
    /// Where job `j`'s worktree is.
    worktree: PathBuf,
    /// `(ref, sha)` of every factory ref that must survive, in natural order.
    kept: Vec<(String, String)>,
    /// `(branch ref, sha)` of both job branches.
    branches: Vec<(String, String)>,
    /// The ref the test breaks.
    broken: String,
}

impl Shift {
    async fn new() -> Shift {
        let fx = Fixture::new(&[("README.md", "hello\n"), ("docs/guide.md", "guide\n")]).await;
        let (mirror, wt) = fx.job("j").await;
        let mut kept = Vec::new();
        for n in 1..=2 {
            write(wt.path(), "README.md", &format!("iteration {n}\n"));
            let keep = iteration_ref("s", "j", n);
            let sha = wt
                .commit_and_keep(&format!("iteration {n}"), Some(&keep))
                .await
                .expect("commit");
            kept.push((keep, sha));
        }
        let broken = iteration_ref("s", "j", 3);
        mirror
            .update_ref(&broken, &kept[1].1)
            .await
            .expect("update_ref");
        let (_, other) = fx.job("k").await;
        write(other.path(), "docs/guide.md", "k's guide\n");
        let keep = iteration_ref("s", "k", 1);
        let k1 = other
            .commit_and_keep("iteration 1", Some(&keep))
            .await
            .expect("commit");
        kept.push((keep, k1.clone()));
        let branches = vec![
            (
                format!("refs/heads/{}", job_branch("s", "j")),
                kept[1].1.clone(),
            ),
            (format!("refs/heads/{}", job_branch("s", "k")), k1),
        ];
        Shift {
            worktree: wt.path().to_owned(),
            fx,
            mirror,
            kept,
            branches,
            broken,
        }
    }

    /// Every factory ref as the factory's record has it: the kept ones, and the one each
    /// test breaks at the commit the factory pointed it at.
    fn recorded(&self) -> Vec<(String, String)> {
        let mut all = self.kept.clone();
        all.insert(2, (self.broken.clone(), self.kept[1].1.clone()));
        all
    }

    /// The broken ref's file in the mirror.
    fn broken_file(&self) -> PathBuf {
        self.mirror.path().join(&self.broken)
    }

    /// Upstream moves on, the mirror is ensured again: it must come back whole, with the
    /// new upstream commit, the factory refs `refs`, and nothing left beside it.
    async fn ensure_rebuilds(&self, refs: Vec<(String, String)>) -> Mirror {
        let new_main = commit_files(&self.fx.upstream, &[("b", "b\n")], "upstream moves on");
        let before = inode(self.mirror.path());
        let mirror = self.fx.mirror().await;
        assert_eq!(mirror.path(), self.mirror.path());
        assert_ne!(
            inode(mirror.path()),
            before,
            "a new folder in the old one's place"
        );
        assert_eq!(
            mirror.resolve("main").await.expect("resolve"),
            Some(new_main)
        );
        assert_eq!(mirror.refs("refs/nightshift").await.expect("refs"), refs);
        assert_eq!(
            mirror.refs("refs/heads/nightshift").await.expect("refs"),
            self.branches
        );
        git(mirror.path(), &["fsck", "--no-dangling"]);
        assert_eq!(
            cache_entries(&self.fx.cache),
            only(&mirror),
            "no clone or salvage folder left beside the mirror"
        );
        mirror
    }
}

#[tokio::test]
async fn a_ref_file_holding_garbage_is_restored_from_the_record_in_the_rebuilt_mirror() {
    let shift = Shift::new().await;
    std::fs::write(shift.broken_file(), "garbage\n").expect("break");
    shift.ensure_rebuilds(shift.recorded()).await;
}

#[tokio::test]
async fn without_a_record_a_broken_ref_is_dropped_and_the_others_kept() {
    let shift = Shift::new().await;
    std::fs::remove_file(record_of(&shift.mirror)).expect("lose the record");
    std::fs::write(shift.broken_file(), "garbage\n").expect("break");
    shift.ensure_rebuilds(shift.kept.clone()).await;
}

#[tokio::test]
async fn a_ref_naming_a_missing_object_is_restored_from_the_record_in_the_rebuilt_mirror() {
    let shift = Shift::new().await;
    std::fs::write(
        shift.broken_file(),
        "1234567890123456789012345678901234567890\n",
    )
    .expect("break");
    shift.ensure_rebuilds(shift.recorded()).await;
}

#[tokio::test]
async fn a_corrupt_packed_refs_line_is_repaired_from_the_record() {
    let shift = Shift::new().await;
    git(shift.mirror.path(), &["pack-refs", "--all"]);
    assert!(!shift.broken_file().exists(), "every ref is packed");
    let packed = shift.mirror.path().join("packed-refs");
    let text = std::fs::read_to_string(&packed).expect("packed-refs");
    let corrupt: String = text
        .lines()
        .map(|l| {
            if l.ends_with(&shift.broken) {
                format!("zzzz {}\n", shift.broken)
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&packed, corrupt).expect("break");
    let err = git_fails(shift.mirror.path(), &["for-each-ref"]);
    assert!(err.contains("unexpected line in"), "{err}");
    shift.ensure_rebuilds(shift.recorded()).await;
}

#[tokio::test]
async fn a_mirror_missing_history_is_rebuilt_when_its_refresh_fails() {
    let shift = Shift::new().await;
    // The mirror loses a commit of upstream's history that every factory commit builds on,
    // below upstream's tip (its refs are all fine): the next fetch fails, and git's fsck
    // says why.
    commit_files(&shift.fx.upstream, &[("c", "c\n")], "before the refresh");
    shift.fx.mirror().await;
    let root = &shift.fx.initial;
    std::fs::remove_file(
        shift
            .mirror
            .path()
            .join("objects")
            .join(&root[..2])
            .join(&root[2..]),
    )
    .expect("lose the commit");
    shift.ensure_rebuilds(shift.recorded()).await;
}

#[tokio::test]
async fn a_job_resumes_in_its_worktree_on_the_rebuilt_mirror() {
    let shift = Shift::new().await;
    let path = &shift.worktree;
    // Work in progress: a change, a new file, and a staged file whose object only the old
    // mirror has.
    write(path, "README.md", "in progress\n");
    write(path, "notes.md", "notes\n");
    write(path, "staged.txt", "staged\n");
    git(path, &["add", "staged.txt"]);
    std::fs::write(shift.broken_file(), "garbage\n").expect("break");
    let mirror = shift.ensure_rebuilds(shift.recorded()).await;

    // What the factory does on resume: the same worktree, on the job's branch.
    let wt = mirror
        .worktree(path, &job_branch("s", "j"), "main")
        .await
        .expect("resume");
    let accepted = shift.kept[1].1.clone();
    assert_eq!(wt.head().await.expect("head"), accepted);
    assert_eq!(read(path, "README.md"), "in progress\n");
    let sha = wt
        .commit_and_keep("iteration 3", Some(&iteration_ref("s", "j", 3)))
        .await
        .expect("commit on the rebuilt mirror");
    assert_eq!(
        git(path, &["show", "--name-status", "--format=%P", &sha]),
        format!("{accepted}\n\nM\tREADME.md\nA\tnotes.md\nA\tstaged.txt")
    );
    git(mirror.path(), &["fsck", "--no-dangling"]);
    wt.reset_to(&accepted).await.expect("reset");
    assert!(wt.is_clean().await.expect("clean"));
    assert_eq!(read(path, "README.md"), "iteration 2\n");
}

#[tokio::test]
async fn a_source_that_cannot_be_reached_is_not_taken_for_a_broken_mirror() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let url = format!("file://{}", fx.upstream.display());
    let mirror = Mirror::ensure(&fx.cache, &url).await.expect("ensure");
    let wt = mirror
        .worktree(&fx.worktree_path("j"), &job_branch("s", "j"), "main")
        .await
        .expect("worktree");
    let keep = iteration_ref("s", "j", 1);
    let sha = wt
        .commit_and_keep("iteration 1", Some(&keep))
        .await
        .expect("commit");
    std::fs::rename(&fx.upstream, fx.tmp.path().join("moved")).expect("move the source");

    let err = Mirror::ensure(&fx.cache, &url)
        .await
        .expect_err("unreachable");
    assert!(matches!(err, GitError::Failed { .. }), "{err:?}");
    assert_eq!(
        mirror.refs("refs/nightshift").await.expect("refs"),
        vec![(keep, sha)],
        "the mirror is left as it was"
    );
}

#[tokio::test]
async fn a_broken_mirror_whose_source_is_gone_is_left_as_it_was() {
    let fx = Fixture::new(&[("a", "a\n")]).await;
    let url = format!("file://{}", fx.upstream.display());
    let mirror = Mirror::ensure(&fx.cache, &url).await.expect("ensure");
    mirror
        .update_ref("refs/nightshift/s/j/1", &fx.initial)
        .await
        .expect("update_ref");
    std::fs::write(mirror.path().join("refs/nightshift/s/j/2"), "garbage\n").expect("break");
    std::fs::rename(&fx.upstream, fx.tmp.path().join("moved")).expect("move the source");

    let err = Mirror::ensure(&fx.cache, &url)
        .await
        .expect_err("cannot rebuild");
    let GitError::Rebuild { broken, source, .. } = &err else {
        panic!("not a rebuild error: {err:?}");
    };
    assert_eq!(broken, "warning: ignoring broken ref refs/nightshift/s/j/2");
    assert!(matches!(**source, GitError::Failed { .. }), "{source:?}");
    assert_eq!(
        git(mirror.path(), &["rev-parse", "refs/nightshift/s/j/1"]),
        fx.initial
    );
    assert_eq!(read(mirror.path(), "refs/nightshift/s/j/2"), "garbage\n");
    assert_eq!(cache_entries(&fx.cache), only(&mirror));
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).expect("stat").ino()
}

/// Run git where it must fail; returns what it said.
fn git_fails(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(!out.status.success(), "git {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
