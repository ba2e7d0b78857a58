//! Which translation applies between a client's format and an upstream's.

use serde_json::Value;

use nightshift_wire::WireFormat;
use nightshift_wire::translate::{self as tr, StreamTranslator, TranslateError};

use WireFormat::{Chat, Messages, Responses};

fn unsupported(client: WireFormat, up: WireFormat) -> TranslateError {
    TranslateError::Unsupported(format!(
        "no translation from {} to {}",
        client.as_str(),
        up.as_str()
    ))
}

pub fn request(client: WireFormat, up: WireFormat, req: &Value) -> Result<Value, TranslateError> {
    match (client, up) {
        (Messages, Chat) => tr::anthropic_request_to_chat(req),
        (Chat, Messages) => tr::chat_request_to_anthropic(req),
        (Responses, Chat) => tr::responses_request_to_chat(req),
        _ => Err(unsupported(client, up)),
    }
}

pub fn response(
    client: WireFormat,
    up: WireFormat,
    resp: &Value,
    original: &Value,
) -> Result<Value, TranslateError> {
    match (client, up) {
        (Messages, Chat) => tr::chat_response_to_anthropic(resp),
        (Chat, Messages) => tr::anthropic_response_to_chat(resp),
        (Responses, Chat) => tr::chat_response_to_responses(resp, original),
        _ => Err(unsupported(client, up)),
    }
}

pub fn stream(
    client: WireFormat,
    up: WireFormat,
    model: &str,
    include_usage: bool,
    original: &Value,
) -> Option<Box<dyn StreamTranslator>> {
    match (client, up) {
        (Messages, Chat) => Some(Box::new(tr::ChatToAnthropicStream::new(model))),
        (Chat, Messages) => Some(Box::new(tr::AnthropicToChatStream::new(
            model,
            include_usage,
        ))),
        (Responses, Chat) => Some(Box::new(tr::ChatToResponsesStream::new(original))),
        _ => None,
    }
}

/// An upstream error body reshaped for the client.
pub fn error_body(client: WireFormat, status: u16, body: &[u8]) -> Value {
    if client.is_anthropic() {
        tr::error_to_anthropic(status, body)
    } else {
        tr::error_to_openai(status, body)
    }
}
