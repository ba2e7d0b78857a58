//! What the forge stand-in holds: repositories, pull requests, statuses, check runs,
//! reviews and comments, and the faults it was told to inject.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A failure to inject: the next `times` requests whose method is `method` and whose path
/// contains `path_contains` are answered `status` (with `Retry-After: retry_after_s` when
/// set, and GitHub's rate-limit headers for a 403 or 429).
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: String,
    pub path_contains: String,
    pub status: u16,
    pub retry_after_s: Option<u64>,
    pub times: u32,
}

/// A review's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewKind {
    Approve,
    RequestChanges,
    Comment,
}

impl ReviewKind {
    pub(crate) fn github_state(self) -> &'static str {
        match self {
            Self::Approve => "APPROVED",
            Self::RequestChanges => "CHANGES_REQUESTED",
            Self::Comment => "COMMENTED",
        }
    }
}

/// A pull request as its page shows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSeen {
    pub number: u64,
    /// `open`, `closed` or `merged`.
    pub state: String,
    pub title: String,
    pub body: String,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub draft: bool,
    pub labels: Vec<String>,
    /// `(check name, conclusion)` on the head: `success`, `failure`, or `pending`.
    pub checks: Vec<(String, String)>,
}

pub(crate) struct Review {
    pub kind: ReviewKind,
    pub body: String,
    pub line: Option<(String, u64)>,
}

pub(crate) struct Repo {
    pub id: u64,
    pub bare: PathBuf,
    pub default_branch: String,
    pub ci: Option<(String, String)>,
}

pub(crate) struct Pull {
    pub id: u64,
    pub repo: String,
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub draft: bool,
    pub closed: bool,
    pub merged: bool,
    pub labels: Vec<String>,
    pub created: u64,
    pub updated: u64,
    pub closed_at: Option<u64>,
}

pub(crate) struct Status {
    pub id: u64,
    pub context: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub at: u64,
}

pub(crate) struct CheckRun {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub started: u64,
    pub completed: Option<u64>,
}

pub(crate) struct Note {
    pub id: u64,
    pub repo: String,
    pub number: u64,
    /// A review's state (`APPROVED`…), or `None` for a comment.
    pub review: Option<&'static str>,
    pub body: String,
    pub line: Option<(String, u64)>,
    pub commit: String,
    pub at: u64,
}

pub(crate) struct Forge {
    pub base: String,
    pub repos: BTreeMap<String, Repo>,
    pub pulls: Vec<Pull>,
    /// By `repo@sha`.
    pub statuses: BTreeMap<String, Vec<Status>>,
    pub runs: BTreeMap<String, Vec<CheckRun>>,
    pub notes: Vec<Note>,
    pub faults: Vec<super::Fault>,
    pub requests: Vec<String>,
    next_id: u64,
    clock: u64,
    /// `repo@sha` heads CI has started on.
    pub ci_seen: HashSet<String>,
    pub ci_started: usize,
    pub ci_running: usize,
}

impl Forge {
    pub fn new(base: String) -> Self {
        Self {
            base,
            repos: BTreeMap::new(),
            pulls: Vec::new(),
            statuses: BTreeMap::new(),
            runs: BTreeMap::new(),
            notes: Vec::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            next_id: 1000,
            clock: 0,
            ci_seen: HashSet::new(),
            ci_started: 0,
            ci_running: 0,
        }
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A logical clock: every change is one second after the one before.
    pub fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn add_repo(&mut self, full_name: &str, bare: PathBuf, default_branch: &str) {
        let id = self.id();
        self.repos.insert(
            full_name.to_string(),
            Repo {
                id,
                bare,
                default_branch: default_branch.to_string(),
                ci: None,
            },
        );
    }

    pub fn set_ci(&mut self, full_name: &str, name: &str, command: &str) {
        if let Some(r) = self.repos.get_mut(full_name) {
            r.ci = Some((name.to_string(), command.to_string()));
        }
    }

    /// The commit a branch of the repository points at now.
    pub fn branch_sha(&self, repo: &str, branch: &str) -> Option<String> {
        rev_parse(&self.repos.get(repo)?.bare, &format!("refs/heads/{branch}"))
    }

    /// Whether `branch`'s base contains its head: landed by a push (or merged here).
    pub fn refresh_merged(&mut self) {
        let mut landed = Vec::new();
        for (i, p) in self.pulls.iter().enumerate() {
            if p.closed {
                continue;
            }
            let Some(repo) = self.repos.get(&p.repo) else {
                continue;
            };
            let (Some(head), Some(base)) = (
                rev_parse(&repo.bare, &format!("refs/heads/{}", p.head)),
                rev_parse(&repo.bare, &format!("refs/heads/{}", p.base)),
            ) else {
                continue;
            };
            if is_ancestor(&repo.bare, &head, &base) {
                landed.push(i);
            }
        }
        for i in landed {
            let at = self.tick();
            let p = &mut self.pulls[i];
            p.closed = true;
            p.merged = true;
            p.closed_at = Some(at);
        }
    }

    pub fn pull_mut(&mut self, repo: &str, number: u64) -> Option<&mut Pull> {
        self.pulls
            .iter_mut()
            .find(|p| p.repo == repo && p.number == number)
    }

    pub fn close(&mut self, repo: &str, number: u64) {
        let at = self.tick();
        if let Some(p) = self.pull_mut(repo, number) {
            p.closed = true;
            p.closed_at = Some(at);
            p.updated = at;
        }
    }

    pub fn review(&mut self, repo: &str, number: u64, review: Review) {
        let commit = self.head_of(repo, number).unwrap_or_default();
        let (id, at) = (self.id(), self.tick());
        self.notes.push(Note {
            id,
            repo: repo.to_string(),
            number,
            review: Some(review.kind.github_state()),
            body: review.body.clone(),
            line: None,
            commit: commit.clone(),
            at,
        });
        if let Some(line) = review.line {
            let (id, at) = (self.id(), self.tick());
            self.notes.push(Note {
                id,
                repo: repo.to_string(),
                number,
                review: None,
                body: review.body,
                line: Some(line),
                commit,
                at,
            });
        }
    }

    pub fn comment(&mut self, repo: &str, number: u64, body: &str) {
        let (id, at) = (self.id(), self.tick());
        self.notes.push(Note {
            id,
            repo: repo.to_string(),
            number,
            review: None,
            body: body.to_string(),
            line: None,
            commit: String::new(),
            at,
        });
    }

    pub fn head_of(&self, repo: &str, number: u64) -> Option<String> {
        let p = self
            .pulls
            .iter()
            .find(|p| p.repo == repo && p.number == number)?;
        self.branch_sha(repo, &p.head)
    }

    pub fn seen(&mut self, repo: &str) -> Vec<PullSeen> {
        self.refresh_merged();
        let mut out = Vec::new();
        for p in self.pulls.iter().filter(|p| p.repo == repo) {
            let head_sha = self.branch_sha(repo, &p.head).unwrap_or_default();
            let key = format!("{repo}@{head_sha}");
            let checks = self
                .runs
                .get(&key)
                .map(|runs| {
                    runs.iter()
                        .map(|r| {
                            (
                                r.name.clone(),
                                r.conclusion.clone().unwrap_or_else(|| "pending".into()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(PullSeen {
                number: p.number,
                state: if p.merged {
                    "merged"
                } else if p.closed {
                    "closed"
                } else {
                    "open"
                }
                .into(),
                title: p.title.clone(),
                body: p.body.clone(),
                head: p.head.clone(),
                head_sha,
                base: p.base.clone(),
                draft: p.draft,
                labels: p.labels.clone(),
                checks,
            });
        }
        out
    }

    pub fn ci_is_idle(&self) -> bool {
        if self.ci_running > 0 {
            return false;
        }
        self.pulls.iter().filter(|p| !p.closed).all(|p| {
            let has_ci = self.repos.get(&p.repo).is_some_and(|r| r.ci.is_some());
            let sha = self.branch_sha(&p.repo, &p.head).unwrap_or_default();
            !has_ci || self.ci_seen.contains(&format!("{}@{sha}", p.repo))
        })
    }

    /// The fault matching this request, used up by one.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<super::Fault> {
        let i = self.faults.iter().position(|f| {
            f.times > 0 && f.method.eq_ignore_ascii_case(method) && path.contains(&f.path_contains)
        })?;
        self.faults[i].times -= 1;
        let f = self.faults[i].clone();
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(f)
    }
}

pub(crate) fn rev_parse(bare: &Path, rev: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(crate) fn is_ancestor(bare: &Path, a: &str, b: &str) -> bool {
    Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["merge-base", "--is-ancestor", a, b])
        .status()
        .is_ok_and(|s| s.success())
}
