//! GitHub's objects as its REST API (v3) documents them, with every field its official
//! clients require.

use serde_json::{Value, json};

use super::state::{CheckRun, Forge, Note, Pull, Status};

/// A logical second as a timestamp: 2026-12-01T00:00:00Z plus `t` seconds.
pub fn time(t: u64) -> String {
    let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
    let day = 1 + t / 86_400;
    format!("2026-12-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

pub fn user(base: &str, login: &str) -> Value {
    let u = format!("{base}/api/v3/users/{login}");
    json!({
        "login": login, "id": login.len() as u64 * 7 + 1, "node_id": format!("U_{login}"),
        "avatar_url": format!("{base}/avatars/{login}"), "gravatar_id": "",
        "url": u, "html_url": format!("{base}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false
    })
}

pub fn repo(f: &Forge, full_name: &str) -> Value {
    let r = &f.repos[full_name];
    let (owner, name) = full_name.split_once('/').unwrap_or(("", full_name));
    let api = format!("{}/api/v3/repos/{full_name}", f.base);
    json!({
        "id": r.id, "node_id": format!("R_{}", r.id), "name": name, "full_name": full_name,
        "owner": user(&f.base, owner), "private": false,
        "html_url": format!("{}/{full_name}", f.base), "url": api,
        "clone_url": format!("file://{}", r.bare.display()), "default_branch": r.default_branch,
        "archived": false, "disabled": false, "fork": false, "visibility": "public",
        "created_at": time(0), "updated_at": time(0), "pushed_at": time(0)
    })
}

fn label(f: &Forge, full_name: &str, name: &str) -> Value {
    let id = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 1_000_000;
    json!({
        "id": id, "node_id": format!("LA_{id}"),
        "url": format!("{}/api/v3/repos/{full_name}/labels/{name}", f.base),
        "name": name, "description": null, "color": "ededed", "default": false
    })
}

pub fn labels(f: &Forge, full_name: &str, names: &[String]) -> Value {
    Value::Array(names.iter().map(|n| label(f, full_name, n)).collect())
}

fn branch_ref(f: &Forge, p: &Pull, branch: &str) -> Value {
    let (owner, _) = p.repo.split_once('/').unwrap_or(("", ""));
    json!({
        "label": format!("{owner}:{branch}"), "ref": branch,
        "sha": f.branch_sha(&p.repo, branch).unwrap_or_default(),
        "user": user(&f.base, owner), "repo": repo(f, &p.repo)
    })
}

pub fn pull(f: &Forge, p: &Pull) -> Value {
    let api = format!("{}/api/v3/repos/{}", f.base, p.repo);
    let html = format!("{}/{}/pull/{}", f.base, p.repo, p.number);
    let state = if p.closed { "closed" } else { "open" };
    let mergeable = match (
        f.branch_sha(&p.repo, &p.head),
        f.branch_sha(&p.repo, &p.base),
    ) {
        (Some(h), Some(b)) => {
            let bare = &f.repos[&p.repo].bare;
            Some(super::state::is_ancestor(bare, &b, &h) || merges_cleanly(bare, &b, &h))
        }
        _ => None,
    };
    json!({
        "url": format!("{api}/pulls/{}", p.number), "id": p.id, "node_id": format!("PR_{}", p.id),
        "html_url": html, "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
        "issue_url": format!("{api}/issues/{}", p.number),
        "commits_url": format!("{api}/pulls/{}/commits", p.number),
        "review_comments_url": format!("{api}/pulls/{}/comments", p.number),
        "comments_url": format!("{api}/issues/{}/comments", p.number),
        "statuses_url": format!("{api}/statuses/{}", f.branch_sha(&p.repo, &p.head).unwrap_or_default()),
        "number": p.number, "state": state, "locked": false, "title": p.title, "body": p.body,
        "user": user(&f.base, "nightshift"), "labels": labels(f, &p.repo, &p.labels),
        "created_at": time(p.created), "updated_at": time(p.updated),
        "closed_at": p.closed_at.map(time), "merged_at": if p.merged { p.closed_at.map(time) } else { None },
        "merged": p.merged, "mergeable": if p.closed { None } else { mergeable },
        "draft": p.draft, "head": branch_ref(f, p, &p.head), "base": branch_ref(f, p, &p.base),
        "author_association": "CONTRIBUTOR"
    })
}

/// Whether `head` merges into `base` without a conflict (`git merge-tree`).
fn merges_cleanly(bare: &std::path::Path, base: &str, head: &str) -> bool {
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["merge-tree", "--write-tree", base, head])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn status(f: &Forge, s: &Status) -> Value {
    json!({
        "url": format!("{}/api/v3/statuses/{}", f.base, s.id), "id": s.id, "node_id": format!("SC_{}", s.id),
        "state": s.state, "description": s.description, "target_url": s.target_url,
        "context": s.context, "created_at": time(s.at), "updated_at": time(s.at),
        "creator": user(&f.base, "ci")
    })
}

pub fn combined(f: &Forge, full_name: &str, sha: &str, statuses: &[&Status]) -> Value {
    let state = if statuses
        .iter()
        .any(|s| s.state == "failure" || s.state == "error")
    {
        "failure"
    } else if statuses.is_empty() || statuses.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    json!({
        "state": state, "sha": sha, "total_count": statuses.len(),
        "statuses": statuses.iter().map(|s| status(f, s)).collect::<Vec<_>>(),
        "repository": repo(f, full_name),
        "commit_url": format!("{}/api/v3/repos/{full_name}/commits/{sha}", f.base),
        "url": format!("{}/api/v3/repos/{full_name}/commits/{sha}/status", f.base)
    })
}

pub fn check_run(f: &Forge, full_name: &str, sha: &str, r: &CheckRun) -> Value {
    json!({
        "id": r.id, "node_id": format!("CR_{}", r.id), "head_sha": sha, "external_id": "",
        "url": format!("{}/api/v3/repos/{full_name}/check-runs/{}", f.base, r.id),
        "html_url": format!("{}/{full_name}/runs/{}", f.base, r.id),
        "details_url": format!("{}/{full_name}/runs/{}", f.base, r.id),
        "status": r.status, "conclusion": r.conclusion,
        "started_at": time(r.started), "completed_at": r.completed.map(time),
        "output": {"title": r.title, "summary": r.summary, "text": r.text,
                   "annotations_count": 0, "annotations_url": format!("{}/api/v3/repos/{full_name}/check-runs/{}/annotations", f.base, r.id)},
        "name": r.name, "pull_requests": []
    })
}

pub fn review(f: &Forge, n: &Note) -> Value {
    let html = format!(
        "{}/{}/pull/{}#pullrequestreview-{}",
        f.base, n.repo, n.number, n.id
    );
    json!({
        "id": n.id, "node_id": format!("PRR_{}", n.id), "user": user(&f.base, "reviewer"),
        "body": n.body, "state": n.review, "html_url": html,
        "pull_request_url": format!("{}/api/v3/repos/{}/pulls/{}", f.base, n.repo, n.number),
        "commit_id": n.commit, "submitted_at": time(n.at), "author_association": "MEMBER",
        "_links": {"html": {"href": html}, "pull_request": {"href": format!("{}/api/v3/repos/{}/pulls/{}", f.base, n.repo, n.number)}}
    })
}

pub fn line_comment(f: &Forge, n: &Note) -> Value {
    let (path, line) = n.line.clone().unwrap_or_default();
    let api = format!("{}/api/v3/repos/{}/pulls/comments/{}", f.base, n.repo, n.id);
    let html = format!(
        "{}/{}/pull/{}#discussion_r{}",
        f.base, n.repo, n.number, n.id
    );
    let pr = format!("{}/api/v3/repos/{}/pulls/{}", f.base, n.repo, n.number);
    json!({
        "url": api, "id": n.id, "node_id": format!("PRRC_{}", n.id), "pull_request_review_id": null,
        "diff_hunk": "@@", "path": path, "position": line, "original_position": line,
        "commit_id": n.commit, "original_commit_id": n.commit, "user": user(&f.base, "reviewer"),
        "body": n.body, "created_at": time(n.at), "updated_at": time(n.at), "html_url": html,
        "pull_request_url": pr, "author_association": "MEMBER", "line": line, "original_line": line,
        "side": "RIGHT",
        "_links": {"self": {"href": api}, "html": {"href": html}, "pull_request": {"href": pr}}
    })
}

pub fn issue_comment(f: &Forge, n: &Note) -> Value {
    let api = format!(
        "{}/api/v3/repos/{}/issues/comments/{}",
        f.base, n.repo, n.id
    );
    json!({
        "id": n.id, "node_id": format!("IC_{}", n.id), "url": api,
        "html_url": format!("{}/{}/pull/{}#issuecomment-{}", f.base, n.repo, n.number, n.id),
        "issue_url": format!("{}/api/v3/repos/{}/issues/{}", f.base, n.repo, n.number),
        "body": n.body, "user": user(&f.base, "reviewer"), "author_association": "MEMBER",
        "created_at": time(n.at), "updated_at": time(n.at)
    })
}

pub fn error(message: &str) -> Value {
    json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
}
