//! Upstream error bodies (OpenAI, Anthropic, or anything else an OpenAI-compatible server
//! returns) reshaped for the client's format.

use serde_json::{Value, json};

use super::str_of;

/// What an upstream error body says, whatever its shape.
#[derive(Debug, Default)]
struct ErrorInfo {
    message: Option<String>,
    /// `error.type` of an Anthropic-shaped body.
    anthropic_type: Option<String>,
    /// `error.type`, `error.code`, `error.param` of an OpenAI-shaped body.
    openai_type: Option<String>,
    openai_code: Option<Value>,
    openai_param: Option<Value>,
}

impl ErrorInfo {
    fn parse(body: &[u8]) -> Self {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(2000)
                .collect::<String>();
            return Self {
                message: (!text.is_empty()).then_some(text),
                ..Self::default()
            };
        };
        // Some servers wrap the error in a one-element array.
        let v = match v {
            Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
            v => v,
        };
        let mut info = Self::default();
        match v.get("error") {
            Some(Value::String(s)) => info.message = Some(s.clone()),
            Some(err @ Value::Object(_)) => {
                info.message = str_of(err, "message").map(str::to_string);
                let kind = str_of(err, "type").map(str::to_string);
                if str_of(&v, "type") == Some("error") {
                    info.anthropic_type = kind;
                } else {
                    info.openai_type = kind;
                    info.openai_code = err.get("code").filter(|c| !c.is_null()).cloned();
                    info.openai_param = err.get("param").filter(|c| !c.is_null()).cloned();
                }
            }
            _ => {}
        }
        if info.message.is_none() {
            info.message = ["message", "detail", "msg"]
                .iter()
                .find_map(|k| str_of(&v, k))
                .map(str::to_string);
        }
        info
    }

    fn message(&self, status: u16) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| format!("upstream returned HTTP {status}"))
    }

    /// Whether the error says the prompt did not fit the context window.
    fn context_exceeded(&self) -> bool {
        if self.openai_code.as_ref().and_then(Value::as_str) == Some("context_length_exceeded")
            || self.openai_type.as_deref() == Some("exceed_context_size_error")
        {
            return true;
        }
        let m = self.message.as_deref().unwrap_or("").to_ascii_lowercase();
        [
            "prompt is too long",
            "maximum context length",
            "context length",
            "context window",
            "context size",
        ]
        .iter()
        .any(|p| m.contains(p))
    }
}

/// An Anthropic error body (`{"type":"error","error":{"type","message"}}`) for an upstream
/// error. A context-window overflow reads "prompt is too long: …", which Claude Code
/// recognises.
pub fn error_to_anthropic(status: u16, upstream_error_body: &[u8]) -> Value {
    let info = ErrorInfo::parse(upstream_error_body);
    let kind = info.anthropic_type.clone().unwrap_or_else(|| {
        match status {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            500..=599 => "api_error",
            _ => "invalid_request_error",
        }
        .to_string()
    });
    let mut message = info.message(status);
    if info.context_exceeded() && !message.starts_with("prompt is too long") {
        message = format!("prompt is too long: {message}");
    }
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// An OpenAI error body (`{"error":{"message","type","param","code"}}`, also used by the
/// Responses API) for an upstream error. A context-window overflow gets the code
/// `context_length_exceeded`, which Codex recognises.
pub fn error_to_openai(status: u16, upstream_error_body: &[u8]) -> Value {
    let info = ErrorInfo::parse(upstream_error_body);
    let kind = info.openai_type.clone().unwrap_or_else(|| {
        match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        }
        .to_string()
    });
    // Only string codes are OpenAI's; some servers put the HTTP status there.
    let code = match info.openai_code.as_ref().and_then(Value::as_str) {
        _ if info.context_exceeded() => json!("context_length_exceeded"),
        Some(c) => json!(c),
        None if status == 429 => json!("rate_limit_exceeded"),
        None => Value::Null,
    };
    json!({"error": {
        "message": info.message(status),
        "type": kind,
        "param": info.openai_param.clone().unwrap_or(Value::Null),
        "code": code,
    }})
}
