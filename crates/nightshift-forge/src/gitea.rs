//! Gitea and Forgejo pull requests, over the REST API v1 (`Authorization: token T`).
//!
//! A draft is a title with the `WIP: ` prefix (Gitea's default work-in-progress
//! marker); the prefix is taken off the title we report. Labels are sent as ids: the
//! repository's labels are read, and missing ones created.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::rest::Rest;
use crate::wire::{self, encode};
use crate::{
    Check, CheckState, Feedback, FeedbackKind, ForgeError, ForgeKind, NewPull, Pull, PullState,
    RepoPath, Token,
};

const PER_PAGE: usize = 50;
const DRAFT_PREFIX: &str = "WIP: ";
/// Gitea's default `WORK_IN_PROGRESS_PREFIXES`.
const DRAFT_MARKERS: [&str; 2] = ["WIP:", "[WIP]"];
const NEW_LABEL_COLOR: &str = "#ededed";

pub(crate) struct Gitea {
    rest: Rest,
}

#[derive(Deserialize)]
struct Repository {
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    html_url: Option<String>,
    url: Option<String>,
    state: String,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    draft: Option<bool>,
    title: String,
    body: Option<String>,
    head: Branch,
    base: Branch,
    #[serde(default)]
    labels: Option<Vec<Label>>,
    mergeable: Option<bool>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: String,
}

#[derive(Deserialize)]
struct Label {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct CombinedStatus {
    #[serde(default)]
    statuses: Option<Vec<Status>>,
}

/// Gitea names the state `status`; some versions and Forgejo's GitHub-style answers
/// say `state`.
#[derive(Deserialize)]
struct Status {
    id: u64,
    status: Option<String>,
    state: Option<String>,
    context: String,
    description: Option<String>,
    target_url: Option<String>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Review {
    id: u64,
    user: Option<User>,
    state: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    dismissed: bool,
    #[serde(default)]
    comments_count: u64,
    submitted_at: Option<String>,
}

#[derive(Deserialize)]
struct ReviewComment {
    id: u64,
    user: Option<User>,
    body: String,
    path: Option<String>,
    position: Option<u64>,
    original_position: Option<u64>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    user: Option<User>,
    body: String,
    created_at: Option<String>,
}

impl Gitea {
    pub fn new(api_base: &str, token: Token) -> Result<Self, ForgeError> {
        let rest = Rest::new(ForgeKind::Gitea, api_base, "Authorization", "token ", token)?;
        Ok(Self { rest })
    }

    fn repo_path(repo: &RepoPath) -> String {
        format!("/repos/{}/{}", repo.owner(), repo.name())
    }

    /// Every page of a list at `path`.
    async fn get_all<T: DeserializeOwned>(
        &self,
        repo: &RepoPath,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ForgeError> {
        self.rest
            .get_all(repo, what, path, query, ("limit", PER_PAGE))
            .await
    }

    async fn get_pull(&self, repo: &RepoPath, number: u64) -> Result<PullRequest, ForgeError> {
        let path = format!("{}/pulls/{number}", Self::repo_path(repo));
        self.rest
            .get(repo, &format!("pull request {number}"), &path, &[])
            .await
    }

    pub async fn default_branch(&self, repo: &RepoPath) -> Result<String, ForgeError> {
        let found: Repository = self
            .rest
            .get(repo, "the repository", &Self::repo_path(repo), &[])
            .await?;
        found.default_branch.ok_or_else(|| ForgeError::Decode {
            repo: repo.to_string(),
            message: "the repository has no `default_branch` (is it empty?)".to_owned(),
        })
    }

    /// Gitea's list cannot be filtered by head: every page is read.
    pub async fn find_pull(
        &self,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Option<Pull>, ForgeError> {
        let path = format!("{}/pulls", Self::repo_path(repo));
        let query = [("state", "all".to_owned())];
        let pulls: Vec<PullRequest> = self
            .get_all(repo, "the pull requests", &path, &query)
            .await?;
        let ours = |pull: &PullRequest| {
            pull.head.name == branch
                && pull
                    .head
                    .repo
                    .as_ref()
                    .is_none_or(|head| head.full_name.eq_ignore_ascii_case(repo.as_str()))
        };
        Ok(pulls
            .into_iter()
            .filter(ours)
            .max_by_key(|pull| pull.number)
            .map(to_pull))
    }

    pub async fn open_pull(&self, repo: &RepoPath, new: &NewPull) -> Result<Pull, ForgeError> {
        let labels = self.label_ids(repo, &new.labels).await?;
        let title = if new.draft {
            draft_title(&new.title)
        } else {
            new.title.clone()
        };
        let body = json!({
            "head": new.head,
            "base": new.base,
            "title": title,
            "body": new.body,
            "labels": labels,
        });
        let path = format!("{}/pulls", Self::repo_path(repo));
        let created: PullRequest = self
            .rest
            .send(Method::POST, repo, "the repository", &path, &body)
            .await?;
        tracing::info!(forge = "gitea", %repo, number = created.number, "Opened a pull request.");
        Ok(to_pull(created))
    }

    /// The ids of the labels named `names`, created (grey) where missing.
    async fn label_ids(&self, repo: &RepoPath, names: &[String]) -> Result<Vec<u64>, ForgeError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("{}/labels", Self::repo_path(repo));
        let existing: Vec<Label> = self.get_all(repo, "the labels", &path, &[]).await?;
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            match existing.iter().find(|label| &label.name == name) {
                Some(label) => ids.push(label.id),
                None => {
                    let body = json!({ "name": name, "color": NEW_LABEL_COLOR });
                    let created: Label = self
                        .rest
                        .send(Method::POST, repo, "the labels", &path, &body)
                        .await?;
                    tracing::info!(forge = "gitea", %repo, label = %name, "Created a label.");
                    ids.push(created.id);
                }
            }
        }
        Ok(ids)
    }

    /// The title is replaced; a draft stays a draft (its prefix is kept).
    pub async fn update_pull(
        &self,
        repo: &RepoPath,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<Pull, ForgeError> {
        let current = to_pull(self.get_pull(repo, number).await?);
        let title = if current.draft {
            draft_title(title)
        } else {
            title.to_owned()
        };
        let path = format!("{}/pulls/{number}", Self::repo_path(repo));
        let what = format!("pull request {number}");
        let body = json!({ "title": title, "body": body });
        let updated: PullRequest = self
            .rest
            .send(Method::PATCH, repo, &what, &path, &body)
            .await?;
        Ok(to_pull(updated))
    }

    pub async fn pull(&self, repo: &RepoPath, number: u64) -> Result<Pull, ForgeError> {
        Ok(to_pull(self.get_pull(repo, number).await?))
    }

    /// The commit's statuses, the newest per context. Gitea serves no log here.
    pub async fn checks(&self, repo: &RepoPath, sha: &str) -> Result<Vec<Check>, ForgeError> {
        let what = format!("commit {sha}");
        let path = format!("{}/commits/{}/status", Self::repo_path(repo), encode(sha));
        let statuses = wire::collect_pages(PER_PAGE, |page| {
            let query = [("limit", PER_PAGE.to_string()), ("page", page.to_string())];
            let (what, path) = (&what, &path);
            async move {
                let combined: CombinedStatus = self.rest.get(repo, what, path, &query).await?;
                Ok(combined.statuses.unwrap_or_default())
            }
        })
        .await?;
        let statuses = wire::newest_per_name(
            statuses,
            |status| status.context.as_str(),
            |status| status.id,
        );
        Ok(statuses.into_iter().map(to_check).collect())
    }

    /// Reviews (approved, changes requested, commented with a body; pending, dismissed
    /// and review requests left out), their line comments and the conversation's
    /// comments, oldest first. Ids are `review:ID`, `line:ID`, `comment:ID`.
    pub async fn feedback(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> Result<Vec<Feedback>, ForgeError> {
        let what = format!("pull request {number}");
        let base = Self::repo_path(repo);
        let reviews: Vec<Review> = self
            .get_all(repo, &what, &format!("{base}/pulls/{number}/reviews"), &[])
            .await?;
        let mut dated = Vec::new();
        for review in &reviews {
            if review.comments_count > 0 && !review.dismissed {
                let path = format!("{base}/pulls/{number}/reviews/{}/comments", review.id);
                let lines: Vec<ReviewComment> = self.rest.get(repo, &what, &path, &[]).await?;
                dated.extend(lines.into_iter().map(line_feedback));
            }
        }
        dated.extend(reviews.into_iter().filter_map(review_feedback));
        let comments: Vec<Comment> = self
            .get_all(
                repo,
                &what,
                &format!("{base}/issues/{number}/comments"),
                &[],
            )
            .await?;
        dated.extend(comments.into_iter().map(|comment| {
            let item = Feedback {
                id: format!("comment:{}", comment.id),
                kind: FeedbackKind::Commented,
                author: login(comment.user),
                body: comment.body,
                path: None,
                line: None,
            };
            (comment.created_at, item)
        }));
        // RFC 3339 times from one server sort as text; the sort is stable.
        dated.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(dated.into_iter().map(|(_, item)| item).collect())
    }

    /// A merge commit, only while the head is `sha`.
    pub async fn merge(&self, repo: &RepoPath, number: u64, sha: &str) -> Result<(), ForgeError> {
        let path = format!("{}/pulls/{number}/merge", Self::repo_path(repo));
        let body = json!({ "Do": "merge", "head_commit_id": sha });
        self.rest
            .send_only(
                Method::POST,
                repo,
                &format!("pull request {number}"),
                &path,
                &body,
            )
            .await?;
        tracing::info!(forge = "gitea", %repo, number, "Merged a pull request.");
        Ok(())
    }
}

fn draft_title(title: &str) -> String {
    if wire::strip_marker(title, &DRAFT_MARKERS).is_some() {
        title.to_owned()
    } else {
        format!("{DRAFT_PREFIX}{title}")
    }
}

fn login(user: Option<User>) -> String {
    user.map(|user| user.login).unwrap_or_default()
}

fn to_pull(pull: PullRequest) -> Pull {
    let marked = wire::strip_marker(&pull.title, &DRAFT_MARKERS);
    let draft = pull.draft.unwrap_or(marked.is_some());
    let title = match marked {
        Some(rest) if draft => rest.to_owned(),
        _ => pull.title.clone(),
    };
    let state = if pull.merged {
        PullState::Merged
    } else if pull.state == "closed" {
        PullState::Closed
    } else {
        PullState::Open
    };
    Pull {
        number: pull.number,
        url: pull.html_url.or(pull.url).unwrap_or_default(),
        state,
        draft,
        title,
        body: pull.body.unwrap_or_default(),
        head_branch: pull.head.name,
        head_sha: pull.head.sha,
        base_branch: pull.base.name,
        labels: pull
            .labels
            .unwrap_or_default()
            .into_iter()
            .map(|label| label.name)
            .collect(),
        mergeable: pull.mergeable,
    }
}

fn to_check(status: Status) -> Check {
    let state = match status.status.or(status.state).as_deref() {
        Some("success" | "warning" | "skipped") => CheckState::Success,
        Some("error" | "failure") => CheckState::Failure,
        _ => CheckState::Pending,
    };
    Check {
        name: status.context,
        state,
        summary: status.description.unwrap_or_default(),
        log_excerpt: None,
        url: status.target_url.filter(|url| !url.is_empty()),
    }
}

fn review_feedback(review: Review) -> Option<(Option<String>, Feedback)> {
    if review.dismissed {
        return None;
    }
    let kind = match review.state.as_str() {
        "APPROVED" => FeedbackKind::Approved,
        "REQUEST_CHANGES" => FeedbackKind::ChangesRequested,
        "COMMENT" if !review.body.trim().is_empty() => FeedbackKind::Commented,
        _ => return None,
    };
    let item = Feedback {
        id: format!("review:{}", review.id),
        kind,
        author: login(review.user),
        body: review.body,
        path: None,
        line: None,
    };
    Some((review.submitted_at, item))
}

/// `position` is the line in the new file; 0 means the comment is on the old side.
fn line_feedback(comment: ReviewComment) -> (Option<String>, Feedback) {
    let line = comment
        .position
        .filter(|line| *line > 0)
        .or(comment.original_position.filter(|line| *line > 0));
    let item = Feedback {
        id: format!("line:{}", comment.id),
        kind: FeedbackKind::Commented,
        author: login(comment.user),
        body: comment.body,
        path: comment.path,
        line,
    };
    (comment.created_at, item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_in_our_words() {
        let pull: PullRequest = serde_json::from_value(json!({
            "number": 2, "html_url": "http://h/o/r/pulls/2", "state": "closed", "merged": true,
            "title": "WIP: Fix it", "body": "b",
            "head": {"ref": "b", "sha": "abc", "repo": {"full_name": "o/r"}},
            "base": {"ref": "main", "sha": "def"},
            "labels": [{"id": 1, "name": "bot"}], "mergeable": false,
        }))
        .unwrap();
        assert_eq!(
            to_pull(pull),
            Pull {
                number: 2,
                url: "http://h/o/r/pulls/2".into(),
                state: PullState::Merged,
                draft: true,
                title: "Fix it".into(),
                body: "b".into(),
                head_branch: "b".into(),
                head_sha: "abc".into(),
                base_branch: "main".into(),
                labels: vec!["bot".into()],
                mergeable: Some(false),
            }
        );
    }

    #[test]
    fn statuses_map_to_checks() {
        for (status, want) in [
            (json!({"status": "pending"}), CheckState::Pending),
            (json!({"status": "success"}), CheckState::Success),
            (json!({"status": "warning"}), CheckState::Success),
            (json!({"state": "failure"}), CheckState::Failure),
            (json!({"status": "error"}), CheckState::Failure),
        ] {
            let mut value = json!({"id": 1, "context": "ci", "description": "d", "target_url": ""});
            for (key, field) in status.as_object().unwrap() {
                value[key] = field.clone();
            }
            let check = to_check(serde_json::from_value(value).unwrap());
            assert_eq!((check.state, check.url), (want, None), "{status}");
        }
    }

    #[test]
    fn review_states() {
        let review = |state: &str, body: &str| Review {
            id: 3,
            user: Some(User {
                login: "ann".into(),
            }),
            state: state.into(),
            body: body.into(),
            dismissed: false,
            comments_count: 0,
            submitted_at: None,
        };
        let kind = |r: Review| review_feedback(r).map(|(_, item)| item.kind);
        assert_eq!(kind(review("APPROVED", "")), Some(FeedbackKind::Approved));
        assert_eq!(
            kind(review("REQUEST_CHANGES", "no")),
            Some(FeedbackKind::ChangesRequested)
        );
        assert_eq!(kind(review("COMMENT", "hm")), Some(FeedbackKind::Commented));
        assert_eq!(kind(review("COMMENT", " ")), None);
        assert_eq!(kind(review("PENDING", "x")), None);
        assert_eq!(kind(review("REQUEST_REVIEW", "")), None);
    }
}
