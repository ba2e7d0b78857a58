//! nightshift-testkit: the scripted model provider and test fixtures.
//!
//! [`ScriptedProvider`] is a real HTTP server on `127.0.0.1` that stands in for paid model
//! APIs in tests and benchmarks. It speaks the real wire formats — OpenAI Chat Completions
//! (`POST /v1/chat/completions`), OpenAI Responses (`POST /v1/responses`) and Anthropic
//! Messages (`POST /v1/messages`, also `?beta=true`), each streaming (SSE) or not — plus
//! `GET /v1/models`, and replays a [`Script`]: each model request, whatever its format,
//! consumes the next [`Step`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use nightshift_testkit::{Script, ScriptedProvider, Step};
//! let provider = ScriptedProvider::start(Script::new([Step::text("Hello there").with_usage(12, 2)])).await?;
//! let base = provider.base_url(); // http://127.0.0.1:PORT/v1
//! # let _ = base; Ok(()) }
//! ```
//!
//! Modules:
//! - [`script`]: the script types and their file formats (TOML, JSON).
//! - `server`: the HTTP server, step counter and request recording.
//! - `plan`: a step resolved against a request (output cap, usage) before rendering.
//! - `openai_chat`, `responses`, `anthropic`: the three wire formats.
//! - `reply`: JSON and SSE bodies, delays, cut and malformed deliveries.
//! - [`git`]: git run by a test's own hand (fixed identity, no system configuration).
//! - [`local_model_path`]: where the small local model is.

mod anthropic;
pub mod forge;
mod git;
mod local;
mod openai_chat;
mod plan;
mod reply;
mod responses;
pub mod script;
mod server;

pub use forge::{Fault, ForgeStandIn, PullSeen, ReviewKind};
pub use git::git;
pub use local::local_model_path;
pub use script::{Script, ScriptError, ScriptedError, Step, ToolCall, Usage, split_words};
pub use server::{Options, RecordedRequest, ScriptedProvider};
