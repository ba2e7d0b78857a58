//! The Chat Completions call: one non-streaming `POST {base_url}/chat/completions` per turn,
//! through one HTTP client shared by every loop of the process (one connection pool to the
//! gateway, no per-loop TLS setup).

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AgentConfig, Stop};

/// The largest answer read, in bytes; a bigger one is a model error.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// How long connecting to the gateway may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error body is kept as the message when it is not the usual JSON.
const MAX_ERROR_TEXT: usize = 2000;

/// The request body. Borrows the history, so a turn copies nothing but the serialized bytes.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Value],
    tools: &'a Value,
    tool_choice: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ResponseToolCall>>,
}

#[derive(Deserialize)]
struct ResponseToolCall {
    #[serde(default)]
    id: Option<String>,
    function: ResponseFunction,
}

#[derive(Deserialize)]
struct ResponseFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// One tool call of an answer.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    /// The call id (generated when the answer had none).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

/// The assistant's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Its text, if any.
    pub text: Option<String>,
    /// Its tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped (`stop`, `tool_calls`, `length`, …).
    pub finish_reason: Option<String>,
}

fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// The chat completions URL under `base_url`.
pub(crate) fn endpoint(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

/// Sends the history and reads the answer; a refusal or failure is the [`Stop`] it means.
pub(crate) async fn complete(
    cfg: &AgentConfig,
    messages: &[Value],
    turn: u32,
) -> Result<Answer, Stop> {
    static AUTO: OnceLock<Value> = OnceLock::new();
    let auto = AUTO.get_or_init(|| Value::String("auto".into()));
    complete_with(cfg, messages, turn, crate::tools::definitions(), auto).await
}

/// [`complete`] with other tools and another `tool_choice` (the reviewer's).
pub(crate) async fn complete_with(
    cfg: &AgentConfig,
    messages: &[Value],
    turn: u32,
    tools: &Value,
    tool_choice: &Value,
) -> Result<Answer, Stop> {
    let request = ChatRequest {
        model: &cfg.model,
        messages,
        tools,
        tool_choice,
        max_tokens: cfg.max_tokens,
    };
    let body = serde_json::to_vec(&request).map_err(|e| Stop::ModelError {
        status: None,
        message: format!("cannot encode the request: {e}"),
    })?;
    let client = client().map_err(|message| Stop::ModelError {
        status: None,
        message,
    })?;
    let mut response = client
        .post(endpoint(&cfg.base_url))
        .bearer_auth(&cfg.token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Stop::ModelError {
            status: None,
            message: format!("the model call failed: {}", error_chain(&e)),
        })?;
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(Stop::ModelError {
                        status: Some(status),
                        message: format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(Stop::ModelError {
                    status: Some(status),
                    message: format!("the answer was cut: {}", error_chain(&e)),
                });
            }
        }
    }
    if !(200..300).contains(&status) {
        let message = error_message(&bytes);
        return Err(match status {
            402 => Stop::BudgetExhausted { message },
            401 => Stop::Unauthorized { message },
            _ => Stop::ModelError {
                status: Some(status),
                message,
            },
        });
    }
    parse_answer(&bytes, turn).map_err(|message| Stop::ModelError {
        status: Some(status),
        message,
    })
}

/// The `error.message` of an OpenAI or Anthropic error body, or the body itself.
fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let message = value
            .pointer("/error/message")
            .or_else(|| value.get("message"))
            .or_else(|| value.get("error"))
            .and_then(Value::as_str);
        if let Some(message) = message {
            return message.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty error body)".to_owned();
    }
    crate::tools::truncate(text.to_owned(), MAX_ERROR_TEXT)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads a `chat.completion` body.
fn parse_answer(body: &[u8], turn: u32) -> Result<Answer, String> {
    let response: ChatResponse = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not a chat completion: {e}"))?;
    let Some(choice) = response.choices.into_iter().next() else {
        return Err("the answer has no choices".to_owned());
    };
    let text = match choice.message.content {
        Some(Value::String(s)) => Some(s),
        // Content parts: keep the text ones.
        Some(Value::Array(parts)) => {
            let joined: String = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Some(joined)
        }
        _ => None,
    }
    .filter(|t| !t.is_empty());
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{turn}_{i}")),
            name: call.function.name,
            arguments: match call.function.arguments {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
            },
        })
        .collect();
    Ok(Answer {
        text,
        tool_calls,
        finish_reason: choice.finish_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_read_from_either_format() {
        assert_eq!(
            error_message(br#"{"error":{"message":"budget spent","type":"insufficient_quota"}}"#),
            "budget spent"
        );
        assert_eq!(
            error_message(br#"{"type":"error","error":{"type":"billing_error","message":"no"}}"#),
            "no"
        );
        assert_eq!(error_message(b"  plain  "), "plain");
        assert_eq!(error_message(b""), "(empty error body)");
    }

    #[test]
    fn answers_without_ids_get_one() {
        let a = parse_answer(
            br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"run","arguments":{"command":"ls"}}}]},"finish_reason":"tool_calls"}]}"#,
            3,
        )
        .unwrap();
        assert_eq!(a.text, None);
        assert_eq!(a.tool_calls[0].id, "call_3_0");
        assert_eq!(a.tool_calls[0].arguments, r#"{"command":"ls"}"#);
        assert_eq!(a.finish_reason.as_deref(), Some("tool_calls"));
        assert!(parse_answer(br#"{"choices":[]}"#, 1).is_err());
    }

    #[test]
    fn endpoint_joins_cleanly() {
        assert_eq!(endpoint("http://h/v1/"), "http://h/v1/chat/completions");
        assert_eq!(endpoint("http://h/v1"), "http://h/v1/chat/completions");
    }
}
