//! An OpenAI Chat Completions request read into what the model needs: turns for the chat
//! template, the tools it may call, and the limits of its answer.

use serde_json::{Map, Value};

use crate::error::LocalError;

/// One turn for the chat template. Roles are `system`, `user` and `assistant`; tool
/// results become user turns, since the template knows no other roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Turn {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub description: String,
    /// The JSON Schema of its arguments (an object schema).
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    pub model: String,
    pub turns: Vec<Turn>,
    /// The tools the answer must call one of; empty for a text answer.
    pub tools: Vec<Tool>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub include_usage: bool,
    pub stop: Vec<String>,
}

fn bad(msg: impl Into<String>) -> LocalError {
    LocalError::BadRequest(msg.into())
}

/// The text of a message's `content`: a string, or an array of text parts.
fn text_of(content: Option<&Value>, at: usize) -> Result<String, LocalError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for p in parts {
                match p.get("text").and_then(Value::as_str) {
                    Some(t) => out.push_str(t),
                    None => {
                        return Err(bad(format!(
                            "messages[{at}]: the local model reads text only; a part of type `{}` cannot be given to it",
                            p.get("type").and_then(Value::as_str).unwrap_or("?")
                        )));
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(bad(format!(
            "messages[{at}].content must be a string or an array of text parts"
        ))),
    }
}

/// A tool call as the model writes it (and as the grammar makes it write it).
pub(crate) fn call_text(name: &str, arguments: &Value) -> String {
    serde_json::json!({"name": name, "arguments": arguments}).to_string()
}

fn read_tools(req: &Map<String, Value>) -> Result<Vec<Tool>, LocalError> {
    let Some(list) = req.get("tools") else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(bad("`tools` must be an array"));
    };
    let mut tools = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let f = t.get("function").unwrap_or(t);
        let Some(name) = f.get("name").and_then(Value::as_str) else {
            return Err(bad(format!("tools[{i}] has no function name")));
        };
        let parameters = match f.get("parameters") {
            Some(p @ Value::Object(_)) => p.clone(),
            _ => serde_json::json!({"type": "object", "properties": {}}),
        };
        tools.push(Tool {
            name: name.to_string(),
            description: f
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            parameters,
        });
    }
    let choice = req.get("tool_choice");
    match choice {
        None | Some(Value::Null) => Ok(tools),
        Some(Value::String(s)) => match s.as_str() {
            "none" => Ok(Vec::new()),
            "auto" | "required" => Ok(tools),
            other => Err(bad(format!(
                "tool_choice `{other}` is not one of none, auto, required"
            ))),
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice names no function"))?;
            let chosen: Vec<Tool> = tools.into_iter().filter(|t| t.name == name).collect();
            if chosen.is_empty() {
                return Err(bad(format!(
                    "tool_choice names `{name}`, which is not in `tools`"
                )));
            }
            Ok(chosen)
        }
        Some(_) => Err(bad("tool_choice must be a string or an object")),
    }
}

/// What the model is told about its tools, at the end of the system text.
fn tools_prompt(tools: &[Tool]) -> String {
    let mut s = String::from("You can call these tools:\n");
    for t in tools {
        s.push_str(&format!(
            "- {}: {}\n  parameters: {}\n",
            t.name, t.description, t.parameters
        ));
    }
    s.push_str(
        "Answer with one JSON object {\"name\": <tool name>, \"arguments\": <its arguments>} and nothing else.",
    );
    s
}

/// Read an OpenAI Chat Completions request.
pub(crate) fn read(body: &Value) -> Result<ChatRequest, LocalError> {
    let Some(req) = body.as_object() else {
        return Err(bad("the request must be a JSON object"));
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return Err(bad("the request has no `messages` array"));
    };
    let tools = read_tools(req)?;
    let (mut system, mut turns) = read_messages(messages)?;
    if !tools.is_empty() {
        system.push(tools_prompt(&tools));
    }
    if !system.is_empty() {
        turns.insert(
            0,
            Turn {
                role: "system",
                content: system.join("\n\n"),
            },
        );
    }
    if !turns.iter().any(|t| t.role == "user") {
        return Err(bad("the request has no user message"));
    }
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| req.get(*k).and_then(Value::as_u64));
    Ok(ChatRequest {
        model: req
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("local")
            .to_string(),
        turns,
        tools,
        max_tokens,
        stream: req.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        stop: read_stop(req),
    })
}

/// The system texts of `messages` and the template turns of the rest.
fn read_messages(messages: &[Value]) -> Result<(Vec<String>, Vec<Turn>), LocalError> {
    let mut system = Vec::new();
    let mut turns = Vec::new();
    // Tool results name their call by id; the model reads the tool's name instead.
    let mut call_names: Vec<(String, String)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let text = text_of(m.get("content"), i)?;
        match role {
            "system" | "developer" => system.push(text),
            "user" => turns.push(Turn {
                role: "user",
                content: text,
            }),
            "assistant" => turns.push(assistant_turn(m, text, &mut call_names)),
            "tool" | "function" => turns.push(tool_result_turn(m, &text, &call_names)),
            other => {
                return Err(bad(format!(
                    "messages[{i}] has role `{other}`; the local model reads system, developer, user, assistant and tool messages"
                )));
            }
        }
    }
    Ok((system, turns))
}

/// An assistant message's text followed by its tool calls, each written as the model
/// writes one. The calls' ids and names are added to `call_names`.
fn assistant_turn(m: &Value, text: String, call_names: &mut Vec<(String, String)>) -> Turn {
    let mut content = text;
    for c in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = c
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let args = c
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .map(|a| serde_json::from_str(a).unwrap_or(Value::String(a.to_string())))
            .unwrap_or(Value::Object(Map::new()));
        if let Some(id) = c.get("id").and_then(Value::as_str) {
            call_names.push((id.to_string(), name.to_string()));
        }
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(&call_text(name, &args));
    }
    Turn {
        role: "assistant",
        content,
    }
}

/// A tool result as a user turn that names the tool: by the message's `name`, else by
/// the call it answers.
fn tool_result_turn(m: &Value, text: &str, call_names: &[(String, String)]) -> Turn {
    let id = m.get("tool_call_id").and_then(Value::as_str);
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| {
            call_names
                .iter()
                .find(|(c, _)| Some(c.as_str()) == id)
                .map(|(_, n)| n.as_str())
        })
        .unwrap_or("the tool");
    Turn {
        role: "user",
        content: format!("Result of {name}:\n{text}"),
    }
}

/// The request's stop strings; empty ones are dropped from a list.
fn read_stop(req: &Map<String, Value>) -> Vec<String> {
    match req.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn system_tools_and_results_become_template_turns() {
        let body = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "List files"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{\"dir\":\".\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "a.rs"}
            ],
            "tools": [{"type": "function", "function": {"name": "ls", "description": "List a folder.",
                "parameters": {"type": "object", "properties": {"dir": {"type": "string"}}}}}],
            "max_tokens": 9,
            "stream": true,
            "stream_options": {"include_usage": true},
            "stop": "END"
        });
        let r = read(&body).expect("valid");
        assert_eq!(
            r.turns,
            vec![
                Turn {
                    role: "system",
                    content: format!("Be brief.\n\n{}", tools_prompt(&r.tools))
                },
                Turn {
                    role: "user",
                    content: "List files".into()
                },
                Turn {
                    role: "assistant",
                    content: r#"{"name":"ls","arguments":{"dir":"."}}"#.into()
                },
                Turn {
                    role: "user",
                    content: "Result of ls:\na.rs".into()
                },
            ]
        );
        assert_eq!(r.tools.len(), 1);
        assert_eq!(
            (r.max_tokens, r.stream, r.include_usage, r.stop),
            (Some(9), true, true, vec!["END".to_string()])
        );
    }

    #[test]
    fn tool_choice_none_answers_in_text_and_a_named_choice_narrows() {
        let tools = json!([
            {"type": "function", "function": {"name": "a"}},
            {"type": "function", "function": {"name": "b"}}
        ]);
        let mk = |choice: Value| json!({"messages": [{"role": "user", "content": "hi"}], "tools": tools, "tool_choice": choice});
        assert!(read(&mk(json!("none"))).expect("valid").tools.is_empty());
        let named =
            read(&mk(json!({"type": "function", "function": {"name": "b"}}))).expect("valid");
        assert_eq!(
            named
                .tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        let err = read(&mk(json!({"type": "function", "function": {"name": "c"}}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tool_choice names `c`, which is not in `tools`"
        );
    }

    #[test]
    fn images_and_empty_conversations_are_refused() {
        let img = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]});
        assert_eq!(
            read(&img).unwrap_err().to_string(),
            "messages[0]: the local model reads text only; a part of type `image_url` cannot be given to it"
        );
        let none = json!({"messages": [{"role": "system", "content": "x"}]});
        assert_eq!(
            read(&none).unwrap_err().to_string(),
            "the request has no user message"
        );
    }
}
