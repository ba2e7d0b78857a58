//! The floor: where a supervisor watches the line and steers it. One HTTP API over the
//! store — JSON under `/api/v1/`, the event log live as Server-Sent Events, Prometheus
//! metrics at `/metrics`, the dashboard at `/` — and the supervisor's actions, appended to
//! the event log for the running shift to obey ([`act`]).
//!
//! The event log is the one source of truth: the floor reads what the factory recorded and
//! keeps nothing of its own between requests, so it may run in another process than
//! `nightshift run`, on the same store. It never serves a provider key or a job's token.
//!
//! | module | holds |
//! |---|---|
//! | `act` | the actions, checked and recorded (shared with the command line) |
//! | `auth` | who may read and who may act: loopback, or floor tokens |
//! | `views` | the line, a shift, a job, and what needs attention |
//! | `live` | the event log as Server-Sent Events, resumable by `Last-Event-ID` |
//! | `metrics` | the Prometheus text exposition, built from the store at each scrape |
//! | `mcp` | the same reads and actions as MCP tools on stdio (`nightshift mcp`) |
//! | `api` | the routes |

mod act;
mod api;
mod auth;
mod live;
mod mcp;
mod metrics;
mod views;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use nightshift_store::Backend;

pub use act::{ActError, Acted, MAX_NOTE_BYTES, act};
pub use auth::{Access, MintedFloorToken, mint_floor_token};
pub use mcp::{Launch, Mcp, serve_stdio as serve_mcp};
pub use views::{Attention, JobView, ShiftDetail, attention, shift_detail};

/// A job iteration's unified diff, from wherever the factory keeps its repositories (the
/// binary supplies it; the floor knows no git).
pub trait Diffs: Send + Sync {
    fn diff<'a>(
        &'a self,
        shift: &'a str,
        job: &'a str,
        n: i64,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;
}

/// What the floor serves from.
pub struct Floor {
    pub store: Arc<dyn Backend>,
    pub diffs: Option<Arc<dyn Diffs>>,
    pub access: Access,
}

/// The floor's routes, ready to serve.
pub fn router(floor: Arc<Floor>) -> axum::Router {
    api::router(floor)
}

/// Serve the floor on `listener` until `shutdown` resolves.
pub async fn serve(
    floor: Arc<Floor>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(floor))
        .with_graceful_shutdown(shutdown)
        .await
}
