//! OpenAI Responses (`POST /v1/responses`): response objects, stream events. Errors use the
//! OpenAI error object from [`crate::openai_chat::error_body`].

use serde_json::{Value, json};

use crate::plan::{Plan, pieces};
use crate::reply::SseEvent;
use crate::script::Usage;

/// How many characters of function-call arguments go in one stream delta.
const ARGUMENT_PIECE: usize = 16;

/// The Responses `usage` object.
pub(crate) fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": { "cached_tokens": u.cached_input_tokens },
        "output_tokens": u.output_tokens,
        "output_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
        "total_tokens": u.input_tokens + u.output_tokens,
    })
}

fn message_id(plan: &Plan) -> String {
    format!("msg_scripted{}", plan.seq)
}

fn call_item_id(plan: &Plan, i: usize) -> String {
    format!("fc_scripted{}_{i}", plan.seq)
}

fn call_id(plan: &Plan, i: usize) -> String {
    plan.calls[i]
        .id
        .clone()
        .unwrap_or_else(|| format!("call_scripted_{}_{i}", plan.seq))
}

fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "annotations": [], "logprobs": [], "text": text })
}

fn message_item(plan: &Plan, status: &str, content: Vec<Value>) -> Value {
    json!({
        "id": message_id(plan),
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    })
}

fn call_item(plan: &Plan, i: usize, status: &str, arguments: &str) -> Value {
    json!({
        "id": call_item_id(plan, i),
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id(plan, i),
        "name": plan.calls[i].name,
    })
}

fn final_status(plan: &Plan) -> &'static str {
    if plan.truncated {
        "incomplete"
    } else {
        "completed"
    }
}

/// The finished output items.
fn output(plan: &Plan) -> Vec<Value> {
    let mut out = Vec::with_capacity(plan.calls.len() + 1);
    if plan.has_text {
        out.push(message_item(
            plan,
            final_status(plan),
            vec![text_part(&plan.text)],
        ));
    }
    for (i, call) in plan.calls.iter().enumerate() {
        out.push(call_item(plan, i, "completed", &call.arguments));
    }
    out
}

/// A `response` object; `finished` selects the final state (else `in_progress`, no output).
fn response_object(plan: &Plan, request: &Value, finished: bool) -> Value {
    let echo = |name: &str, default: Value| request.get(name).cloned().unwrap_or(default);
    let (status, output, usage_value, incomplete) = if finished {
        let incomplete = if plan.truncated {
            json!({ "reason": "max_output_tokens" })
        } else {
            Value::Null
        };
        let u = plan.usage.as_ref().map_or(Value::Null, usage);
        (final_status(plan), output(plan), u, incomplete)
    } else {
        ("in_progress", Vec::new(), Value::Null, Value::Null)
    };
    json!({
        "id": format!("resp_scripted{}", plan.seq),
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "model": plan.model,
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "reasoning": echo("reasoning", json!({ "effort": null, "summary": null })),
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)),
        "text": echo("text", json!({ "format": { "type": "text" } })),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_p": echo("top_p", json!(1.0)),
        "truncation": echo("truncation", json!("disabled")),
        "usage": usage_value,
        "user": echo("user", Value::Null),
        "metadata": echo("metadata", json!({})),
    })
}

/// The non-streaming `response` object.
pub(crate) fn body(plan: &Plan, request: &Value) -> Value {
    let mut body = response_object(plan, request, true);
    if plan.usage.is_none()
        && let Some(obj) = body.as_object_mut()
    {
        obj.shift_remove("usage");
    }
    body
}

/// Builds events with increasing `sequence_number`s.
struct Events {
    out: Vec<SseEvent>,
}

impl Events {
    fn push(&mut self, name: &'static str, mut data: Value) {
        // `type` and `sequence_number` first, as the API sends them.
        let mut obj = serde_json::Map::new();
        obj.insert("type".to_owned(), json!(name));
        obj.insert("sequence_number".to_owned(), json!(self.out.len()));
        if let Some(fields) = data.as_object_mut() {
            obj.append(fields);
        }
        self.out.push(SseEvent::named(name, &Value::Object(obj)));
    }
}

/// The stream: `response.created`, `response.in_progress`, the item events, then
/// `response.completed` (or `response.incomplete` when the output hit the cap).
pub(crate) fn events(plan: &Plan, request: &Value) -> Vec<SseEvent> {
    let mut ev = Events {
        out: Vec::with_capacity(plan.chunks.len() + 12),
    };
    let start = response_object(plan, request, false);
    ev.push("response.created", json!({ "response": start }));
    ev.push("response.in_progress", json!({ "response": start }));

    let mut index = 0usize;
    if plan.has_text {
        let item_id = message_id(plan);
        ev.push(
            "response.output_item.added",
            json!({ "output_index": index, "item": message_item(plan, "in_progress", vec![]) }),
        );
        let at = |extra: Value| {
            let mut v = json!({ "item_id": item_id, "output_index": index, "content_index": 0 });
            if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            v
        };
        ev.push(
            "response.content_part.added",
            at(json!({ "part": text_part("") })),
        );
        for piece in &plan.chunks {
            ev.push(
                "response.output_text.delta",
                at(json!({ "delta": piece, "logprobs": [] })),
            );
        }
        ev.push(
            "response.output_text.done",
            at(json!({ "text": plan.text, "logprobs": [] })),
        );
        ev.push(
            "response.content_part.done",
            at(json!({ "part": text_part(&plan.text) })),
        );
        let item = message_item(plan, final_status(plan), vec![text_part(&plan.text)]);
        ev.push(
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
        index += 1;
    }
    for (i, call) in plan.calls.iter().enumerate() {
        let item_id = call_item_id(plan, i);
        ev.push(
            "response.output_item.added",
            json!({ "output_index": index, "item": call_item(plan, i, "in_progress", "") }),
        );
        for piece in pieces(&call.arguments, ARGUMENT_PIECE) {
            ev.push(
                "response.function_call_arguments.delta",
                json!({ "item_id": item_id, "output_index": index, "delta": piece }),
            );
        }
        ev.push(
            "response.function_call_arguments.done",
            json!({ "item_id": item_id, "output_index": index, "arguments": call.arguments }),
        );
        ev.push(
            "response.output_item.done",
            json!({ "output_index": index, "item": call_item(plan, i, "completed", &call.arguments) }),
        );
        index += 1;
    }
    let done = response_object(plan, request, true);
    let name = if plan.truncated {
        "response.incomplete"
    } else {
        "response.completed"
    };
    ev.push(name, json!({ "response": done }));
    ev.out
}
