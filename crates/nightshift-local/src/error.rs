//! What can go wrong loading or asking a local model, and how it looks on the wire.

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The model file is missing or llama.cpp could not load it.
    #[error("cannot load the local model {path}: {message}")]
    Load { path: String, message: String },
    /// The request cannot be answered as written (bad messages, unknown tool choice…).
    #[error("{0}")]
    BadRequest(String),
    /// The prompt does not leave room for even one output token.
    #[error(
        "this request's prompt is {prompt_tokens} tokens; the local model accepts at most {limit} tokens of prompt and output together (context_tokens), so at most {} of prompt",
        limit.saturating_sub(1)
    )]
    ContextExceeded { prompt_tokens: usize, limit: u32 },
    /// Inference failed part-way (llama.cpp decode error and the like).
    #[error("local inference failed: {0}")]
    Inference(String),
    /// The model's worker is gone (it panicked, or the model was dropped).
    #[error("the local model's worker has stopped")]
    Stopped,
}

impl LocalError {
    /// The HTTP status an OpenAI-compatible server would answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::ContextExceeded { .. } => 400,
            Self::Load { .. } | Self::Stopped => 503,
            Self::Inference(_) => 500,
        }
    }

    /// The error as an OpenAI error body.
    pub fn openai_body(&self) -> Value {
        let (kind, code) = match self {
            Self::BadRequest(_) => ("invalid_request_error", "invalid_request"),
            Self::ContextExceeded { .. } => ("invalid_request_error", "context_length_exceeded"),
            Self::Load { .. } | Self::Stopped => ("api_error", "model_unavailable"),
            Self::Inference(_) => ("api_error", "inference_failed"),
        };
        json!({"error": {"message": self.to_string(), "type": kind, "param": null, "code": code}})
    }
}
