//! The HTTP server: routing, the step counter, request recording, and dispatch of each step
//! to the format that the request used.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::plan::{Format, Plan};
use crate::reply::{self, Delivery};
use crate::script::{Script, Step};
use crate::{anthropic, openai_chat, responses};

/// How the provider runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Keep every request for [`ScriptedProvider::requests`] (costs a lock and a copy per
    /// request; turn it off for benchmarks).
    pub record: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { record: true }
    }
}

/// One request the provider received.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The path, without the query (`/v1/messages`).
    pub path: String,
    /// The query string, if any (`beta=true`).
    pub query: Option<String>,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `null` for an empty body, a JSON string holding the raw text for a body
    /// that is not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    script: Script,
    /// Model requests that asked for a step so far (the next step's index, before cycling).
    next: AtomicUsize,
    record: bool,
    requests: Mutex<Vec<RecordedRequest>>,
}

impl Shared {
    fn served(&self) -> usize {
        let n = self.next.load(Ordering::Relaxed);
        if self.script.cycle && !self.script.steps.is_empty() {
            n
        } else {
            n.min(self.script.steps.len())
        }
    }

    fn record(&self, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
        if !self.record {
            return;
        }
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        let request = RecordedRequest {
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_owned(), v)
                })
                .collect(),
            body,
        };
        match self.requests.lock() {
            Ok(mut requests) => requests.push(request),
            Err(poisoned) => poisoned.into_inner().push(request),
        }
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        match self.requests.lock() {
            Ok(requests) => requests.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// A running scripted model provider. The server stops accepting connections when this is
/// dropped.
pub struct ScriptedProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ScriptedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedProvider")
            .field("addr", &self.addr)
            .field("served", &self.served())
            .finish_non_exhaustive()
    }
}

impl ScriptedProvider {
    /// Starts a provider on `127.0.0.1` with an ephemeral port, recording requests.
    pub async fn start(script: Script) -> std::io::Result<Self> {
        Self::start_on_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            script,
            Options::default(),
        )
        .await
    }

    /// Starts a provider on `addr`, recording requests.
    pub async fn start_on(addr: SocketAddr, script: Script) -> std::io::Result<Self> {
        Self::start_on_with(addr, script, Options::default()).await
    }

    /// Starts a provider on `127.0.0.1` with an ephemeral port.
    pub async fn start_with(script: Script, options: Options) -> std::io::Result<Self> {
        Self::start_on_with(SocketAddr::from(([127, 0, 0, 1], 0)), script, options).await
    }

    /// Starts a provider on `addr`.
    pub async fn start_on_with(
        addr: SocketAddr,
        script: Script,
        options: Options,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script,
            next: AtomicUsize::new(0),
            record: options.record,
            requests: Mutex::new(Vec::new()),
        });
        let app = router(Arc::clone(&shared));
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("scripted provider: cannot set TCP_NODELAY: {e}");
            }
        });
        #[expect(
            clippy::disallowed_methods,
            reason = "the server task is owned by the ScriptedProvider, which aborts it on drop"
        )]
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("scripted provider stopped: {e}");
            }
        });
        tracing::debug!(%addr, "scripted provider listening");
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far, in order (empty when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The number of steps consumed so far (counting repeats when the script cycles).
    pub fn served(&self) -> usize {
        self.shared.served()
    }

    /// Waits until the server task ends (it does not end by itself; for binaries).
    pub async fn wait(mut self) {
        if let Err(e) = (&mut self.server).await {
            tracing::warn!("scripted provider task failed: {e}");
        }
    }
}

impl Drop for ScriptedProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/responses", post(responses_api))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/_scripted/requests", get(recorded))
        .route("/_scripted/served", get(served))
        .fallback(not_found)
        .with_state(shared)
}

type St = State<Arc<Shared>>;

async fn chat(State(s): St, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    model_request(&s, Format::Chat, &uri, &headers, body).await
}

async fn responses_api(State(s): St, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    model_request(&s, Format::Responses, &uri, &headers, body).await
}

async fn messages(State(s): St, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    model_request(&s, Format::Anthropic, &uri, &headers, body).await
}

fn error_json(format: Format, status: u16, message: &str) -> String {
    match format {
        Format::Chat | Format::Responses => openai_chat::error_body(status, message),
        Format::Anthropic => anthropic::error_body(status, message),
    }
    .to_string()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn model_request(
    shared: &Shared,
    format: Format,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    shared.record(uri, headers, &body);
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let msg = "scripted provider: the request body is not a JSON object";
            return reply::error(400, None, error_json(format, 400, msg));
        }
    };
    let index = shared.next.fetch_add(1, Ordering::Relaxed);
    let steps = &shared.script.steps;
    let step: &Step = match steps.get(index) {
        Some(step) => step,
        None if shared.script.cycle && !steps.is_empty() => &steps[index % steps.len()],
        None => {
            let msg = format!(
                "scripted provider: script exhausted after {} steps (request {})",
                steps.len(),
                index + 1
            );
            return reply::error(500, None, error_json(format, 500, &msg));
        }
    };
    if step.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(step.delay_ms)).await;
    }
    if step.hang {
        std::future::pending::<()>().await;
    }
    if let Some(err) = &step.error {
        let body = match &err.body {
            Some(b) => b.clone(),
            None => error_json(format, err.status, "scripted provider: scripted error"),
        };
        return reply::error(err.status, err.retry_after.as_deref(), body);
    }

    let plan = Plan::new(step, &request, format, index as u64, now_secs());
    let delivery = Delivery {
        chunk_delay: Duration::from_millis(step.chunk_delay_ms),
        cut_after: step.cut_after_events,
        malformed: step.malformed,
    };
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    match (format, stream) {
        (Format::Chat, false) => reply::json(&openai_chat::body(&plan), delivery),
        (Format::Chat, true) => reply::sse(openai_chat::events(&plan, &request), delivery),
        (Format::Responses, false) => reply::json(&responses::body(&plan, &request), delivery),
        (Format::Responses, true) => reply::sse(responses::events(&plan, &request), delivery),
        (Format::Anthropic, false) => reply::json(&anthropic::body(&plan), delivery),
        (Format::Anthropic, true) => reply::sse(anthropic::events(&plan), delivery),
    }
}

/// `GET /v1/models`: the models named in the script plus `scripted-model`, in the Anthropic
/// shape when the request carries `anthropic-version`, else the OpenAI shape.
async fn models(State(s): St, uri: Uri, headers: HeaderMap) -> Response {
    s.record(&uri, &headers, &Bytes::new());
    let mut names: Vec<&str> = vec!["scripted-model"];
    for step in &s.script.steps {
        if let Some(m) = step.model.as_deref()
            && !names.contains(&m)
        {
            names.push(m);
        }
    }
    let body = if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = names
            .iter()
            .map(|id| {
                json!({
                    "type": "model",
                    "id": id,
                    "display_name": id,
                    "created_at": "2025-01-01T00:00:00Z"
                })
            })
            .collect();
        json!({
            "data": data,
            "has_more": false,
            "first_id": names.first(),
            "last_id": names.last(),
        })
    } else {
        let data: Vec<Value> = names
            .iter()
            .map(|id| json!({ "id": id, "object": "model", "created": 1_735_689_600, "owned_by": "scripted" }))
            .collect();
        json!({ "object": "list", "data": data })
    };
    axum::Json(body).into_response()
}

/// `GET /_scripted/requests`: the recorded requests (for out-of-process users of the binary).
async fn recorded(State(s): St) -> Response {
    axum::Json(s.requests()).into_response()
}

/// `GET /_scripted/served`: `{"served": N}`.
async fn served(State(s): St) -> Response {
    axum::Json(json!({ "served": s.served() })).into_response()
}

async fn not_found(State(s): St, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.record(&uri, &headers, &body);
    let msg = format!("scripted provider: no route for {}", uri.path());
    reply::error(404, None, openai_chat::error_body(404, &msg).to_string())
}
