//! The floor's routes: JSON under `/api/v1/`, the live stream, the actions, `/metrics`,
//! the dashboard. Every error is JSON: `{"error": {"status": N, "message": "…"}}`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response, Sse};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use nightshift_store::{Control, StoreError};

use crate::act::{ActError, act};
use crate::auth::{Refused, Who, identify};
use crate::{Floor, live, metrics, views};

const DASHBOARD: &str = include_str!("../assets/index.html");

/// The most jobs one page of a shift holds.
pub const MAX_PAGE: usize = 500;

pub fn router(floor: Arc<Floor>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/api/v1/shifts", get(shifts))
        .route("/api/v1/shifts/{shift}", get(shift))
        .route("/api/v1/shifts/{shift}/{action}", post(shift_action))
        .route("/api/v1/shifts/{shift}/timeline", get(timeline))
        .route("/api/v1/shifts/{shift}/jobs/{job}", get(job))
        .route(
            "/api/v1/shifts/{shift}/jobs/{job}/{action}",
            post(job_action),
        )
        .route(
            "/api/v1/shifts/{shift}/jobs/{job}/iterations/{n}/diff",
            get(diff),
        )
        .route("/api/v1/ledger", get(ledger))
        .route("/api/v1/events", get(events))
        .route("/metrics", get(prometheus))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(floor.clone(), guard))
        .with_state(floor)
}

/// An error as the API answers it.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"status": self.status.as_u16(), "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "The floor could not read the store.");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the store: {e}"))
    }
}

impl From<ActError> for ApiError {
    fn from(e: ActError) -> Self {
        let status = match &e {
            ActError::NotFound(_) => StatusCode::NOT_FOUND,
            ActError::Conflict(_) => StatusCode::CONFLICT,
            ActError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ActError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The secret a request carries: its bearer token, or `?token=` (for the live stream and
/// the dashboard, where a browser cannot set a header).
fn secret(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some(t.trim().to_string());
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_string)
}

/// Every request: who is asking, and may they (a viewer reads, an operator also acts).
async fn guard(State(floor): State<Arc<Floor>>, mut req: Request, next: Next) -> Response {
    let acts = req.method() == Method::POST;
    // An open floor trusts whoever reaches it on loopback, so it must not be reached by
    // another site through the user's browser: only a loopback Host (no DNS rebinding),
    // and an action only as JSON from no other origin (no cross-site form or no-cors POST).
    if floor.access == crate::Access::Open
        && let Err(why) = same_machine(req.headers(), acts)
    {
        return ApiError::new(StatusCode::FORBIDDEN, why).into_response();
    }
    // The dashboard's page itself holds nothing; its data comes through the API.
    if req.uri().path() == "/" {
        return next.run(req).await;
    }
    let token = secret(req.headers(), req.uri().query());
    match identify(floor.access, floor.store.as_ref(), token.as_deref(), acts).await {
        Ok(who) => {
            req.extensions_mut().insert(who);
            next.run(req).await
        }
        Err(Refused::Unknown(why)) => ApiError::new(StatusCode::UNAUTHORIZED, why).into_response(),
        Err(Refused::ViewerActs) => ApiError::new(
            StatusCode::FORBIDDEN,
            "a viewer's token reads the floor; acting on it needs an operator's token",
        )
        .into_response(),
    }
}

/// Whether a request to an open floor comes from this machine's own pages and tools.
fn same_machine(headers: &HeaderMap, acts: bool) -> Result<(), String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let loopback = name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(format!(
            "this floor answers only to a loopback address (Host `{host}`): open it at http://127.0.0.1:PORT/, or serve it with tokens (`[floor] require_token = true`)"
        ));
    }
    if !acts {
        return Ok(());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err("an action is a JSON request: send `Content-Type: application/json` (and a body such as `{}`)".into());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != format!("http://{host}")
    {
        return Err(format!(
            "an action from another origin (`{origin}`) is refused: act from the floor's own page or the command line"
        ));
    }
    Ok(())
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route: the API is under /api/v1/ (shifts, ledger, events), metrics at /metrics",
    )
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

async fn shifts(State(floor): State<Arc<Floor>>) -> ApiResult<Json<serde_json::Value>> {
    // Read first: a client that streams the events after it misses none that changed
    // what it was shown.
    let last_seq = floor.store.last_seq().await?;
    let mut out = Vec::new();
    for row in floor.store.shifts().await? {
        out.push(views::shift_view(floor.store.as_ref(), row).await?);
    }
    Ok(Json(json!({ "shifts": out, "last_seq": last_seq })))
}

async fn shift_row(floor: &Floor, shift: &str) -> ApiResult<nightshift_store::ShiftRow> {
    floor.store.shift(shift).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no shift named `{shift}` in this store"),
        )
    })
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn shift(
    State(floor): State<Arc<Floor>>,
    Path(shift): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<views::ShiftDetail>> {
    let row = shift_row(&floor, &shift).await?;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let detail =
        views::shift_detail(floor.store.as_ref(), row, page.offset.unwrap_or(0), limit).await?;
    Ok(Json(detail))
}

#[derive(Deserialize)]
struct Points {
    points: Option<usize>,
}

async fn timeline(
    State(floor): State<Arc<Floor>>,
    Path(shift): Path<String>,
    Query(q): Query<Points>,
) -> ApiResult<Json<serde_json::Value>> {
    let row = shift_row(&floor, &shift).await?;
    let points = views::timeline(
        floor.store.as_ref(),
        &row,
        q.points.unwrap_or(60),
        nightshift_clock::now_ms(),
    )
    .await?;
    Ok(Json(json!({ "points": points })))
}

async fn job_row(floor: &Floor, shift: &str, job: &str) -> ApiResult<nightshift_store::JobRow> {
    shift_row(floor, shift).await?;
    floor
        .store
        .jobs(shift)
        .await?
        .into_iter()
        .find(|j| j.name == job)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("shift `{shift}` has no job `{job}`"),
            )
        })
}

async fn job(
    State(floor): State<Arc<Floor>>,
    Path((shift, job)): Path<(String, String)>,
) -> ApiResult<Json<views::JobDetail>> {
    let row = job_row(&floor, &shift, &job).await?;
    Ok(Json(
        views::job_detail(floor.store.as_ref(), &shift, row).await?,
    ))
}

async fn diff(
    State(floor): State<Arc<Floor>>,
    Path((shift, job, n)): Path<(String, String, i64)>,
) -> ApiResult<Response> {
    job_row(&floor, &shift, &job).await?;
    let known = floor
        .store
        .iterations(&shift, &job)
        .await?
        .iter()
        .any(|i| i.n == n && i.commit_sha.is_some());
    if !known {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("job `{job}` of shift `{shift}` has no committed iteration {n}"),
        ));
    }
    let Some(diffs) = &floor.diffs else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this floor was started without the factory's repositories: no diffs",
        ));
    };
    let text = diffs
        .diff(&shift, &job, n)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(([(header::CONTENT_TYPE, "text/x-diff; charset=utf-8")], text).into_response())
}

#[derive(Deserialize)]
struct LedgerQuery {
    by: Option<String>,
}

async fn ledger(
    State(floor): State<Arc<Floor>>,
    Query(q): Query<LedgerQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let by = q.by.as_deref().unwrap_or("shift");
    let Some(rows) = views::ledger(floor.store.as_ref(), by).await? else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`by={by}` is not a grouping: use `shift`, `job` or `model`"),
        ));
    };
    Ok(Json(json!({ "by": by, "totals": rows })))
}

#[derive(Deserialize)]
struct EventsQuery {
    shift: Option<String>,
    /// Where to start when there is no `Last-Event-ID` (0: the whole log).
    after: Option<i64>,
}

async fn events(
    State(floor): State<Arc<Floor>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("Last-Event-ID `{v}` is not an event's sequence number"),
                )
            })
        })
        .transpose()?;
    if let Some(shift) = &q.shift {
        shift_row(&floor, shift).await?;
    }
    let after = last.or(q.after).unwrap_or(0);
    let stream = live::stream(floor.store.clone(), after, q.shift);
    Ok(Sse::new(stream)
        .keep_alive(live::keep_alive())
        .into_response())
}

async fn prometheus(State(floor): State<Arc<Floor>>) -> ApiResult<Response> {
    let text = metrics::render(floor.store.as_ref()).await.map_err(|e| {
        tracing::error!(error = %e, "Could not build the metrics.");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

/// An action's body: a steer's note, a requeue's iterations and dollars.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    note: Option<String>,
    iterations: Option<u32>,
    /// Dollars as a decimal string or number (`"0.50"`), read exactly.
    usd: Option<serde_json::Value>,
}

fn parse_body(body: &axum::body::Bytes) -> ApiResult<ActionBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not a valid action: {e} (send JSON such as {{\"note\": \"…\"}} or {{\"iterations\": 2, \"usd\": \"0.50\"}})"),
        )
    })
}

fn control(action: &str, body: ActionBody, on_job: bool) -> ApiResult<Control> {
    let c = match action {
        "pause" => Control::Pause,
        "resume" => Control::Resume,
        "kill" if on_job => Control::Kill,
        "steer" if on_job => Control::Steer {
            note: body.note.unwrap_or_default(),
        },
        "requeue" if on_job => {
            let usd_nanos = match body.usd {
                None => 0,
                Some(serde_json::Value::String(s)) => nightshift_spec::money::parse_usd(&s)
                    .map_err(|e| {
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("`usd`: {e}"))
                    })?,
                Some(serde_json::Value::Number(n)) => {
                    nightshift_spec::money::parse_usd(&n.to_string()).map_err(|e| {
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("`usd`: {e}"))
                    })?
                }
                Some(_) => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "`usd` is dollars as a string or a number, such as \"0.50\"",
                    ));
                }
            };
            Control::Requeue {
                iterations: body.iterations.unwrap_or(0),
                usd_nanos,
            }
        }
        other => {
            let allowed = if on_job {
                "pause, resume, kill, steer, requeue"
            } else {
                "pause, resume"
            };
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("`{other}` is not an action here (actions: {allowed})"),
            ));
        }
    };
    Ok(c)
}

async fn shift_action(
    State(floor): State<Arc<Floor>>,
    axum::Extension(who): axum::Extension<Who>,
    Path((shift, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let c = control(&action, parse_body(&body)?, false)?;
    let acted = act(floor.store.as_ref(), &shift, None, c, &who.by).await?;
    Ok((StatusCode::ACCEPTED, Json(acted)).into_response())
}

async fn job_action(
    State(floor): State<Arc<Floor>>,
    axum::Extension(who): axum::Extension<Who>,
    Path((shift, job, action)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let c = control(&action, parse_body(&body)?, true)?;
    let acted = act(floor.store.as_ref(), &shift, Some(&job), c, &who.by).await?;
    Ok((StatusCode::ACCEPTED, Json(acted)).into_response())
}
