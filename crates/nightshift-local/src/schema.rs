//! The JSON Schema a tool call must match, for llama.cpp's grammar: one object naming one
//! of the offered tools, with that tool's arguments. Strings and arrays are bounded so the
//! grammar closes the object before the output cap, and objects take no properties beyond
//! their schema's (the model would otherwise spend tokens on made-up keys).

use serde_json::{Map, Value, json};

use crate::request::Tool;

/// Longest string the grammar lets a tool argument be, in characters.
const MAX_STRING: u64 = 1024;
/// Most items an array argument may have.
const MAX_ITEMS: u64 = 16;
/// Tokens spent on a call's braces, keys and the tool's name, roughly.
const OVERHEAD_TOKENS: u64 = 24;
/// Shortest bound on a string, whatever the cap: a path or a word must fit.
const MIN_STRING: u64 = 16;

fn has_type(schema: &Map<String, Value>, kind: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == kind,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == kind),
        _ => false,
    }
}

/// Count the free-text strings of a schema: each may take up to the string bound.
fn strings_in(v: &Value) -> u64 {
    match v {
        Value::Object(o) => {
            let own = u64::from(
                has_type(o, "string") && !o.contains_key("enum") && !o.contains_key("const"),
            );
            own + o.values().map(strings_in).sum::<u64>()
        }
        Value::Array(a) => a.iter().map(strings_in).sum(),
        _ => 0,
    }
}

/// The schema with bounds added where it sets none.
fn bounded(v: &Value, max_string: u64) -> Value {
    match v {
        Value::Object(o) => {
            let mut out: Map<String, Value> = o
                .iter()
                .map(|(k, v)| {
                    // `enum`, `const` and `default` hold values, not schemas.
                    if matches!(k.as_str(), "enum" | "const" | "default" | "examples") {
                        (k.clone(), v.clone())
                    } else {
                        (k.clone(), bounded(v, max_string))
                    }
                })
                .collect();
            if has_type(o, "string")
                && !o.contains_key("enum")
                && !o.contains_key("const")
                && !o.contains_key("pattern")
            {
                let own = o.get("maxLength").and_then(Value::as_u64);
                let min = o.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                let cap = own.map_or(max_string, |m| m.min(max_string)).max(min);
                out.insert("maxLength".into(), json!(cap));
            }
            if has_type(o, "array") {
                let own = o.get("maxItems").and_then(Value::as_u64);
                let min = o.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let cap = own.map_or(MAX_ITEMS, |m| m.min(MAX_ITEMS)).max(min);
                out.insert("maxItems".into(), json!(cap));
            }
            if has_type(o, "object") && !o.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| bounded(x, max_string)).collect()),
        other => other.clone(),
    }
}

/// The schema of one tool call among `tools`, sized for an answer of `cap` tokens.
pub(crate) fn tool_call(tools: &[Tool], cap: u64) -> Value {
    let strings = tools
        .iter()
        .map(|t| strings_in(&t.parameters))
        .max()
        .unwrap_or(0)
        .max(1);
    // A token is at least one character, so a string of n characters costs at most n
    // tokens: share what the cap leaves after the structure between the strings.
    let max_string = (cap.saturating_sub(OVERHEAD_TOKENS) / strings).clamp(MIN_STRING, MAX_STRING);
    let options: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({
                "type": "object",
                "properties": {
                    "name": {"const": t.name},
                    "arguments": bounded(&t.parameters, max_string),
                },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    if options.len() == 1 {
        options.into_iter().next().unwrap_or_default()
    } else {
        json!({"anyOf": options})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, parameters: Value) -> Tool {
        Tool {
            name: name.into(),
            description: String::new(),
            parameters,
        }
    }

    #[test]
    fn strings_arrays_and_objects_are_bounded() {
        let read = tool(
            "read",
            json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "lines": {"type": "array", "items": {"type": "integer"}, "maxItems": 100},
            }, "required": ["path"]}),
        );
        let schema = tool_call(&[read], 248);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "name": {"const": "read"},
                    "arguments": {"type": "object", "properties": {
                        "path": {"type": "string", "maxLength": 224},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "lines": {"type": "array", "items": {"type": "integer"}, "maxItems": 16},
                    }, "required": ["path"], "additionalProperties": false},
                },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        );
    }

    #[test]
    fn several_tools_are_any_of_and_share_the_cap() {
        let two = tool(
            "write",
            json!({"type": "object", "properties": {
                "path": {"type": "string"}, "text": {"type": ["string", "null"]}}}),
        );
        let none = tool("stop", json!({"type": "object", "properties": {}}));
        let schema = tool_call(&[two, none], 100);
        let options = schema["anyOf"].as_array().expect("anyOf");
        assert_eq!(options.len(), 2);
        assert_eq!(
            options[0]["properties"]["arguments"]["properties"]["text"]["maxLength"],
            json!(38),
            "(100 - 24) / 2 strings"
        );
        assert_eq!(options[1]["properties"]["name"], json!({"const": "stop"}));
    }
}
