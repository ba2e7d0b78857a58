//! The HTTP face: GitHub's REST routes under `/api/v3`, the token checked on each, faults
//! injected before any route runs, and every request recorded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::json as gh;
use super::state::{CheckRun, Forge, Pull, Status};

const PER_PAGE: usize = 30;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

type Answer = (StatusCode, Value, Option<String>);

fn answer(status: StatusCode, body: Value) -> Answer {
    (status, body, None)
}

fn not_found() -> Answer {
    answer(StatusCode::NOT_FOUND, gh::error("Not Found"))
}

fn invalid(message: &str) -> Answer {
    answer(StatusCode::UNPROCESSABLE_ENTITY, gh::error(message))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let mut forge = shared.lock();
    forge.requests.push(format!(
        "{method} {}",
        uri.path_and_query().map_or(path.as_str(), |p| p.as_str())
    ));
    if let Some(f) = forge.take_fault(method.as_str(), &path) {
        return fault(&f);
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or("");
    if token != shared.token {
        return respond(answer(
            StatusCode::UNAUTHORIZED,
            gh::error("Bad credentials"),
        ));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    forge.refresh_merged();
    let Some(rest) = path.strip_prefix("/api/v3/repos/") else {
        return respond(not_found());
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 2 {
        return respond(not_found());
    }
    let full = format!("{}/{}", parts[0], parts[1]);
    if !forge.repos.contains_key(&full) {
        return respond(not_found());
    }
    let route: Vec<&str> = parts[2..].to_vec();
    let out = route_repo(&mut forge, &full, &method, &route, &query, &body);
    respond(out)
}

fn route_repo(
    f: &mut Forge,
    full: &str,
    method: &Method,
    route: &[&str],
    query: &HashMap<String, String>,
    body: &Value,
) -> Answer {
    let number = |s: &str| s.parse::<u64>().ok();
    match (method.as_str(), route) {
        ("GET", []) => answer(StatusCode::OK, gh::repo(f, full)),
        ("GET", ["pulls"]) => list_pulls(f, full, query),
        ("POST", ["pulls"]) => open_pull(f, full, body),
        ("GET", ["pulls", n]) => match number(n).and_then(|n| find(f, full, n)) {
            Some(i) => answer(StatusCode::OK, gh::pull(f, &f.pulls[i])),
            None => not_found(),
        },
        ("PATCH", ["pulls", n]) => match number(n).and_then(|n| find(f, full, n)) {
            Some(i) => update_pull(f, i, body),
            None => not_found(),
        },
        ("PUT", ["pulls", n, "merge"]) => match number(n).and_then(|n| find(f, full, n)) {
            Some(i) => merge(f, i, body),
            None => not_found(),
        },
        ("POST", ["issues", n, "labels"]) => match number(n).and_then(|n| find(f, full, n)) {
            Some(i) => {
                let add: Vec<String> = body["labels"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                for l in add {
                    if !f.pulls[i].labels.contains(&l) {
                        f.pulls[i].labels.push(l);
                    }
                }
                let labels = f.pulls[i].labels.clone();
                answer(StatusCode::OK, gh::labels(f, full, &labels))
            }
            None => not_found(),
        },
        ("GET", ["commits", sha, "status"]) => {
            let key = format!("{full}@{sha}");
            let empty = Vec::new();
            let all = f.statuses.get(&key).unwrap_or(&empty);
            // The newest per context, as the combined status reports them.
            let mut newest: Vec<&Status> = Vec::new();
            for s in all.iter().rev() {
                if !newest.iter().any(|n| n.context == s.context) {
                    newest.push(s);
                }
            }
            answer(StatusCode::OK, gh::combined(f, full, sha, &newest))
        }
        ("POST", ["statuses", sha]) => post_status(f, full, sha, body),
        ("GET", ["commits", sha, "check-runs"]) => {
            let key = format!("{full}@{sha}");
            let runs: Vec<Value> = f
                .runs
                .get(&key)
                .map(|rs| rs.iter().map(|r| gh::check_run(f, full, sha, r)).collect())
                .unwrap_or_default();
            let (page, per) = paging(query);
            let total = runs.len();
            let items: Vec<Value> = runs.into_iter().skip((page - 1) * per).take(per).collect();
            answer(
                StatusCode::OK,
                json!({"total_count": total, "check_runs": items}),
            )
        }
        ("POST", ["check-runs"]) => post_check_run(f, full, body),
        ("GET", ["pulls", n, "reviews"]) => {
            notes(f, full, n, query, |n| n.review.is_some(), gh::review)
        }
        ("GET", ["pulls", n, "comments"]) => {
            notes(f, full, n, query, |n| n.line.is_some(), gh::line_comment)
        }
        ("GET", ["issues", n, "comments"]) => notes(
            f,
            full,
            n,
            query,
            |n| n.review.is_none() && n.line.is_none(),
            gh::issue_comment,
        ),
        _ => not_found(),
    }
}

fn find(f: &Forge, full: &str, number: u64) -> Option<usize> {
    f.pulls
        .iter()
        .position(|p| p.repo == full && p.number == number)
}

fn paging(query: &HashMap<String, String>) -> (usize, usize) {
    let page = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let per = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(PER_PAGE)
        .clamp(1, 100);
    (page, per)
}

fn page_of(items: Vec<Value>, query: &HashMap<String, String>) -> Answer {
    let (page, per) = paging(query);
    let more = items.len() > page * per;
    let items: Vec<Value> = items.into_iter().skip((page - 1) * per).take(per).collect();
    let link = more.then(|| format!("<?page={}&per_page={per}>; rel=\"next\"", page + 1));
    (StatusCode::OK, Value::Array(items), link)
}

fn list_pulls(f: &Forge, full: &str, query: &HashMap<String, String>) -> Answer {
    let state = query.get("state").map_or("open", String::as_str);
    let head = query.get("head").cloned();
    let owner = full.split('/').next().unwrap_or("");
    let items: Vec<Value> = f
        .pulls
        .iter()
        .filter(|p| p.repo == full)
        .filter(|p| match state {
            "all" => true,
            "closed" => p.closed,
            _ => !p.closed,
        })
        .filter(|p| {
            head.as_ref()
                .is_none_or(|h| *h == format!("{owner}:{}", p.head))
        })
        .rev()
        .map(|p| gh::pull(f, p))
        .collect();
    page_of(items, query)
}

fn open_pull(f: &mut Forge, full: &str, body: &Value) -> Answer {
    let text = |k: &str| body[k].as_str().map(String::from);
    let (Some(title), Some(head), Some(base)) = (text("title"), text("head"), text("base")) else {
        return invalid("Validation Failed: title, head and base are required");
    };
    let head = head
        .split_once(':')
        .map_or(head.clone(), |(_, b)| b.to_string());
    if f.branch_sha(full, &head).is_none() {
        return invalid(&format!(
            "Validation Failed: head `{head}` is not a branch of {full}"
        ));
    }
    if f.branch_sha(full, &base).is_none() {
        return invalid(&format!(
            "Validation Failed: base `{base}` is not a branch of {full}"
        ));
    }
    let owner = full.split('/').next().unwrap_or("");
    if f.pulls
        .iter()
        .any(|p| p.repo == full && p.head == head && !p.closed)
    {
        return invalid(&format!(
            "Validation Failed: A pull request already exists for {owner}:{head}."
        ));
    }
    if f.branch_sha(full, &head) == f.branch_sha(full, &base) {
        return invalid(&format!(
            "Validation Failed: No commits between {base} and {head}"
        ));
    }
    let number = f.pulls.iter().filter(|p| p.repo == full).count() as u64 + 1;
    let (id, at) = (f.id(), f.tick());
    f.pulls.push(Pull {
        id,
        repo: full.to_string(),
        number,
        title,
        body: text("body").unwrap_or_default(),
        head,
        base,
        draft: body["draft"].as_bool().unwrap_or(false),
        closed: false,
        merged: false,
        labels: Vec::new(),
        created: at,
        updated: at,
        closed_at: None,
    });
    let i = f.pulls.len() - 1;
    answer(StatusCode::CREATED, gh::pull(f, &f.pulls[i]))
}

fn update_pull(f: &mut Forge, i: usize, body: &Value) -> Answer {
    let at = f.tick();
    let p = &mut f.pulls[i];
    if let Some(t) = body["title"].as_str() {
        p.title = t.to_string();
    }
    if let Some(b) = body["body"].as_str() {
        p.body = b.to_string();
    }
    match body["state"].as_str() {
        Some("closed") if !p.merged => {
            p.closed = true;
            p.closed_at = Some(at);
        }
        Some("open") if !p.merged => {
            p.closed = false;
            p.closed_at = None;
        }
        _ => {}
    }
    p.updated = at;
    answer(StatusCode::OK, gh::pull(f, &f.pulls[i]))
}

/// Fast-forward only, and only while the head is the `sha` the caller saw.
fn merge(f: &mut Forge, i: usize, body: &Value) -> Answer {
    let (repo, head, base) = {
        let p = &f.pulls[i];
        (p.repo.clone(), p.head.clone(), p.base.clone())
    };
    if f.pulls[i].closed {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            gh::error("Pull Request is not mergeable"),
        );
    }
    let head_sha = f.branch_sha(&repo, &head).unwrap_or_default();
    if body["sha"].as_str().is_some_and(|s| s != head_sha) {
        return answer(
            StatusCode::CONFLICT,
            gh::error("Head branch was modified. Review and try the merge again."),
        );
    }
    let bare = f.repos[&repo].bare.clone();
    let base_sha = f.branch_sha(&repo, &base).unwrap_or_default();
    if !super::state::is_ancestor(&bare, &base_sha, &head_sha) {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            gh::error("Pull Request is not mergeable"),
        );
    }
    crate::git(
        &bare,
        &[
            "update-ref",
            &format!("refs/heads/{base}"),
            &head_sha,
            &base_sha,
        ],
    );
    f.refresh_merged();
    answer(
        StatusCode::OK,
        json!({"sha": head_sha, "merged": true, "message": "Pull Request successfully merged"}),
    )
}

fn post_status(f: &mut Forge, full: &str, sha: &str, body: &Value) -> Answer {
    let state = body["state"].as_str().unwrap_or("");
    if !["error", "failure", "pending", "success"].contains(&state) {
        return invalid("Validation Failed: state must be error, failure, pending or success");
    }
    let (id, at) = (f.id(), f.tick());
    let s = Status {
        id,
        context: body["context"].as_str().unwrap_or("default").to_string(),
        state: state.to_string(),
        description: body["description"].as_str().map(String::from),
        target_url: body["target_url"].as_str().map(String::from),
        at,
    };
    let out = gh::status(f, &s);
    f.statuses
        .entry(format!("{full}@{sha}"))
        .or_default()
        .push(s);
    answer(StatusCode::CREATED, out)
}

fn post_check_run(f: &mut Forge, full: &str, body: &Value) -> Answer {
    let (Some(name), Some(sha)) = (body["name"].as_str(), body["head_sha"].as_str()) else {
        return invalid("Validation Failed: name and head_sha are required");
    };
    let (id, at) = (f.id(), f.tick());
    let conclusion = body["conclusion"].as_str().map(String::from);
    let run = CheckRun {
        id,
        name: name.to_string(),
        status: if conclusion.is_some() {
            "completed".into()
        } else {
            body["status"].as_str().unwrap_or("queued").to_string()
        },
        completed: conclusion.as_ref().map(|_| at),
        conclusion,
        title: body["output"]["title"].as_str().map(String::from),
        summary: body["output"]["summary"].as_str().map(String::from),
        text: body["output"]["text"].as_str().map(String::from),
        started: at,
    };
    let out = gh::check_run(f, full, sha, &run);
    f.runs.entry(format!("{full}@{sha}")).or_default().push(run);
    answer(StatusCode::CREATED, out)
}

fn notes(
    f: &Forge,
    full: &str,
    n: &str,
    query: &HashMap<String, String>,
    keep: fn(&super::state::Note) -> bool,
    render: fn(&Forge, &super::state::Note) -> Value,
) -> Answer {
    let Some(number) = n
        .parse::<u64>()
        .ok()
        .filter(|n| find(f, full, *n).is_some())
    else {
        return not_found();
    };
    let items: Vec<Value> = f
        .notes
        .iter()
        .filter(|n| n.repo == full && n.number == number && keep(n))
        .map(|n| render(f, n))
        .collect();
    page_of(items, query)
}

fn fault(f: &super::Fault) -> Response {
    let code = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match f.status {
        401 => "Bad credentials",
        404 => "Not Found",
        422 => "Validation Failed",
        403 | 429 => "API rate limit exceeded",
        _ => "Server Error",
    };
    let mut response = (code, axum::Json(gh::error(message))).into_response();
    let h = response.headers_mut();
    if let Some(s) = f.retry_after_s {
        h.insert("retry-after", HeaderValue::from(s));
    }
    if matches!(f.status, 403 | 429) {
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    }
    response
}

fn respond((status, body, link): Answer) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(link) = link
        && let Ok(v) = HeaderValue::from_str(&link)
    {
        response.headers_mut().insert("link", v);
    }
    response
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
