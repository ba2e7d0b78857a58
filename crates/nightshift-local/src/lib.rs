//! The in-process local model: llama.cpp inference that answers OpenAI Chat requests.
//!
//! A GGUF file is loaded once ([`LocalModel::load`]) and answers OpenAI Chat Completions
//! request bodies ([`LocalModel::answer`]) with a whole `chat.completion` body or a stream
//! of `chat.completion.chunk` events, usage included, exactly as an OpenAI-compatible
//! server would over HTTP. Generations run one at a time on the model's own thread, never
//! on the async runtime. Sampling is greedy, so answers are deterministic; a request with
//! `tools` is answered with one tool call constrained by a JSON-schema grammar.
//!
//! This crate knows nothing of the gateway, prices or budgets: the gateway treats it as
//! one more upstream that speaks OpenAI Chat.

mod engine;
mod error;
mod model;
mod options;
mod output;
mod request;
mod schema;
mod threads;

pub use engine::Timings;
pub use error::LocalError;
pub use model::{LocalModel, Reply, SseStream};
pub use options::{LocalOptions, Threads};
