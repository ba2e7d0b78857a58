//! OpenAI Responses client → OpenAI Chat Completions upstream (Codex CLI against servers
//! without `/v1/responses`).

use serde_json::{Map, Value, json};

use super::{
    FinishReason, Tokens, TranslateError, as_object, copy_fields, invalid, parameters_schema,
    str_of, text_of, unix_now, unsupported,
};

/// Translate a Responses request into a Chat Completions request. `instructions` and
/// leading system/developer items become one system message (many chat templates accept a
/// system message only first); developer messages later on become system messages.
/// Function calls become assistant `tool_calls` (consecutive ones grouped, joined to the
/// assistant text before them), their outputs `tool` messages; reasoning items, non-function
/// tools and server-side fields (`store`, `include`, `reasoning`, `prompt_cache_key`…) are
/// dropped. `previous_response_id` is refused: this gateway keeps no conversation state.
pub fn responses_request_to_chat(req: &Value) -> Result<Value, TranslateError> {
    let obj = as_object(req, "request")?;
    if obj
        .get("previous_response_id")
        .is_some_and(|p| !p.is_null())
    {
        return Err(unsupported(
            "previous_response_id (send the whole conversation as `input`)",
        ));
    }
    let messages = chat_messages(obj)?;

    let mut out = Map::new();
    copy_fields(obj, &mut out, &["model"]);
    out.insert("messages".into(), Value::Array(messages));
    if let Some(m) = obj.get("max_output_tokens").filter(|m| !m.is_null()) {
        out.insert("max_tokens".into(), m.clone());
    }
    copy_fields(obj, &mut out, &["temperature", "top_p"]);

    let tools = chat_tools(obj);
    if !tools.is_empty() {
        let choice = chat_tool_choice(obj, &tools);
        out.insert("tools".into(), Value::Array(tools));
        if let Some(c) = choice {
            out.insert("tool_choice".into(), c);
        }
        copy_fields(obj, &mut out, &["parallel_tool_calls"]);
    }

    if let Some(format) = response_format(obj) {
        out.insert("response_format".into(), format);
    }
    if let Some(stream) = obj.get("stream").and_then(Value::as_bool) {
        out.insert("stream".into(), json!(stream));
        if stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Ok(Value::Object(out))
}

/// The Chat messages of a request's `instructions` and `input`.
fn chat_messages(obj: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
    let mut messages: Vec<Value> = Vec::new();
    if let Some(i) = obj
        .get("instructions")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
    {
        messages.push(json!({"role": "system", "content": i}));
    }
    match obj.get("input") {
        Some(Value::String(s)) => messages.push(json!({"role": "user", "content": s})),
        Some(Value::Array(items)) => {
            for item in items {
                convert_item(item, &mut messages)?;
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(invalid("`input` must be a string or an array of items")),
    }
    merge_leading_system(&mut messages);
    Ok(messages)
}

/// The request's function tools as Chat tools; other tool types are dropped.
fn chat_tools(obj: &Map<String, Value>) -> Vec<Value> {
    obj.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| str_of(t, "type") == Some("function"))
        .map(|t| {
            let mut f = Map::new();
            f.insert("name".into(), json!(str_of(t, "name").unwrap_or("")));
            copy_fields(
                t.as_object().unwrap_or(&Map::new()),
                &mut f,
                &["description"],
            );
            f.insert("parameters".into(), parameters_schema(t));
            // Responses tools carry `strict` beside the name; Chat puts it inside `function`.
            if let Some(strict) = t.get("strict").filter(|s| s.is_boolean()) {
                f.insert("strict".into(), strict.clone());
            }
            json!({"type": "function", "function": f})
        })
        .collect()
}

/// The Chat `tool_choice` for the request's, if it names a choice among `tools`.
fn chat_tool_choice(obj: &Map<String, Value>, tools: &[Value]) -> Option<Value> {
    match obj.get("tool_choice") {
        Some(Value::String(s)) if ["auto", "none", "required"].contains(&s.as_str()) => {
            Some(json!(s))
        }
        Some(tc @ Value::Object(_)) if str_of(tc, "type") == Some("function") => {
            let name = str_of(tc, "name").unwrap_or("");
            tools
                .iter()
                .any(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))
                .then(|| json!({"type": "function", "function": {"name": name}}))
        }
        // Hosted-tool choices name tools that were dropped.
        _ => None,
    }
}

/// The Chat `response_format` for the request's `text.format`, when it asks for JSON.
fn response_format(obj: &Map<String, Value>) -> Option<Value> {
    let format = obj.get("text").and_then(|t| t.get("format"))?;
    match str_of(format, "type") {
        Some("json_schema") => {
            let mut schema = Map::new();
            schema.insert(
                "name".into(),
                json!(str_of(format, "name").unwrap_or("output")),
            );
            let fmt = format.as_object().cloned().unwrap_or_default();
            copy_fields(&fmt, &mut schema, &["description", "schema", "strict"]);
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
        Some("json_object") => Some(json!({"type": "json_object"})),
        _ => None,
    }
}

fn convert_item(item: &Value, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let kind = str_of(item, "type").unwrap_or(if item.get("role").is_some() {
        "message"
    } else {
        ""
    });
    match kind {
        "message" => {
            let content = item.get("content").unwrap_or(&Value::Null);
            match str_of(item, "role") {
                Some("system" | "developer") => {
                    out.push(json!({"role": "system", "content": text_of(content, "\n")}));
                }
                Some("assistant") => {
                    out.push(json!({"role": "assistant", "content": text_of(content, "")}))
                }
                Some("user") => {
                    out.push(json!({"role": "user", "content": user_content(content)?}))
                }
                other => return Err(invalid(format!("message role {other:?}"))),
            }
        }
        "function_call" | "custom_tool_call" => {
            let arguments = if kind == "function_call" {
                match item.get("arguments") {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(v @ Value::Object(_)) => v.to_string(),
                    _ => "{}".to_string(),
                }
            } else {
                json!({"input": str_of(item, "input").unwrap_or("")}).to_string()
            };
            let call = json!({
                "id": str_of(item, "call_id").unwrap_or(""),
                "type": "function",
                "function": {"name": str_of(item, "name").unwrap_or(""), "arguments": arguments},
            });
            match out.last_mut() {
                Some(last) if str_of(last, "role") == Some("assistant") => {
                    if str_of(last, "content") == Some("") {
                        last["content"] = Value::Null;
                    }
                    match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        Some(calls) => calls.push(call),
                        None => last["tool_calls"] = json!([call]),
                    }
                }
                _ => out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        "function_call_output" | "custom_tool_call_output" => {
            let content = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(o @ Value::Array(_)) => text_of(o, "\n"),
                Some(o) if !o.is_null() => o.to_string(),
                _ => String::new(),
            };
            out.push(json!({
                "role": "tool",
                "tool_call_id": str_of(item, "call_id").unwrap_or(""),
                "content": content,
            }));
        }
        "item_reference" => {
            return Err(unsupported("item_reference (this gateway stores no items)"));
        }
        // Reasoning and hosted-tool items have no Chat form.
        _ => {}
    }
    Ok(())
}

/// Chat user content for Responses content: a string stays one; parts become Chat parts
/// (one text part collapses to a string).
fn user_content(content: &Value) -> Result<Value, TranslateError> {
    let parts = match content {
        Value::String(s) => return Ok(json!(s)),
        Value::Array(parts) => parts,
        _ => return Err(invalid("message `content` must be a string or an array")),
    };
    let mut out = Vec::new();
    for p in parts {
        match str_of(p, "type") {
            Some("input_text" | "output_text" | "text") => {
                out.push(json!({"type": "text", "text": str_of(p, "text").unwrap_or("")}));
            }
            Some("input_image") => {
                let Some(url) = str_of(p, "image_url") else {
                    return Err(unsupported("input_image by file_id"));
                };
                let mut image = json!({"url": url});
                if let Some(d) = str_of(p, "detail") {
                    image["detail"] = json!(d);
                }
                out.push(json!({"type": "image_url", "image_url": image}));
            }
            Some("input_file") => {
                let Some(data) = str_of(p, "file_data") else {
                    return Err(unsupported("input_file by file_id or url"));
                };
                out.push(json!({"type": "file", "file": {
                    "filename": str_of(p, "filename").unwrap_or("file"),
                    "file_data": data,
                }}));
            }
            other => return Err(unsupported(format!("content part type {other:?}"))),
        }
    }
    Ok(match &out[..] {
        [p] if str_of(p, "type") == Some("text") => p["text"].clone(),
        _ => Value::Array(out),
    })
}

fn merge_leading_system(messages: &mut Vec<Value>) {
    let n = messages
        .iter()
        .take_while(|m| str_of(m, "role") == Some("system"))
        .count();
    if n < 2 {
        return;
    }
    let text = messages
        .drain(..n)
        .filter_map(|m| str_of(&m, "content").map(str::to_string))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    messages.insert(0, json!({"role": "system", "content": text}));
}

/// The part of a Chat completion id usable inside Responses ids.
pub(crate) fn id_base(chat_id: Option<&str>) -> String {
    let id = chat_id.unwrap_or("nightshift");
    let id = id.strip_prefix("chatcmpl-").unwrap_or(id);
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The id of the output item at `index` of response `base`.
pub(crate) fn item_id(prefix: &str, base: &str, index: usize) -> String {
    format!("{prefix}_{base}_{index}")
}

/// A finished assistant message item.
pub(crate) fn message_item(id: &str, status: &str, text: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// A function call item.
pub(crate) fn function_call_item(
    id: &str,
    status: &str,
    call_id: &str,
    name: &str,
    args: &str,
) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "arguments": args,
        "call_id": call_id,
        "name": name,
    })
}

/// `status` and `incomplete_details` of a response that ended for `reason`.
pub(crate) fn status_for(reason: FinishReason) -> (&'static str, Value) {
    match reason {
        FinishReason::Length => ("incomplete", json!({"reason": "max_output_tokens"})),
        FinishReason::ContentFilter => ("incomplete", json!({"reason": "content_filter"})),
        FinishReason::Stop | FinishReason::ToolCalls => ("completed", Value::Null),
    }
}

/// The fields of a response object that echo the request.
pub(crate) fn echo_fields(req: &Value) -> Map<String, Value> {
    let get = |k: &str, default: Value| {
        req.get(k)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let mut m = Map::new();
    m.insert("instructions".into(), get("instructions", Value::Null));
    m.insert(
        "max_output_tokens".into(),
        get("max_output_tokens", Value::Null),
    );
    m.insert("model".into(), get("model", Value::Null));
    m.insert(
        "parallel_tool_calls".into(),
        get("parallel_tool_calls", json!(true)),
    );
    m.insert(
        "reasoning".into(),
        json!({"effort": req.pointer("/reasoning/effort"), "summary": null}),
    );
    m.insert("store".into(), get("store", json!(false)));
    m.insert("temperature".into(), get("temperature", Value::Null));
    m.insert(
        "text".into(),
        get("text", json!({"format": {"type": "text"}})),
    );
    m.insert("tool_choice".into(), get("tool_choice", json!("auto")));
    m.insert("tools".into(), get("tools", json!([])));
    m.insert("top_p".into(), get("top_p", Value::Null));
    m.insert("metadata".into(), get("metadata", json!({})));
    m
}

/// A whole response object.
pub(crate) fn response_object(
    echo: &Map<String, Value>,
    id: &str,
    created_at: u64,
    status: &str,
    incomplete_details: Value,
    output: Vec<Value>,
    usage: Option<Tokens>,
) -> Value {
    let e = |k: &str| echo.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": null,
        "incomplete_details": incomplete_details,
        "instructions": e("instructions"),
        "max_output_tokens": e("max_output_tokens"),
        "model": e("model"),
        "output": output,
        "parallel_tool_calls": e("parallel_tool_calls"),
        "previous_response_id": null,
        "reasoning": e("reasoning"),
        "store": e("store"),
        "temperature": e("temperature"),
        "text": e("text"),
        "tool_choice": e("tool_choice"),
        "tools": e("tools"),
        "top_p": e("top_p"),
        "truncation": "disabled",
        "usage": usage.map_or(Value::Null, Tokens::to_responses),
        "user": null,
        "metadata": e("metadata"),
    })
}

/// Translate a non-streamed Chat Completions response into a Responses response object,
/// echoing the fields of the client's `original_request`.
pub fn chat_response_to_responses(
    resp: &Value,
    original_request: &Value,
) -> Result<Value, TranslateError> {
    if resp.get("error").is_some_and(|e| !e.is_null()) {
        return Err(invalid("upstream body is an error, not a completion"));
    }
    let choice = resp
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| invalid("chat response without choices"))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let base = id_base(str_of(resp, "id"));
    let calls = msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let text = text_of(msg.get("content").unwrap_or(&Value::Null), "");
    let refusal = str_of(msg, "refusal").filter(|r| !r.is_empty());
    let mut output = Vec::new();
    if !text.is_empty() || (calls.is_empty() && refusal.is_none()) {
        output.push(message_item(&item_id("msg", &base, 0), "completed", &text));
    }
    if let Some(r) = refusal {
        let mut item = message_item(&item_id("msg", &base, output.len()), "completed", "");
        item["content"] = json!([{"type": "refusal", "refusal": r}]);
        output.push(item);
    }
    for tc in &calls {
        let f = tc.get("function").unwrap_or(&Value::Null);
        let args = match f.get("arguments") {
            Some(Value::String(s)) => s.clone(),
            Some(v) if !v.is_null() => v.to_string(),
            _ => String::new(),
        };
        output.push(function_call_item(
            &item_id("fc", &base, output.len()),
            "completed",
            str_of(tc, "id").unwrap_or(""),
            str_of(f, "name").unwrap_or(""),
            &args,
        ));
    }
    let finish =
        str_of(choice, "finish_reason").map_or(FinishReason::Stop, FinishReason::from_chat);
    let (status, incomplete) = status_for(finish);
    let created = resp
        .get("created")
        .and_then(Value::as_u64)
        .unwrap_or_else(unix_now);
    let mut echo = echo_fields(original_request);
    if echo.get("model").is_none_or(Value::is_null) {
        echo.insert(
            "model".into(),
            resp.get("model").cloned().unwrap_or(Value::Null),
        );
    }
    Ok(response_object(
        &echo,
        &format!("resp_{base}"),
        created,
        status,
        incomplete,
        output,
        resp.get("usage")
            .filter(|u| u.is_object())
            .map(Tokens::from_chat),
    ))
}
