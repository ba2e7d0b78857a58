//! The forge stand-in: a real HTTP server speaking the subset of GitHub's REST API (v3)
//! that landing uses — repositories, pull requests, labels, commit statuses, check runs,
//! reviews and comments, merges — over bare git repositories on disk, which are the
//! remotes the factory pushes to. A real client (`octocrab`) is its client in the tests.
//!
//! Besides the API it plays the people and the CI around a pull request:
//! - [`ForgeStandIn::set_ci`]: a repository's CI, a shell command run on every new head of
//!   an open pull request in a fresh clone at that commit; its exit status and its output's
//!   end become a completed check run, as GitHub Actions would post one.
//! - [`ForgeStandIn::close_pull`], [`ForgeStandIn::review`], [`ForgeStandIn::comment`]: what
//!   a person does on the web page.
//! - [`ForgeStandIn::fail_next`]: the forge's failures (401, 404, 422, 429 with
//!   `Retry-After`, 500) injected on matching requests.
//!
//! A pull request whose head its base branch contains is reported merged, as GitHub does
//! when the branch is landed by a push.

mod api;
mod ci;
mod json;
mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use state::{Fault, PullSeen, ReviewKind};
use state::{Forge, Review};

/// A running forge stand-in on `127.0.0.1`.
pub struct ForgeStandIn {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    ci: tokio::task::JoinHandle<()>,
}

pub(crate) struct Shared {
    pub forge: Mutex<Forge>,
    pub token: String,
    pub root: PathBuf,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Forge> {
        self.forge.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ForgeStandIn {
    /// Serve a forge whose bare repositories live under `root`; `token` is the one token
    /// it accepts.
    pub async fn start(root: &Path, token: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            forge: Mutex::new(Forge::new(format!("http://{addr}"))),
            token: token.to_string(),
            root: root.to_path_buf(),
        });
        let app = api::router(shared.clone());
        #[expect(
            clippy::disallowed_methods,
            reason = "the server task is owned by the ForgeStandIn, which aborts it on drop"
        )]
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("forge stand-in stopped: {e}");
            }
        });
        #[expect(
            clippy::disallowed_methods,
            reason = "the CI loop is owned by the ForgeStandIn, which aborts it on drop"
        )]
        let ci = tokio::spawn(ci::run(shared.clone()));
        Ok(Self {
            addr,
            shared,
            server,
            ci,
        })
    }

    /// The GitHub API base (`api_base` of a `kind = "github"` forge).
    pub fn github_api(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// A bare repository `owner/name` whose default branch starts at `seed`'s
    /// `default_branch` (a clone of `seed`). Its path is the remote the factory pushes to.
    pub fn add_repo(&self, full_name: &str, seed: &Path, default_branch: &str) -> PathBuf {
        let bare = self.shared.root.join(format!("{full_name}.git"));
        if let Some(parent) = bare.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        crate::git(
            &self.shared.root,
            &[
                "clone",
                "--quiet",
                "--bare",
                &seed.display().to_string(),
                &bare.display().to_string(),
            ],
        );
        crate::git(
            &bare,
            &[
                "symbolic-ref",
                "HEAD",
                &format!("refs/heads/{default_branch}"),
            ],
        );
        self.shared
            .lock()
            .add_repo(full_name, bare.clone(), default_branch);
        bare
    }

    /// The repository's CI: `command` run with `sh -c` in a clone at each new head of an
    /// open pull request, reported as the check run `name`.
    pub fn set_ci(&self, full_name: &str, name: &str, command: &str) {
        self.shared.lock().set_ci(full_name, name, command);
    }

    /// Answer the next `times` requests matching `fault` with its status.
    pub fn fail_next(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// A person closes the pull request without merging it.
    pub fn close_pull(&self, full_name: &str, number: u64) {
        self.shared.lock().close(full_name, number);
    }

    /// A person reviews the pull request; `line` makes `body` a comment on that line of
    /// `path` as well.
    pub fn review(
        &self,
        full_name: &str,
        number: u64,
        kind: ReviewKind,
        body: &str,
        line: Option<(&str, u64)>,
    ) {
        self.shared.lock().review(
            full_name,
            number,
            Review {
                kind,
                body: body.to_string(),
                line: line.map(|(p, l)| (p.to_string(), l)),
            },
        );
    }

    /// A person comments on the pull request's conversation.
    pub fn comment(&self, full_name: &str, number: u64, body: &str) {
        self.shared.lock().comment(full_name, number, body);
    }

    /// Every pull request of the repository, as a person would see its page now.
    pub fn pulls(&self, full_name: &str) -> Vec<PullSeen> {
        self.shared.lock().seen(full_name)
    }

    /// CI runs started so far (one per head of an open pull request).
    pub fn ci_runs(&self) -> usize {
        self.shared.lock().ci_started
    }

    /// Wait until CI has no run in progress and has looked at every open head.
    pub async fn ci_idle(&self) {
        loop {
            if self.shared.lock().ci_is_idle() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Every request served: `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// The bare repository of `owner/name`.
    pub fn repo_path(&self, full_name: &str) -> PathBuf {
        self.shared.root.join(format!("{full_name}.git"))
    }
}

impl Drop for ForgeStandIn {
    fn drop(&mut self) {
        self.server.abort();
        self.ci.abort();
    }
}
