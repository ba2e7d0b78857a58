//! The gateway's one HTTP error type. Each variant has a status; the body is in the
//! client's own error format (OpenAI or Anthropic JSON). 5xx bodies never carry internals:
//! those go to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use nightshift_wire::WireFormat;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    BadRequest(String),
    /// A field of the request that holds a value its format forbids.
    #[error("{message}")]
    InvalidField {
        param: &'static str,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error(
        "request body is {got} bytes or more; the gateway accepts at most {limit} (gateway.max_body_bytes)"
    )]
    TooLarge { got: usize, limit: usize },
    #[error(
        "the request body did not arrive within {within} ms (gateway.body_read_timeout_ms); send it whole, at once"
    )]
    ClientTimeout { within: u64 },
    #[error("{0}")]
    Budget(String),
    #[error("{0}")]
    Unpriced(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) | Self::InvalidField { .. } | Self::Unpriced(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ClientTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            // 402, not 429: SDKs retry 429 by themselves, and an exhausted budget does not
            // refill by waiting.
            Self::Budget(_) => StatusCode::PAYMENT_REQUIRED,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kinds(&self) -> (&'static str, &'static str) {
        // (OpenAI type, Anthropic type)
        match self {
            Self::Unauthorized(_) => ("invalid_api_key", "authentication_error"),
            Self::BadRequest(_) | Self::InvalidField { .. } | Self::Unpriced(_) => {
                ("invalid_request_error", "invalid_request_error")
            }
            Self::NotFound(_) => ("not_found_error", "not_found_error"),
            Self::TooLarge { .. } => ("invalid_request_error", "request_too_large"),
            Self::ClientTimeout { .. } => ("invalid_request_error", "invalid_request_error"),
            Self::Budget(_) => ("insufficient_quota", "billing_error"),
            Self::BadGateway(_) | Self::Internal(_) => ("api_error", "api_error"),
            Self::Timeout(_) => ("timeout", "api_error"),
            Self::Unavailable(_) => ("api_error", "overloaded_error"),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "invalid_api_key",
            Self::BadRequest(_) => "invalid_request",
            Self::InvalidField { .. } => "invalid_value",
            Self::NotFound(_) => "model_not_found",
            Self::TooLarge { .. } => "request_too_large",
            Self::ClientTimeout { .. } => "request_timeout",
            Self::Budget(_) => "budget_exhausted",
            Self::Unpriced(_) => "model_unpriced",
            Self::BadGateway(_) => "upstream_error",
            Self::Timeout(_) => "upstream_timeout",
            Self::Unavailable(_) => "upstream_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The error as a response in `format`'s error JSON.
    pub fn into_format(self, format: WireFormat) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(detail = %detail, "Internal error while serving a call.");
        }
        let (openai_type, anthropic_type) = self.kinds();
        let message = self.to_string();
        let body = if format.is_anthropic() {
            json!({"type": "error", "error": {"type": anthropic_type, "message": message}})
        } else {
            let param = match &self {
                Self::InvalidField { param, .. } => Some(*param),
                _ => None,
            };
            json!({"error": {"message": message, "type": openai_type, "param": param, "code": self.code()}})
        };
        let mut resp = (self.status(), body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// Used where the format is not known (health, models): OpenAI shape.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_format(WireFormat::Chat)
    }
}
