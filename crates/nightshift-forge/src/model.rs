//! What a forge answers, in our words.

use serde::Serialize;

/// A pull request (a GitLab merge request), as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pull {
    /// GitHub's and Gitea's number, GitLab's `iid`.
    pub number: u64,
    /// The page a person opens.
    pub url: String,
    pub state: PullState,
    pub draft: bool,
    pub title: String,
    pub body: String,
    pub head_branch: String,
    pub head_sha: String,
    pub base_branch: String,
    pub labels: Vec<String>,
    /// `Some(false)` when the forge says it conflicts with its base; `None` while unknown.
    pub mergeable: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullState {
    Open,
    /// Closed without merging (by a person, as far as the factory is concerned).
    Closed,
    Merged,
}

/// A pull request to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPull {
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub draft: bool,
    pub labels: Vec<String>,
}

/// One named check on a commit: a commit status, a check run, or a pipeline job's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub state: CheckState,
    /// The one-line description or the check run's title and summary.
    pub summary: String,
    /// The check's log or output text where the forge serves it (a check run's
    /// `output.text`), at most 16 KiB, its end kept.
    pub log_excerpt: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Queued or running.
    Pending,
    Success,
    /// Failed, errored, cancelled or timed out.
    Failure,
}

/// A review or a comment a person left on the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// The forge's id, unique within the pull request and its kind.
    pub id: String,
    pub kind: FeedbackKind,
    pub author: String,
    pub body: String,
    /// A line comment's place.
    pub path: Option<String>,
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    Approved,
    ChangesRequested,
    /// A review with comments only, a line comment, or a comment on the conversation.
    Commented,
}
