//! GitHub and GitHub Enterprise Server, through `octocrab`.
//!
//! Requests go through octocrab's raw `_get`/`_post`/`_patch`/`_put`, which return the
//! whole `http::Response`: its typed calls turn an error answer into an error that
//! hides the headers, and the rate limit's wait is in the headers (`Retry-After`,
//! `x-ratelimit-reset`). Bodies are read into octocrab's own models, so their shapes
//! are the library's.
//!
//! octocrab's connector (hyper-rustls, `https_or_http`) speaks plain `http` too, which
//! a local stand-in needs. It loads the system's root certificates when it is built,
//! and refuses to build where there are none.

use std::time::Duration;

use http::Method;
use octocrab::Octocrab;
use octocrab::models::checks::{CheckRun, ListCheckRuns};
use octocrab::models::pulls::{self, PullRequest, ReviewState};
use octocrab::models::{CombinedStatus, IssueState, Label, Repository, StatusState, issues};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::wire::{self, Call, LOG_EXCERPT_BYTES, encode};
use crate::{
    Check, CheckState, Feedback, FeedbackKind, ForgeError, ForgeKind, NewPull, Pull, PullState,
    RepoPath, Token,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const PER_PAGE: usize = 100;

pub(crate) struct Github {
    crab: Octocrab,
    token: Token,
}

impl Github {
    pub fn new(api_base: &str, token: Token) -> Result<Self, ForgeError> {
        let base = wire::api_base(api_base, &token)?;
        // octocrab parses the header itself and panics on a bad one: check it first.
        wire::auth_value("Bearer ", &token)?;
        let config_error = |error: octocrab::Error| ForgeError::Config {
            message: wire::scrub(
                &format!("could not build the GitHub client for {base}: {error}"),
                &token,
            ),
        };
        let crab = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(config_error)?
            .personal_token(token.expose().to_owned())
            .add_header(
                http::header::ACCEPT,
                "application/vnd.github+json".to_owned(),
            )
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(READ_TIMEOUT))
            .build()
            .map_err(config_error)?;
        Ok(Self { crab, token })
    }

    fn call<'a>(&'a self, repo: &'a RepoPath, what: &'a str) -> Call<'a> {
        Call {
            kind: ForgeKind::Github,
            token: &self.token,
            repo,
            what,
        }
    }

    /// One request; the answer's body as `T`. `path` is relative to the API base (so
    /// octocrab adds the token) and carries its query.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        repo: &RepoPath,
        what: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ForgeError> {
        let call = self.call(repo, what);
        tracing::debug!(forge = "github", %repo, %method, path, "Calling the forge.");
        let sent = match method {
            Method::POST => self.crab._post(path, body).await,
            Method::PATCH => self.crab._patch(path, body).await,
            Method::PUT => self.crab._put(path, body).await,
            _ => self.crab._get(path).await,
        };
        let response = sent.map_err(|error| call.transport(&error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = self
            .crab
            .body_to_string(response)
            .await
            .map_err(|error| call.transport(&error))?;
        call.decode(&call.check(status, &headers, text)?)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        repo: &RepoPath,
        what: &str,
        path: &str,
    ) -> Result<T, ForgeError> {
        self.request(Method::GET, repo, what, path, None).await
    }

    /// Every page of a list at `path` (which has a query already).
    async fn get_all<T: DeserializeOwned>(
        &self,
        repo: &RepoPath,
        what: &str,
        path: &str,
    ) -> Result<Vec<T>, ForgeError> {
        wire::collect_pages(PER_PAGE, |page| {
            let path = format!("{path}&per_page={PER_PAGE}&page={page}");
            async move { self.get::<Vec<T>>(repo, what, &path).await }
        })
        .await
    }

    fn repo_path(repo: &RepoPath) -> String {
        format!("/repos/{}/{}", repo.owner(), repo.name())
    }

    pub async fn default_branch(&self, repo: &RepoPath) -> Result<String, ForgeError> {
        let found: Repository = self
            .get(repo, "the repository", &Self::repo_path(repo))
            .await?;
        found.default_branch.ok_or_else(|| ForgeError::Decode {
            repo: repo.to_string(),
            message: "the repository has no `default_branch` (is it empty?)".to_owned(),
        })
    }

    pub async fn find_pull(
        &self,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Option<Pull>, ForgeError> {
        let head = encode(&format!("{}:{branch}", repo.owner()));
        let path = format!("{}/pulls?state=all&head={head}", Self::repo_path(repo));
        let pulls: Vec<PullRequest> = self.get_all(repo, "the pull requests", &path).await?;
        Ok(pulls
            .into_iter()
            .filter(|pull| pull.head.ref_field == branch)
            .max_by_key(|pull| pull.number)
            .map(to_pull))
    }

    pub async fn open_pull(&self, repo: &RepoPath, new: &NewPull) -> Result<Pull, ForgeError> {
        let body = json!({
            "title": new.title,
            "head": new.head,
            "base": new.base,
            "body": new.body,
            "draft": new.draft,
        });
        let path = format!("{}/pulls", Self::repo_path(repo));
        let created: PullRequest = self
            .request(Method::POST, repo, "the repository", &path, Some(&body))
            .await?;
        let mut pull = to_pull(created);
        if !new.labels.is_empty() {
            let path = format!("{}/issues/{}/labels", Self::repo_path(repo), pull.number);
            let what = format!("pull request {}", pull.number);
            let body = json!({ "labels": new.labels });
            let labels: Vec<Label> = self
                .request(Method::POST, repo, &what, &path, Some(&body))
                .await?;
            pull.labels = labels.into_iter().map(|label| label.name).collect();
        }
        tracing::info!(forge = "github", %repo, number = pull.number, "Opened a pull request.");
        Ok(pull)
    }

    pub async fn update_pull(
        &self,
        repo: &RepoPath,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<Pull, ForgeError> {
        let path = format!("{}/pulls/{number}", Self::repo_path(repo));
        let what = format!("pull request {number}");
        let body = json!({ "title": title, "body": body });
        let updated: PullRequest = self
            .request(Method::PATCH, repo, &what, &path, Some(&body))
            .await?;
        Ok(to_pull(updated))
    }

    pub async fn pull(&self, repo: &RepoPath, number: u64) -> Result<Pull, ForgeError> {
        let path = format!("{}/pulls/{number}", Self::repo_path(repo));
        let found: PullRequest = self
            .get(repo, &format!("pull request {number}"), &path)
            .await?;
        Ok(to_pull(found))
    }

    /// Commit statuses (the combined status: the newest per context) and check runs
    /// (the newest per name). A name used by both kinds appears once for each.
    pub async fn checks(&self, repo: &RepoPath, sha: &str) -> Result<Vec<Check>, ForgeError> {
        let what = format!("commit {sha}");
        let path = format!(
            "{}/commits/{}/status?per_page={PER_PAGE}",
            Self::repo_path(repo),
            encode(sha)
        );
        let combined: CombinedStatus = self.get(repo, &what, &path).await?;
        let statuses = wire::newest_per_name(
            combined.statuses,
            |status| status.context.as_deref().unwrap_or(""),
            |status| status.updated_at.or(status.created_at),
        );
        let path = format!(
            "{}/commits/{}/check-runs?filter=latest",
            Self::repo_path(repo),
            encode(sha)
        );
        let runs = wire::collect_pages(PER_PAGE, |page| {
            let path = format!("{path}&per_page={PER_PAGE}&page={page}");
            let what = &what;
            async move {
                let list: ListCheckRuns = self.get(repo, what, &path).await?;
                Ok(list.check_runs)
            }
        })
        .await?;
        let runs = wire::newest_per_name(
            runs,
            |run| run.name.as_str(),
            |run| (run.started_at, run.id.0),
        );
        let mut checks: Vec<Check> = statuses.into_iter().map(status_check).collect();
        checks.extend(runs.into_iter().map(run_check));
        Ok(checks)
    }

    /// Reviews (approved, changes requested, commented with a body; pending and
    /// dismissed ones left out), line comments and conversation comments, oldest first.
    /// Ids are `review:ID`, `line:ID`, `comment:ID`.
    pub async fn feedback(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> Result<Vec<Feedback>, ForgeError> {
        let what = format!("pull request {number}");
        let base = Self::repo_path(repo);
        let reviews: Vec<pulls::Review> = self
            .get_all(
                repo,
                &what,
                &format!("{base}/pulls/{number}/reviews?sort=created"),
            )
            .await?;
        let lines: Vec<pulls::Comment> = self
            .get_all(
                repo,
                &what,
                &format!("{base}/pulls/{number}/comments?sort=created&direction=asc"),
            )
            .await?;
        let comments: Vec<issues::Comment> = self
            .get_all(
                repo,
                &what,
                &format!("{base}/issues/{number}/comments?sort=created"),
            )
            .await?;
        let mut dated = Vec::new();
        for review in reviews {
            if let Some(item) = review_feedback(&review) {
                dated.push((review.submitted_at, item));
            }
        }
        for line in lines {
            dated.push((
                Some(line.created_at),
                Feedback {
                    id: format!("line:{}", line.id),
                    kind: FeedbackKind::Commented,
                    author: line.user.map(|user| user.login).unwrap_or_default(),
                    body: line.body,
                    path: Some(line.path),
                    line: line.line.or(line.original_line),
                },
            ));
        }
        for comment in comments {
            dated.push((
                Some(comment.created_at),
                Feedback {
                    id: format!("comment:{}", comment.id),
                    kind: FeedbackKind::Commented,
                    author: comment.user.login,
                    body: comment.body.unwrap_or_default(),
                    path: None,
                    line: None,
                },
            ));
        }
        // Stable: items with the same time keep the order above.
        dated.sort_by_key(|(at, _)| *at);
        Ok(dated.into_iter().map(|(_, item)| item).collect())
    }

    /// A merge commit, only while the head is `sha` (GitHub answers 409 otherwise).
    pub async fn merge(&self, repo: &RepoPath, number: u64, sha: &str) -> Result<(), ForgeError> {
        let path = format!("{}/pulls/{number}/merge", Self::repo_path(repo));
        let body = json!({ "sha": sha, "merge_method": "merge" });
        let _: serde_json::Value = self
            .request(
                Method::PUT,
                repo,
                &format!("pull request {number}"),
                &path,
                Some(&body),
            )
            .await?;
        tracing::info!(forge = "github", %repo, number, "Merged a pull request.");
        Ok(())
    }
}

fn to_pull(pull: PullRequest) -> Pull {
    let state = if pull.merged_at.is_some() || pull.merged == Some(true) {
        PullState::Merged
    } else if pull.state == Some(IssueState::Closed) {
        PullState::Closed
    } else {
        PullState::Open
    };
    Pull {
        number: pull.number,
        url: pull.html_url.map_or(pull.url, |url| url.to_string()),
        state,
        draft: pull.draft.unwrap_or(false),
        title: pull.title.unwrap_or_default(),
        body: pull.body.unwrap_or_default(),
        head_branch: pull.head.ref_field,
        head_sha: pull.head.sha,
        base_branch: pull.base.ref_field,
        labels: pull
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|label| label.name)
            .collect(),
        mergeable: pull.mergeable,
    }
}

fn status_check(status: octocrab::models::Status) -> Check {
    let state = match status.state {
        StatusState::Success => CheckState::Success,
        StatusState::Pending => CheckState::Pending,
        _ => CheckState::Failure,
    };
    Check {
        name: status.context.unwrap_or_default(),
        state,
        summary: status.description.unwrap_or_default(),
        log_excerpt: None,
        url: status.target_url,
    }
}

/// A check run without a conclusion is queued or in progress.
fn run_check(run: CheckRun) -> Check {
    let state = match run.conclusion.as_deref() {
        None => CheckState::Pending,
        Some("success" | "neutral" | "skipped") => CheckState::Success,
        Some(_) => CheckState::Failure,
    };
    let output = run.output;
    let summary = match (output.title.as_deref(), output.summary.as_deref()) {
        (Some(title), Some(summary)) if !title.is_empty() && !summary.is_empty() => {
            format!("{title}: {summary}")
        }
        (Some(title), _) if !title.is_empty() => title.to_owned(),
        (_, summary) => summary.unwrap_or_default().to_owned(),
    };
    let log = output
        .text
        .filter(|text| !text.is_empty())
        .or(output.summary);
    Check {
        name: run.name,
        state,
        summary,
        log_excerpt: log.map(|text| wire::keep_tail(&text, LOG_EXCERPT_BYTES)),
        url: run.html_url.or(run.details_url),
    }
}

fn review_feedback(review: &pulls::Review) -> Option<Feedback> {
    let body = review.body.clone().unwrap_or_default();
    let kind = match review.state? {
        ReviewState::Approved => FeedbackKind::Approved,
        ReviewState::ChangesRequested => FeedbackKind::ChangesRequested,
        ReviewState::Commented if !body.trim().is_empty() => FeedbackKind::Commented,
        _ => return None,
    };
    Some(Feedback {
        id: format!("review:{}", review.id),
        kind,
        author: review
            .user
            .as_ref()
            .map(|user| user.login.clone())
            .unwrap_or_default(),
        body,
        path: None,
        line: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_api_base_is_a_config_error() {
        let error = Github::new("not a url", Token::new("ghp_x")).err().unwrap();
        assert!(matches!(error, ForgeError::Config { .. }), "{error}");
    }

    /// octocrab's client spawns its buffer task, so it is built inside a runtime.
    #[tokio::test]
    async fn plain_http_bases_build() {
        assert!(Github::new("http://127.0.0.1:1/api/v3", Token::new("ghp_x")).is_ok());
    }
}
