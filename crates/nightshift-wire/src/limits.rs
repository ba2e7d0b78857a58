//! Output-token caps in each format, and the terminal events that end a stream the
//! gateway cuts for budget.

use serde_json::{Map, Value, json};

use crate::format::WireFormat;
use crate::sse::SseEvent;
use crate::usage::StreamTracker;

const CHAT_CAP_KEYS: [&str; 2] = ["max_completion_tokens", "max_tokens"];

/// The output cap a request asks for, if any.
pub fn output_cap(format: WireFormat, body: &Map<String, Value>) -> Option<u64> {
    match format {
        WireFormat::Chat => CHAT_CAP_KEYS
            .iter()
            .filter_map(|k| body.get(*k).and_then(Value::as_u64))
            .min(),
        WireFormat::Responses => body.get("max_output_tokens").and_then(Value::as_u64),
        WireFormat::Messages => body.get("max_tokens").and_then(Value::as_u64),
    }
}

/// Set the request's output cap to `cap`, in the key(s) the client used. For Chat with no
/// cap given, `legacy_max_tokens` picks `max_tokens` (what most OpenAI-compatible servers
/// read) over `max_completion_tokens` (what OpenAI's reasoning models require).
pub fn set_output_cap(
    format: WireFormat,
    body: &mut Map<String, Value>,
    cap: u64,
    legacy_max_tokens: bool,
) {
    match format {
        WireFormat::Chat => {
            let mut set_any = false;
            for k in CHAT_CAP_KEYS {
                if body.contains_key(k) {
                    body.insert(k.to_string(), json!(cap));
                    set_any = true;
                }
            }
            if !set_any {
                let k = if legacy_max_tokens {
                    "max_tokens"
                } else {
                    "max_completion_tokens"
                };
                body.insert(k.to_string(), json!(cap));
            }
        }
        WireFormat::Responses => {
            body.insert("max_output_tokens".into(), json!(cap));
        }
        WireFormat::Messages => {
            body.insert("max_tokens".into(), json!(cap));
        }
    }
}

/// Well-formed terminal events for a stream in `format` that the gateway ends early,
/// given what the tracker saw of it. The client sees an ordinary "hit the length limit".
pub fn cut_events(format: WireFormat, tracker: &StreamTracker, model: &str) -> Vec<SseEvent> {
    match format {
        WireFormat::Chat => {
            let chunk = json!({
                "id": "chatcmpl-nightshift-cut",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "length", "logprobs": null}],
            });
            vec![
                SseEvent::new(None, chunk.to_string()),
                SseEvent::new(None, "[DONE]"),
            ]
        }
        WireFormat::Messages => {
            let mut out = Vec::new();
            if let Some(index) = tracker.open_block {
                let stop = json!({"type": "content_block_stop", "index": index});
                out.push(SseEvent::new(Some("content_block_stop"), stop.to_string()));
            }
            let output = tracker.usage().map_or(tracker.content_events, |u| {
                u.output_tokens.max(tracker.content_events)
            });
            let delta = json!({
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens", "stop_sequence": null},
                "usage": {"output_tokens": output},
            });
            out.push(SseEvent::new(Some("message_delta"), delta.to_string()));
            out.push(SseEvent::new(
                Some("message_stop"),
                json!({"type": "message_stop"}).to_string(),
            ));
            out
        }
        WireFormat::Responses => {
            let seq = tracker.last_sequence.map_or(0, |s| s.saturating_add(1));
            let ev = json!({
                "type": "response.incomplete",
                "sequence_number": seq,
                "response": {
                    "id": tracker.response_id.clone().unwrap_or_else(|| "resp_nightshift_cut".into()),
                    "object": "response",
                    "status": "incomplete",
                    "incomplete_details": {"reason": "max_output_tokens"},
                    "model": model,
                    "output": [],
                },
            });
            vec![SseEvent::new(Some("response.incomplete"), ev.to_string())]
        }
    }
}

/// An in-stream error event in `format`, for a stream that broke after its first byte
/// reached the client (the status line is already sent, so this is the only way to say
/// so). Every official SDK raises on it.
pub fn stream_error_event(format: WireFormat, tracker: &StreamTracker, message: &str) -> SseEvent {
    match format {
        WireFormat::Chat => {
            let v = json!({"error": {"message": message, "type": "api_error", "param": null, "code": "upstream_stream_broken"}});
            SseEvent::new(None, v.to_string())
        }
        WireFormat::Messages => {
            let v = json!({"type": "error", "error": {"type": "api_error", "message": message}});
            SseEvent::new(Some("error"), v.to_string())
        }
        WireFormat::Responses => {
            let seq = tracker.last_sequence.map_or(0, |s| s.saturating_add(1));
            let v = json!({"type": "error", "code": "upstream_stream_broken", "message": message, "param": null, "sequence_number": seq});
            SseEvent::new(Some("error"), v.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn caps_are_read_and_clamped_in_the_clients_key() {
        let mut b = obj(json!({"max_tokens": 900, "max_completion_tokens": 500}));
        assert_eq!(output_cap(WireFormat::Chat, &b), Some(500));
        set_output_cap(WireFormat::Chat, &mut b, 100, true);
        assert_eq!(
            Value::Object(b),
            json!({"max_tokens": 100, "max_completion_tokens": 100})
        );

        let mut b = obj(json!({}));
        set_output_cap(WireFormat::Chat, &mut b, 7, false);
        assert_eq!(Value::Object(b), json!({"max_completion_tokens": 7}));

        let mut b = obj(json!({"max_output_tokens": 4000}));
        set_output_cap(WireFormat::Responses, &mut b, 10, true);
        assert_eq!(output_cap(WireFormat::Responses, &b), Some(10));
    }

    #[test]
    fn anthropic_cut_closes_the_open_block() {
        let mut t = StreamTracker::new(WireFormat::Messages);
        for (name, data) in [
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
            ),
        ] {
            t.observe(&SseEvent::new(Some(name), data));
        }
        let names: Vec<_> = cut_events(WireFormat::Messages, &t, "m")
            .into_iter()
            .filter_map(|e| e.event)
            .collect();
        assert_eq!(
            names,
            ["content_block_stop", "message_delta", "message_stop"]
        );
    }
}
