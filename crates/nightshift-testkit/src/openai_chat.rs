//! OpenAI Chat Completions (`POST /v1/chat/completions`): bodies, stream chunks, errors.

use serde_json::{Value, json};

use crate::plan::{Plan, pieces};
use crate::reply::SseEvent;
use crate::script::Usage;

/// How many characters of tool-call arguments go in one stream delta.
const ARGUMENT_PIECE: usize = 16;

fn finish_reason(plan: &Plan) -> &'static str {
    if plan.truncated {
        "length"
    } else if !plan.calls.is_empty() {
        "tool_calls"
    } else {
        "stop"
    }
}

fn call_id(plan: &Plan, i: usize) -> String {
    plan.calls[i]
        .id
        .clone()
        .unwrap_or_else(|| format!("call_scripted_{}_{i}", plan.seq))
}

/// The Chat `usage` object.
pub(crate) fn usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": { "cached_tokens": u.cached_input_tokens, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": u.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// The non-streaming `chat.completion` object.
pub(crate) fn body(plan: &Plan) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if plan.has_text { Value::String(plan.text.clone()) } else { Value::Null },
        "refusal": null,
        "annotations": [],
    });
    if !plan.calls.is_empty() {
        let calls: Vec<Value> = plan
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "id": call_id(plan, i),
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments }
                })
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    let mut body = json!({
        "id": format!("chatcmpl-scripted{}", plan.seq),
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(plan),
        }],
        "usage": null,
        "service_tier": "default",
        "system_fingerprint": "fp_scripted",
    });
    match &plan.usage {
        Some(u) => body["usage"] = usage(u),
        None => {
            if let Some(obj) = body.as_object_mut() {
                obj.shift_remove("usage");
            }
        }
    }
    body
}

/// The stream: a role chunk, content deltas, tool-call deltas, the finish chunk, the usage
/// chunk (only when the request asked for `stream_options.include_usage`), `[DONE]`.
pub(crate) fn events(plan: &Plan, request: &Value) -> Vec<SseEvent> {
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |choices: Value| {
        let mut c = json!({
            "id": format!("chatcmpl-scripted{}", plan.seq),
            "object": "chat.completion.chunk",
            "created": plan.created,
            "model": plan.model,
            "service_tier": "default",
            "system_fingerprint": "fp_scripted",
            "choices": choices,
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let delta = |delta: Value, finish: Value| {
        SseEvent::data(
            chunk(json!([{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish,
            }]))
            .to_string(),
        )
    };

    let mut out = Vec::with_capacity(plan.chunks.len() + 4);
    let first_content = if plan.has_text {
        json!("")
    } else {
        Value::Null
    };
    out.push(delta(
        json!({ "role": "assistant", "content": first_content, "refusal": null }),
        Value::Null,
    ));
    if plan.has_text {
        for piece in &plan.chunks {
            out.push(delta(json!({ "content": piece }), Value::Null));
        }
    }
    for (i, call) in plan.calls.iter().enumerate() {
        out.push(delta(
            json!({ "tool_calls": [{
                "index": i,
                "id": call_id(plan, i),
                "type": "function",
                "function": { "name": call.name, "arguments": "" }
            }] }),
            Value::Null,
        ));
        for piece in pieces(&call.arguments, ARGUMENT_PIECE) {
            out.push(delta(
                json!({ "tool_calls": [{ "index": i, "function": { "arguments": piece } }] }),
                Value::Null,
            ));
        }
    }
    out.push(delta(json!({}), json!(finish_reason(plan))));
    if include_usage && let Some(u) = &plan.usage {
        let mut c = chunk(json!([]));
        c["usage"] = usage(u);
        out.push(SseEvent::data(c.to_string()));
    }
    out.push(SseEvent::data("[DONE]"));
    out
}

/// The OpenAI error object (`{"error": {message, type, param, code}}`), shared with the
/// Responses API.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => (
            "invalid_request_error",
            json!("unsupported_country_region_territory"),
        ),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}
