//! Forges: where a job's pull request lives. GitHub (through `octocrab`, with a
//! configurable API base for GitHub Enterprise), GitLab merge requests and Gitea/Forgejo
//! pull requests (their documented REST APIs), behind one type, [`Forge`].
//!
//! The token is held here and nowhere else: it is never in an error, a `Debug` or a log
//! line. Every error names the repository and says what to do.

mod detect;
mod error;
mod gitea;
mod github;
mod gitlab;
mod model;
mod rest;
mod wire;

pub use detect::{ForgeKind, RepoPath, default_api_base, detect};
pub use error::ForgeError;
pub use model::{Check, CheckState, Feedback, FeedbackKind, NewPull, Pull, PullState};

/// The forge token: never printed, never in `Debug`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Hold `secret` (read from the environment variable a fleet entry names).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

/// One forge's API, with the token to call it.
pub struct Forge {
    inner: Inner,
}

enum Inner {
    Github(github::Github),
    Gitlab(gitlab::Gitlab),
    Gitea(gitea::Gitea),
}

macro_rules! each {
    ($self:ident, $f:ident => $call:expr) => {
        match &$self.inner {
            Inner::Github($f) => $call,
            Inner::Gitlab($f) => $call,
            Inner::Gitea($f) => $call,
        }
    };
}

impl Forge {
    /// A client for the forge of `kind` at `api_base` (for example
    /// `https://api.github.com`, `https://ghe.example.com/api/v3`,
    /// `https://gitlab.com/api/v4`, `https://gitea.example.com/api/v1`).
    pub fn new(kind: ForgeKind, api_base: &str, token: Token) -> Result<Self, ForgeError> {
        let inner = match kind {
            ForgeKind::Github => Inner::Github(github::Github::new(api_base, token)?),
            ForgeKind::Gitlab => Inner::Gitlab(gitlab::Gitlab::new(api_base, token)?),
            ForgeKind::Gitea => Inner::Gitea(gitea::Gitea::new(api_base, token)?),
        };
        Ok(Self { inner })
    }

    /// Which forge this client speaks to.
    pub fn kind(&self) -> ForgeKind {
        match &self.inner {
            Inner::Github(_) => ForgeKind::Github,
            Inner::Gitlab(_) => ForgeKind::Gitlab,
            Inner::Gitea(_) => ForgeKind::Gitea,
        }
    }

    /// The repository's default branch.
    pub async fn default_branch(&self, repo: &RepoPath) -> Result<String, ForgeError> {
        each!(self, f => f.default_branch(repo).await)
    }

    /// The newest pull request, in any state, whose head is `branch` of this repository.
    pub async fn find_pull(
        &self,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Option<Pull>, ForgeError> {
        each!(self, f => f.find_pull(repo, branch).await)
    }

    /// Open a pull request (with its labels).
    pub async fn open_pull(&self, repo: &RepoPath, new: &NewPull) -> Result<Pull, ForgeError> {
        each!(self, f => f.open_pull(repo, new).await)
    }

    /// Replace an open pull request's title and body.
    pub async fn update_pull(
        &self,
        repo: &RepoPath,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<Pull, ForgeError> {
        each!(self, f => f.update_pull(repo, number, title, body).await)
    }

    /// The pull request's current state, head and mergeability.
    pub async fn pull(&self, repo: &RepoPath, number: u64) -> Result<Pull, ForgeError> {
        each!(self, f => f.pull(repo, number).await)
    }

    /// Every check on a commit: commit statuses and check runs (or pipelines' statuses),
    /// the newest per name.
    pub async fn checks(&self, repo: &RepoPath, sha: &str) -> Result<Vec<Check>, ForgeError> {
        each!(self, f => f.checks(repo, sha).await)
    }

    /// Reviews and comments on the pull request, oldest first.
    pub async fn feedback(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> Result<Vec<Feedback>, ForgeError> {
        each!(self, f => f.feedback(repo, number).await)
    }

    /// Merge the pull request, only if its head is still `sha`.
    pub async fn merge(&self, repo: &RepoPath, number: u64, sha: &str) -> Result<(), ForgeError> {
        each!(self, f => f.merge(repo, number, sha).await)
    }
}
