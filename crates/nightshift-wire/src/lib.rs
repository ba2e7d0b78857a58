//! The three wire formats nightshift speaks — OpenAI Chat Completions, OpenAI Responses
//! and Anthropic Messages — as pure functions: SSE framing, usage parsing, output caps,
//! terminal events, and translation between formats. No I/O happens here, so everything
//! is fuzzable.

mod format;
mod limits;
pub mod sse;
pub mod translate;
mod usage;

pub use format::WireFormat;
pub use limits::{cut_events, output_cap, set_output_cap, stream_error_event};
pub use usage::{StreamTracker, Usage};
