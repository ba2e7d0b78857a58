//! What generation produces, as OpenAI Chat Completions bodies: one `chat.completion`, or
//! `chat.completion.chunk` server-sent events.

use bytes::Bytes;
use serde_json::{Value, json};

/// One step of a generation, from the worker.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// Answer text.
    Text(String),
    /// The tool call's name is known; its arguments follow as [`Event::Arguments`].
    ToolCall {
        name: String,
    },
    Arguments(String),
    /// The end: why, and the exact token counts.
    End(Finish),
    /// Inference failed part-way; the answer is incomplete.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Finish {
    pub reason: FinishReason,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub timings: crate::Timings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinishReason {
    Stop,
    Length,
    ToolCalls,
}

impl FinishReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
        }
    }
}

fn usage(f: &Finish) -> Value {
    json!({
        "prompt_tokens": f.prompt_tokens,
        "completion_tokens": f.completion_tokens,
        "total_tokens": f.prompt_tokens + f.completion_tokens,
    })
}

/// Identity of one answer: its ids and time.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub id: String,
    pub call_id: String,
    pub created: u64,
    pub model: String,
}

/// Collects events into one `chat.completion` body.
#[derive(Debug, Default)]
pub(crate) struct Whole {
    text: String,
    call: Option<(String, String)>,
}

impl Whole {
    pub fn push(&mut self, ev: Event) {
        match ev {
            Event::Text(t) => self.text.push_str(&t),
            Event::ToolCall { name } => self.call = Some((name, String::new())),
            Event::Arguments(a) => {
                if let Some((_, args)) = &mut self.call {
                    args.push_str(&a);
                }
            }
            Event::End(_) | Event::Failed(_) => {}
        }
    }

    pub fn body(self, ids: &Ids, finish: &Finish) -> Value {
        let message = match &self.call {
            Some((name, args)) => json!({
                "role": "assistant",
                "content": (!self.text.is_empty()).then_some(self.text.as_str()),
                "tool_calls": [{"id": ids.call_id, "type": "function",
                    "function": {"name": name, "arguments": args}}],
            }),
            None => json!({"role": "assistant", "content": self.text}),
        };
        json!({
            "id": ids.id,
            "object": "chat.completion",
            "created": ids.created,
            "model": ids.model,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                "finish_reason": finish.reason.as_str()}],
            "usage": usage(finish),
        })
    }
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// Turns events into `chat.completion.chunk` events, as OpenAI streams them.
#[derive(Debug)]
pub(crate) struct Chunks {
    ids: Ids,
    include_usage: bool,
}

impl Chunks {
    pub fn new(ids: Ids, include_usage: bool) -> Self {
        Self { ids, include_usage }
    }

    fn chunk(&self, delta: Value, finish: Option<FinishReason>) -> Bytes {
        sse(&json!({
            "id": self.ids.id,
            "object": "chat.completion.chunk",
            "created": self.ids.created,
            "model": self.ids.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null,
                "finish_reason": finish.map(FinishReason::as_str)}],
        }))
    }

    /// The first event, before any token: the assistant's role.
    pub fn start(&self) -> Bytes {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    pub fn push(&self, ev: Event) -> Vec<Bytes> {
        match ev {
            Event::Text(t) => vec![self.chunk(json!({"content": t}), None)],
            Event::ToolCall { name } => vec![self.chunk(
                json!({"tool_calls": [{"index": 0, "id": self.ids.call_id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            )],
            Event::Arguments(a) => vec![self.chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}),
                None,
            )],
            Event::End(f) => {
                let mut out = vec![self.chunk(json!({}), Some(f.reason))];
                if self.include_usage {
                    out.push(sse(&json!({
                        "id": self.ids.id,
                        "object": "chat.completion.chunk",
                        "created": self.ids.created,
                        "model": self.ids.model,
                        "choices": [],
                        "usage": usage(&f),
                    })));
                }
                out.push(Bytes::from_static(b"data: [DONE]\n\n"));
                out
            }
            // OpenAI reports an error inside a stream as an error object, and no [DONE].
            Event::Failed(msg) => vec![sse(
                &json!({"error": {"message": msg, "type": "api_error", "param": null, "code": "inference_failed"}}),
            )],
        }
    }
}

/// Splits a tool call the model writes, `{"name": "x", "arguments": {…}}`, into its name
/// and the text of its arguments as they are generated, and says when the object closes.
#[derive(Debug, Default)]
pub(crate) struct CallSplitter {
    head: String,
    in_args: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    started: bool,
    done: bool,
}

/// The name, and where the arguments begin, once the head of the object is complete.
fn parse_head(s: &str) -> Option<(String, usize)> {
    let ws = |s: &str, i: usize| i + s[i..].bytes().take_while(u8::is_ascii_whitespace).count();
    let lit = |s: &str, i: usize, l: &str| s[i..].starts_with(l).then_some(i + l.len());
    let mut i = ws(s, 0);
    i = lit(s, i, "{")?;
    i = ws(s, i);
    i = lit(s, i, "\"name\"")?;
    i = ws(s, i);
    i = lit(s, i, ":")?;
    i = ws(s, i);
    i = lit(s, i, "\"")?;
    let end = i + s[i..].find('"')?;
    let name = s[i..end].to_string();
    i = ws(s, end + 1);
    i = lit(s, i, ",")?;
    i = ws(s, i);
    i = lit(s, i, "\"arguments\"")?;
    i = ws(s, i);
    i = lit(s, i, ":")?;
    Some((name, i))
}

impl CallSplitter {
    pub fn done(&self) -> bool {
        self.done
    }

    /// Feed generated text; returns the events it completes.
    pub fn push(&mut self, text: &str) -> Vec<Event> {
        let mut out = Vec::new();
        let rest: String = if self.in_args {
            text.to_string()
        } else {
            self.head.push_str(text);
            match parse_head(&self.head) {
                Some((name, at)) => {
                    self.in_args = true;
                    out.push(Event::ToolCall { name });
                    self.head[at..].to_string()
                }
                None => return out,
            }
        };
        let mut args = String::new();
        for c in rest.chars() {
            if self.done {
                break;
            }
            if !self.started {
                if c.is_whitespace() {
                    continue;
                }
                self.started = true;
            }
            args.push(c);
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, '\\') => self.escaped = true,
                    (false, '"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => self.in_string = true,
                '{' | '[' => self.depth += 1,
                '}' | ']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.done = true;
                    }
                }
                _ => {}
            }
        }
        if !args.is_empty() {
            out.push(Event::Arguments(args));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_splits_into_name_and_arguments_in_any_pieces() {
        let text = "{ \"name\": \"read\",\n \"arguments\": {\"p\": \"a}{\\\"\", \"n\": [1]} }  ";
        for piece in [1, 2, 3, 7, 100] {
            let mut s = CallSplitter::default();
            let mut events = Vec::new();
            let chars: Vec<char> = text.chars().collect();
            for c in chars.chunks(piece) {
                if s.done() {
                    break;
                }
                events.extend(s.push(&c.iter().collect::<String>()));
            }
            assert!(s.done(), "piece {piece}");
            let mut whole = Whole::default();
            for e in events {
                whole.push(e);
            }
            assert_eq!(
                whole.call,
                Some(("read".into(), "{\"p\": \"a}{\\\"\", \"n\": [1]}".into())),
                "piece {piece}"
            );
        }
    }

    #[test]
    fn chunks_end_with_finish_usage_and_done() {
        let ids = Ids {
            id: "chatcmpl-1".into(),
            call_id: "call_1".into(),
            created: 7,
            model: "m".into(),
        };
        let c = Chunks::new(ids, true);
        let end = c.push(Event::End(Finish {
            reason: FinishReason::Length,
            prompt_tokens: 5,
            completion_tokens: 2,
            timings: crate::Timings::default(),
        }));
        let text: Vec<String> = end
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert_eq!(
            text,
            [
                "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n",
                "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
                "data: [DONE]\n\n",
            ]
        );
    }
}
