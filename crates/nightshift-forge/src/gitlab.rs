//! GitLab merge requests, over the REST API v4 (`PRIVATE-TOKEN`).
//!
//! A project is addressed by its URL-encoded full path (`group%2Fsub%2Fname`). A draft
//! is asked for with `draft: true` and with the `Draft: ` title prefix (older GitLab
//! knows only the prefix); the prefix is taken off the title we report.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::rest::Rest;
use crate::wire::{self, encode};
use crate::{
    Check, CheckState, Feedback, FeedbackKind, ForgeError, ForgeKind, NewPull, Pull, PullState,
    RepoPath, Token,
};

const PER_PAGE: usize = 100;
const DRAFT_PREFIX: &str = "Draft: ";
/// GitLab's draft markers (and the older "work in progress" ones).
const DRAFT_MARKERS: [&str; 5] = ["Draft:", "[Draft]", "(Draft)", "WIP:", "[WIP]"];

pub(crate) struct Gitlab {
    rest: Rest,
}

#[derive(Deserialize)]
struct Project {
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    state: String,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    work_in_progress: Option<bool>,
    title: String,
    description: Option<String>,
    source_branch: String,
    target_branch: String,
    sha: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    has_conflicts: bool,
    merge_status: Option<String>,
    detailed_merge_status: Option<String>,
}

#[derive(Deserialize)]
struct CommitStatus {
    id: u64,
    name: String,
    status: String,
    description: Option<String>,
    target_url: Option<String>,
}

#[derive(Deserialize)]
struct Note {
    id: u64,
    body: String,
    author: Author,
    #[serde(default)]
    system: bool,
    position: Option<Position>,
}

#[derive(Deserialize)]
struct Author {
    username: String,
}

#[derive(Deserialize)]
struct Position {
    new_path: Option<String>,
    old_path: Option<String>,
    new_line: Option<u64>,
    old_line: Option<u64>,
}

impl Gitlab {
    pub fn new(api_base: &str, token: Token) -> Result<Self, ForgeError> {
        let rest = Rest::new(ForgeKind::Gitlab, api_base, "PRIVATE-TOKEN", "", token)?;
        Ok(Self { rest })
    }

    fn project(repo: &RepoPath) -> String {
        format!("/projects/{}", encode(repo.as_str()))
    }

    fn mr_path(repo: &RepoPath, iid: u64) -> String {
        format!("{}/merge_requests/{iid}", Self::project(repo))
    }

    /// Every page of a list at `path`.
    async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        repo: &RepoPath,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ForgeError> {
        self.rest
            .get_all(repo, what, path, query, ("per_page", PER_PAGE))
            .await
    }

    async fn merge_request(&self, repo: &RepoPath, iid: u64) -> Result<MergeRequest, ForgeError> {
        let what = format!("merge request !{iid}");
        self.rest
            .get(repo, &what, &Self::mr_path(repo, iid), &[])
            .await
    }

    pub async fn default_branch(&self, repo: &RepoPath) -> Result<String, ForgeError> {
        let project: Project = self
            .rest
            .get(repo, "the project", &Self::project(repo), &[])
            .await?;
        project.default_branch.ok_or_else(|| ForgeError::Decode {
            repo: repo.to_string(),
            message: "the project has no `default_branch` (is its repository empty?)".to_owned(),
        })
    }

    pub async fn find_pull(
        &self,
        repo: &RepoPath,
        branch: &str,
    ) -> Result<Option<Pull>, ForgeError> {
        let path = format!("{}/merge_requests", Self::project(repo));
        let query = [
            ("source_branch", branch.to_owned()),
            ("state", "all".to_owned()),
        ];
        let found: Vec<MergeRequest> = self.get_all(repo, "the project", &path, &query).await?;
        Ok(found
            .into_iter()
            .filter(|mr| mr.source_branch == branch)
            .max_by_key(|mr| mr.iid)
            .map(to_pull))
    }

    pub async fn open_pull(&self, repo: &RepoPath, new: &NewPull) -> Result<Pull, ForgeError> {
        let title = if new.draft {
            draft_title(&new.title)
        } else {
            new.title.clone()
        };
        let body = json!({
            "source_branch": new.head,
            "target_branch": new.base,
            "title": title,
            "description": new.body,
            "labels": new.labels.join(","),
            "draft": new.draft,
        });
        let path = format!("{}/merge_requests", Self::project(repo));
        let created: MergeRequest = self
            .rest
            .send(Method::POST, repo, "the project", &path, &body)
            .await?;
        tracing::info!(forge = "gitlab", %repo, number = created.iid, "Opened a merge request.");
        Ok(to_pull(created))
    }

    /// The title is replaced; a draft stays a draft (its prefix is kept).
    pub async fn update_pull(
        &self,
        repo: &RepoPath,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<Pull, ForgeError> {
        let current = self.merge_request(repo, number).await?;
        let title = if is_draft(&current) {
            draft_title(title)
        } else {
            title.to_owned()
        };
        let what = format!("merge request !{number}");
        let body = json!({ "title": title, "description": body });
        let updated: MergeRequest = self
            .rest
            .send(
                Method::PUT,
                repo,
                &what,
                &Self::mr_path(repo, number),
                &body,
            )
            .await?;
        Ok(to_pull(updated))
    }

    pub async fn pull(&self, repo: &RepoPath, number: u64) -> Result<Pull, ForgeError> {
        Ok(to_pull(self.merge_request(repo, number).await?))
    }

    /// The commit's statuses (pipeline jobs and external ones), the newest per name.
    /// GitLab serves no log here.
    pub async fn checks(&self, repo: &RepoPath, sha: &str) -> Result<Vec<Check>, ForgeError> {
        let what = format!("commit {sha}");
        let path = format!(
            "{}/repository/commits/{}/statuses",
            Self::project(repo),
            encode(sha)
        );
        let statuses: Vec<CommitStatus> = self.get_all(repo, &what, &path, &[]).await?;
        let statuses =
            wire::newest_per_name(statuses, |status| status.name.as_str(), |status| status.id);
        Ok(statuses.into_iter().map(to_check).collect())
    }

    /// The merge request's notes (system notes left out), each `Commented`: `line:ID`
    /// for a note on a line of the diff, `comment:ID` otherwise. GitLab has no review
    /// object with a verdict in its notes: when the merge request's
    /// `detailed_merge_status` is `requested_changes`, one synthetic `ChangesRequested`
    /// item (`review:requested_changes`, no author) comes last.
    pub async fn feedback(
        &self,
        repo: &RepoPath,
        number: u64,
    ) -> Result<Vec<Feedback>, ForgeError> {
        let what = format!("merge request !{number}");
        let path = format!("{}/notes", Self::mr_path(repo, number));
        let query = [
            ("sort", "asc".to_owned()),
            ("order_by", "created_at".to_owned()),
        ];
        let notes: Vec<Note> = self.get_all(repo, &what, &path, &query).await?;
        let mut feedback: Vec<Feedback> = notes
            .into_iter()
            .filter(|note| !note.system)
            .map(note_feedback)
            .collect();
        let current = self.merge_request(repo, number).await?;
        if current.detailed_merge_status.as_deref() == Some("requested_changes") {
            feedback.push(Feedback {
                id: "review:requested_changes".to_owned(),
                kind: FeedbackKind::ChangesRequested,
                author: String::new(),
                body: "A reviewer requested changes.".to_owned(),
                path: None,
                line: None,
            });
        }
        Ok(feedback)
    }

    /// Merge, only while the head is `sha` (GitLab answers 409 otherwise).
    pub async fn merge(&self, repo: &RepoPath, number: u64, sha: &str) -> Result<(), ForgeError> {
        let what = format!("merge request !{number}");
        let path = format!("{}/merge", Self::mr_path(repo, number));
        self.rest
            .send_only(Method::PUT, repo, &what, &path, &json!({ "sha": sha }))
            .await?;
        tracing::info!(forge = "gitlab", %repo, number, "Merged a merge request.");
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

fn is_draft(mr: &MergeRequest) -> bool {
    mr.draft.or(mr.work_in_progress).unwrap_or(false)
}

fn to_pull(mr: MergeRequest) -> Pull {
    let draft = is_draft(&mr);
    let title = match wire::strip_marker(&mr.title, &DRAFT_MARKERS) {
        Some(rest) if draft => rest.to_owned(),
        _ => mr.title.clone(),
    };
    let state = match mr.state.as_str() {
        "merged" => PullState::Merged,
        "closed" | "locked" => PullState::Closed,
        _ => PullState::Open,
    };
    let unknown = |status: Option<&str>| {
        matches!(
            status,
            Some(
                "checking"
                    | "unchecked"
                    | "preparing"
                    | "approvals_syncing"
                    | "cannot_be_merged_recheck"
            )
        )
    };
    let mergeable = if mr.has_conflicts || mr.merge_status.as_deref() == Some("cannot_be_merged") {
        Some(false)
    } else if unknown(mr.detailed_merge_status.as_deref()) || unknown(mr.merge_status.as_deref()) {
        None
    } else {
        Some(true)
    };
    Pull {
        number: mr.iid,
        url: mr.web_url,
        state,
        draft,
        title,
        body: mr.description.unwrap_or_default(),
        head_branch: mr.source_branch,
        head_sha: mr.sha.unwrap_or_default(),
        base_branch: mr.target_branch,
        labels: mr.labels,
        mergeable,
    }
}

fn to_check(status: CommitStatus) -> Check {
    let state = match status.status.as_str() {
        "success" | "skipped" => CheckState::Success,
        "failed" | "canceled" | "canceling" => CheckState::Failure,
        // pending, running, created, manual, scheduled, waiting_for_resource, preparing
        _ => CheckState::Pending,
    };
    Check {
        name: status.name,
        state,
        summary: status.description.unwrap_or_default(),
        log_excerpt: None,
        url: status.target_url,
    }
}

fn note_feedback(note: Note) -> Feedback {
    let (kind, path, line) = match note.position {
        Some(position) => (
            "line",
            position.new_path.or(position.old_path),
            position.new_line.or(position.old_line),
        ),
        None => ("comment", None, None),
    };
    Feedback {
        id: format!("{kind}:{}", note.id),
        kind: FeedbackKind::Commented,
        author: note.author.username,
        body: note.body,
        path,
        line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mr(value: serde_json::Value) -> MergeRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_merge_request_in_our_words() {
        let pull = to_pull(mr(json!({
            "iid": 4, "web_url": "https://gitlab.com/g/r/-/merge_requests/4", "state": "opened",
            "draft": true, "title": "Draft: Fix it", "description": null,
            "source_branch": "b", "target_branch": "main", "sha": "abc",
            "labels": ["x"], "has_conflicts": false, "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
        })));
        assert_eq!(
            pull,
            Pull {
                number: 4,
                url: "https://gitlab.com/g/r/-/merge_requests/4".into(),
                state: PullState::Open,
                draft: true,
                title: "Fix it".into(),
                body: String::new(),
                head_branch: "b".into(),
                head_sha: "abc".into(),
                base_branch: "main".into(),
                labels: vec!["x".into()],
                mergeable: Some(true),
            }
        );
    }

    #[test]
    fn states_and_mergeability() {
        let base = |state: &str, conflicts: bool, detailed: &str| {
            to_pull(mr(json!({
                "iid": 1, "web_url": "u", "state": state, "title": "Draft: t",
                "source_branch": "b", "target_branch": "main",
                "has_conflicts": conflicts, "detailed_merge_status": detailed,
            })))
        };
        let p = base("merged", false, "not_open");
        assert_eq!(
            (p.state, p.mergeable, p.draft, p.title.as_str()),
            (PullState::Merged, Some(true), false, "Draft: t")
        );
        assert_eq!(base("locked", false, "x").state, PullState::Closed);
        assert_eq!(base("closed", false, "x").state, PullState::Closed);
        assert_eq!(base("opened", true, "conflict").mergeable, Some(false));
        assert_eq!(base("opened", false, "checking").mergeable, None);
    }

    #[test]
    fn statuses_map_to_checks() {
        for (status, want) in [
            ("pending", CheckState::Pending),
            ("running", CheckState::Pending),
            ("created", CheckState::Pending),
            ("manual", CheckState::Pending),
            ("scheduled", CheckState::Pending),
            ("success", CheckState::Success),
            ("skipped", CheckState::Success),
            ("failed", CheckState::Failure),
            ("canceled", CheckState::Failure),
        ] {
            let check = to_check(CommitStatus {
                id: 1,
                name: "ci".into(),
                status: status.into(),
                description: None,
                target_url: None,
            });
            assert_eq!(check.state, want, "{status}");
        }
    }

    #[test]
    fn draft_titles_are_not_prefixed_twice() {
        assert_eq!(draft_title("Fix"), "Draft: Fix");
        assert_eq!(draft_title("Draft: Fix"), "Draft: Fix");
    }
}
