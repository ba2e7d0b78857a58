//! Reads OpenAI Chat stream chunks into format-neutral pieces, shared by the translators
//! whose upstream is Chat. Tool calls are normalised here: a call starts when its `index`
//! changes, or when a new `id` arrives (some servers send every call with index 0), and its
//! argument fragments follow.

use serde_json::Value;

use super::{FinishReason, Tokens, str_of};

/// One thing a Chat chunk says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    /// A new tool call starts (any previous one is complete).
    ToolStart {
        id: String,
        name: String,
    },
    /// A fragment of the current tool call's arguments.
    ToolArgs(String),
    Finish(FinishReason),
    Usage(Tokens),
    /// The upstream sent `{"error": ...}` in the stream.
    Error(Value),
}

#[derive(Debug, Default)]
pub(crate) struct ChatChunkParser {
    /// The open tool call: its index and id as the upstream gave them.
    current: Option<(Option<u64>, Option<String>)>,
    /// Indices of tool calls already complete.
    closed: Vec<u64>,
    calls: usize,
}

impl ChatChunkParser {
    pub fn push(&mut self, chunk: &Value) -> Vec<Piece> {
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            return vec![Piece::Error(err.clone())];
        }
        let mut out = Vec::new();
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.get("delta") {
                for key in ["content", "refusal"] {
                    if let Some(t) = str_of(delta, key).filter(|t| !t.is_empty()) {
                        out.push(Piece::Text(t.to_string()));
                    }
                }
                let calls = delta.get("tool_calls").and_then(Value::as_array);
                for tc in calls.into_iter().flatten() {
                    self.tool_delta(tc, &mut out);
                }
            }
            if let Some(r) = str_of(choice, "finish_reason") {
                out.push(Piece::Finish(FinishReason::from_chat(r)));
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            out.push(Piece::Usage(Tokens::from_chat(u)));
        }
        out
    }

    fn tool_delta(&mut self, tc: &Value, out: &mut Vec<Piece>) {
        let idx = tc.get("index").and_then(Value::as_u64);
        let id = str_of(tc, "id")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let function = tc.get("function");
        let name = function
            .and_then(|f| str_of(f, "name"))
            .filter(|s| !s.is_empty());
        let args = match function.and_then(|f| f.get("arguments")) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ Value::Object(_)) => v.to_string(),
            _ => String::new(),
        };
        let is_new = match &self.current {
            None => true,
            Some((cur_idx, cur_id)) => {
                (idx.is_some() && idx != *cur_idx)
                    || (id.is_some() && cur_id.is_some() && id != *cur_id)
            }
        };
        if is_new {
            if let Some(i) = idx
                && id.is_none()
                && self.closed.contains(&i)
            {
                // A late fragment of a call already closed: it cannot be placed any more.
                return;
            }
            if let Some((Some(i), _)) = self.current {
                self.closed.push(i);
            }
            self.calls += 1;
            let call_id = id
                .clone()
                .unwrap_or_else(|| format!("call_ns_{}", self.calls));
            self.current = Some((idx, id));
            out.push(Piece::ToolStart {
                id: call_id,
                name: name.unwrap_or_default().to_string(),
            });
        }
        if !args.is_empty() {
            out.push(Piece::ToolArgs(args));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool_chunk(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
        let mut tc = json!({"index": index, "function": {"arguments": args}});
        if let Some(id) = id {
            tc["id"] = json!(id);
            tc["type"] = json!("function");
        }
        if let Some(name) = name {
            tc["function"]["name"] = json!(name);
        }
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [tc]}, "finish_reason": null}]})
    }

    #[test]
    fn new_index_or_new_id_starts_a_call() {
        let mut p = ChatChunkParser::default();
        let mut all = Vec::new();
        all.extend(p.push(&tool_chunk(0, Some("a"), Some("f"), "")));
        all.extend(p.push(&tool_chunk(0, None, None, "{}")));
        all.extend(p.push(&tool_chunk(1, Some("b"), Some("g"), "{\"x\"")));
        // Some servers send every call as index 0 with a new id.
        all.extend(p.push(&tool_chunk(1, Some("c"), Some("h"), "{}")));
        // A late fragment for closed index 0 is dropped.
        all.extend(p.push(&tool_chunk(0, None, None, "zzz")));
        assert_eq!(
            all,
            vec![
                Piece::ToolStart {
                    id: "a".into(),
                    name: "f".into()
                },
                Piece::ToolArgs("{}".into()),
                Piece::ToolStart {
                    id: "b".into(),
                    name: "g".into()
                },
                Piece::ToolArgs("{\"x\"".into()),
                Piece::ToolStart {
                    id: "c".into(),
                    name: "h".into()
                },
                Piece::ToolArgs("{}".into()),
            ]
        );
    }

    #[test]
    fn error_and_usage() {
        let mut p = ChatChunkParser::default();
        assert!(matches!(
            p.push(&json!({"error": {"message": "x"}}))[..],
            [Piece::Error(_)]
        ));
        let u =
            p.push(&json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}));
        assert_eq!(
            u,
            vec![Piece::Usage(Tokens {
                input: 10,
                output: 2,
                ..Tokens::default()
            })]
        );
    }
}
