mod concurrency;
mod diff;
mod mirror;
mod rebuild;
mod refs;
mod remove;
mod reset;
mod trust;
mod worktree;

use std::path::{Path, PathBuf};

use nightshift_git::{Mirror, Worktree, job_branch};
pub use nightshift_testkit::git;

/// Create a normal repository at `dir` with `files` committed on `main` as "initial commit";
/// returns the commit's sha.
pub fn init_repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    for (rel, content) in files {
        write(dir, rel, content);
    }
    git(dir, &["add", "--all"]);
    git(
        dir,
        &[
            "-c",
            "commit.gpgSign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "--message=initial commit",
        ],
    );
    git(dir, &["rev-parse", "--verify", "HEAD"])
}

/// Commit `files` on the current branch of the normal repository at `dir`.
pub fn commit_files(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (rel, content) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--no-verify", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

pub fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

/// The names in a mirror cache, sorted: the mirrors, and the folder of the factory's
/// trust records (`.nightshift-trust`).
pub fn cache_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// [`cache_entries`] of a cache holding `mirror` alone.
pub fn only(mirror: &Mirror) -> Vec<String> {
    let name = mirror.path().file_name().expect("name").to_string_lossy();
    vec![".nightshift-trust".to_owned(), name.into_owned()]
}

/// The factory's trust record of `mirror`.
pub fn record_of(mirror: &Mirror) -> PathBuf {
    let name = mirror.path().file_name().expect("name");
    mirror
        .path()
        .parent()
        .expect("cache")
        .join(".nightshift-trust")
        .join(name)
}

pub fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).expect("read")
}

/// Where the mirror's branch of job `job` in shift `s` points.
pub async fn branch_tip(mirror: &Mirror, job: &str) -> Option<String> {
    mirror
        .resolve(&format!("refs/heads/{}", job_branch("s", job)))
        .await
        .expect("resolve")
}

/// An upstream repository, a mirror cache and a place for worktrees, in one temporary folder.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub upstream: PathBuf,
    pub cache: PathBuf,
    pub initial: String,
}

impl Fixture {
    pub async fn new(files: &[(&str, &str)]) -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let upstream = tmp.path().join("upstream");
        let initial = init_repo(&upstream, files);
        let cache = tmp.path().join("cache");
        Fixture {
            tmp,
            upstream,
            cache,
            initial,
        }
    }

    pub async fn mirror(&self) -> Mirror {
        Mirror::ensure(&self.cache, self.upstream.to_str().expect("utf-8"))
            .await
            .expect("ensure")
    }

    pub fn worktree_path(&self, name: &str) -> PathBuf {
        self.tmp.path().join("worktrees").join(name)
    }

    /// A mirror and a worktree on the job branch of shift `s`, job `name`, from `main`.
    pub async fn job(&self, name: &str) -> (Mirror, Worktree) {
        let mirror = self.mirror().await;
        let wt = mirror
            .worktree(&self.worktree_path(name), &job_branch("s", name), "main")
            .await
            .expect("worktree");
        (mirror, wt)
    }
}
