//! Anthropic Messages (`POST /v1/messages`): message objects, stream events, errors.

use serde_json::{Value, json};

use crate::plan::{Plan, pieces};
use crate::reply::SseEvent;
use crate::script::Usage;

/// How many characters of tool input JSON go in one `input_json_delta`.
const ARGUMENT_PIECE: usize = 16;

/// The Anthropic `usage` object: `input_tokens` excludes cache reads and writes.
pub(crate) fn usage(u: &Usage, output_tokens: u64) -> Value {
    let uncached = u
        .input_tokens
        .saturating_sub(u.cached_input_tokens)
        .saturating_sub(u.cache_write_tokens);
    json!({
        "input_tokens": uncached,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "output_tokens": output_tokens,
    })
}

fn stop_reason(plan: &Plan) -> &'static str {
    if plan.truncated {
        "max_tokens"
    } else if !plan.calls.is_empty() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn tool_id(plan: &Plan, i: usize) -> String {
    plan.calls[i]
        .id
        .clone()
        .unwrap_or_else(|| format!("toolu_scripted{}_{i}", plan.seq))
}

fn message(plan: &Plan, content: Vec<Value>, stop: Value, usage: Option<Value>) -> Value {
    let mut m = json!({
        "id": format!("msg_scripted{}", plan.seq),
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
    });
    if let Some(u) = usage {
        m["usage"] = u;
    }
    m
}

/// The non-streaming `message` object.
pub(crate) fn body(plan: &Plan) -> Value {
    let mut content = Vec::with_capacity(plan.calls.len() + 1);
    if plan.has_text {
        content.push(json!({ "type": "text", "text": plan.text }));
    }
    for (i, call) in plan.calls.iter().enumerate() {
        content.push(json!({
            "type": "tool_use",
            "id": tool_id(plan, i),
            "name": call.name,
            "input": call.input,
        }));
    }
    let u = plan.usage.as_ref().map(|u| usage(u, u.output_tokens));
    message(plan, content, json!(stop_reason(plan)), u)
}

/// The stream: `message_start`, per block `content_block_start` / `content_block_delta`… /
/// `content_block_stop` (a `ping` after the first start), `message_delta` with the stop reason
/// and the cumulative output tokens, `message_stop`.
pub(crate) fn events(plan: &Plan) -> Vec<SseEvent> {
    let mut out = Vec::with_capacity(plan.chunks.len() + 8);
    let start_usage = plan
        .usage
        .as_ref()
        .map(|u| usage(u, u.output_tokens.min(1)));
    out.push(SseEvent::named(
        "message_start",
        &json!({ "type": "message_start", "message": message(plan, vec![], Value::Null, start_usage) }),
    ));
    let mut pinged = false;
    let mut ping = |out: &mut Vec<SseEvent>| {
        if !pinged {
            out.push(SseEvent::named("ping", &json!({ "type": "ping" })));
            pinged = true;
        }
    };
    let block_start = |index: usize, block: Value| {
        SseEvent::named(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": block }),
        )
    };
    let block_delta = |index: usize, delta: Value| {
        SseEvent::named(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
        )
    };
    let block_stop = |index: usize| {
        SseEvent::named(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        )
    };

    let mut index = 0usize;
    if plan.has_text {
        out.push(block_start(index, json!({ "type": "text", "text": "" })));
        ping(&mut out);
        for piece in &plan.chunks {
            out.push(block_delta(
                index,
                json!({ "type": "text_delta", "text": piece }),
            ));
        }
        out.push(block_stop(index));
        index += 1;
    }
    for (i, call) in plan.calls.iter().enumerate() {
        out.push(block_start(
            index,
            json!({ "type": "tool_use", "id": tool_id(plan, i), "name": call.name, "input": {} }),
        ));
        ping(&mut out);
        out.push(block_delta(
            index,
            json!({ "type": "input_json_delta", "partial_json": "" }),
        ));
        for piece in pieces(&call.arguments, ARGUMENT_PIECE) {
            out.push(block_delta(
                index,
                json!({ "type": "input_json_delta", "partial_json": piece }),
            ));
        }
        out.push(block_stop(index));
        index += 1;
    }
    ping(&mut out);

    let mut delta = json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop_reason(plan), "stop_sequence": null },
    });
    if let Some(u) = &plan.usage {
        delta["usage"] = json!({ "output_tokens": u.output_tokens });
    }
    out.push(SseEvent::named("message_delta", &delta));
    out.push(SseEvent::named(
        "message_stop",
        &json!({ "type": "message_stop" }),
    ));
    out
}

/// The Anthropic error object (`{"type": "error", "error": {type, message}}`).
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ if status >= 500 => "api_error",
        _ => "invalid_request_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}
