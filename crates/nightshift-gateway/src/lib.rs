//! The metering gateway: one door through which every model call passes.
//!
//! It serves OpenAI Chat Completions, OpenAI Responses and Anthropic Messages on one
//! listener, authenticates scoped tokens, reserves against nested budgets before each
//! call (clamping the output cap to what the budget can pay), relays or translates the
//! upstream's answer, settles the real usage and writes the ledger. It never depends on
//! the factory; the factory reaches models only through it.

mod auth;
mod call;
mod caps;
mod client;
mod error;
mod finish;
#[cfg(feature = "local")]
mod local;
mod relay;
mod server;
mod settle;
mod state;
mod translate;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use nightshift_meter::PriceBook;
use nightshift_spec::Config;
use nightshift_store::Store;
use nightshift_wire::WireFormat;

pub use auth::{Minted, hash_secret, mint};
pub use client::PROXY_VARS;
pub use error::ApiError;
/// The local model crate, for tests and benchmarks that load a model themselves.
#[cfg(feature = "local")]
pub use nightshift_local;
pub use nightshift_meter::BudgetView;
pub use state::{GatewayState, StartError};

/// Build the gateway's state from its configuration and store.
pub async fn build(
    config: &Config,
    store: Arc<dyn Store>,
) -> Result<Arc<GatewayState>, StartError> {
    GatewayState::build(config, store, &PriceBook::builtin()).await
}

/// The HTTP routes.
pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/responses", post(responses))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/healthz", get(health))
        .route("/health", get(health))
        .with_state(state)
}

/// Start the background duties (revocation polling) and serve until `shutdown` resolves.
pub async fn serve(
    state: Arc<GatewayState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let poll = state.clone();
    #[expect(
        clippy::disallowed_methods,
        reason = "polls for revocations while the gateway serves; aborted below"
    )]
    let poller = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Err(e) = poll.auth.refresh_revocations().await {
                tracing::warn!(error = %e, "Could not poll the store for revoked tokens.");
            }
        }
    });
    let header_timeout = Duration::from_millis(state.settings.header_read_timeout_ms);
    let result = server::serve(router(state.clone()), listener, header_timeout, shutdown).await;
    poller.abort();
    // Every settled call waited for its row; this waits for the write-ahead records too.
    if let Err(e) = state.writer.flush().await {
        tracing::error!(error = %e, "Ledger flush at shutdown failed.");
    }
    result
}

async fn read_body(
    state: &GatewayState,
    req: Request,
    format: WireFormat,
) -> Result<bytes::Bytes, Response> {
    let limit = state.settings.max_body_bytes;
    let within = state.settings.body_read_timeout_ms;
    match tokio::time::timeout(
        Duration::from_millis(within),
        axum::body::to_bytes(req.into_body(), limit),
    )
    .await
    {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(ApiError::TooLarge {
            got: limit + 1,
            limit,
        }
        .into_format(format)),
        // A client trickling its body must not hold the connection (and its task) forever.
        Err(_) => Err(ApiError::ClientTimeout { within }.into_format(format)),
    }
}

async fn dispatch(state: Arc<GatewayState>, req: Request, format: WireFormat) -> Response {
    let headers = req.headers().clone();
    let body = match read_body(&state, req, format).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // A client hanging up cannot cancel the call half-way: it always settles and writes
    // its ledger row.
    match finish::to_the_end(call::handle(state, format, headers, body)).await {
        Ok(r) => r,
        Err(finish::Panicked) => {
            ApiError::Internal("the call failed inside the gateway".into()).into_format(format)
        }
    }
}

async fn chat(State(s): State<Arc<GatewayState>>, req: Request) -> Response {
    dispatch(s, req, WireFormat::Chat).await
}

async fn responses(State(s): State<Arc<GatewayState>>, req: Request) -> Response {
    dispatch(s, req, WireFormat::Responses).await
}

async fn messages(State(s): State<Arc<GatewayState>>, req: Request) -> Response {
    dispatch(s, req, WireFormat::Messages).await
}

/// The models clients may ask for, by name only, in OpenAI's list shape: a caller with a
/// valid token learns what it may call, and nobody learns the providers behind them.
async fn models(State(s): State<Arc<GatewayState>>, headers: axum::http::HeaderMap) -> Response {
    let format = if headers.contains_key("anthropic-version") {
        WireFormat::Messages
    } else {
        WireFormat::Chat
    };
    let secret = call::presented_secret(&headers);
    if let Err(e) = s
        .auth
        .authenticate(secret, nightshift_clock::now_ms())
        .await
    {
        return e.into_format(format);
    }
    let data: Vec<_> = s
        .model_order
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "nightshift"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn health() -> Response<Body> {
    axum::Json(json!({"status": "ok"})).into_response()
}
