//! The CLIs' JSONL event streams, read into one event type.
//!
//! - Codex (`codex exec --json`): `thread.started`, `turn.started`, `item.started` /
//!   `item.completed` (`agent_message`, `command_execution`, `file_change`, `error`, …),
//!   `turn.completed` (with the turn's usage) or `turn.failed`, and `error`.
//! - Claude Code (`claude -p --output-format stream-json --verbose`): `system` (`init`),
//!   `assistant` and `user` messages, and one `result` (subtype `success`,
//!   `error_max_turns`, `error_during_execution`; usage summed over the run).
//! - OpenCode (`opencode run --format json`): `step_start`, `text`, `tool_use`,
//!   `step_finish` (reason, the step's tokens) and `error`.
//!
//! Fields are read leniently (a missing field is empty): the CLIs add fields often.

use serde_json::Value;

use crate::cli::Cli;

/// Token usage as the CLI reports it, in the ledger's terms (the gateway's one `Usage`):
/// `input_tokens` counts every prompt token (cached and cache-write ones included),
/// `output_tokens` every output token (reasoning included).
pub use nightshift_wire::Usage;

/// How the CLI says its run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// It finished its turn normally.
    Completed,
    /// It stopped at its own turn limit.
    MaxTurns,
    /// It gave up, with its reason.
    Failed { message: String },
}

/// One thing the CLI reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Session {
        id: String,
    },
    /// A model turn began (one model call). Claude Code writes one `assistant` line per
    /// content block, all with the reply's message id: lines with the id of the turn
    /// before continue it.
    Turn {
        message_id: Option<String>,
    },
    ToolCall {
        tool: String,
        input: String,
    },
    /// A shell command finished (Codex and OpenCode report commands with their results).
    Command {
        command: String,
        exit_code: Option<i64>,
        output: String,
    },
    /// A tool's result (Claude Code reports results apart from their calls).
    ToolResult {
        ok: bool,
        output: String,
    },
    Message {
        text: String,
    },
    /// Something the CLI reported that did not end the run.
    Warning {
        message: String,
    },
    /// Usage to add to the run's total.
    Usage(Usage),
    End(End),
}

/// The most characters of a message, command or output kept in an event.
const EXCERPT: usize = 400;

fn cut(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(EXCERPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Session { id } => write!(f, "session {id}"),
            Self::Turn { .. } => write!(f, "turn"),
            Self::ToolCall { tool, input } => write!(f, "tool {tool}: {input}"),
            Self::Command {
                command,
                exit_code,
                output,
            } => match exit_code {
                Some(c) => write!(f, "command `{command}` exited {c}: {output}"),
                None => write!(f, "command `{command}`: {output}"),
            },
            Self::ToolResult { ok, output } => {
                write!(
                    f,
                    "tool result ({}): {output}",
                    if *ok { "ok" } else { "error" }
                )
            }
            Self::Message { text } => write!(f, "message: {text}"),
            Self::Warning { message } => write!(f, "warning: {message}"),
            Self::Usage(u) => write!(
                f,
                "usage: {} input ({} cached, {} cache write), {} output ({} reasoning)",
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_write_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            Self::End(End::Completed) => write!(f, "end: completed"),
            Self::End(End::MaxTurns) => write!(f, "end: turn limit"),
            Self::End(End::Failed { message }) => write!(f, "end: failed: {message}"),
        }
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// The events of one line of the CLI's standard output; none for a line that is not a JSON
/// object (a CLI may print other text there).
pub fn parse_line(cli: Cli, line: &str) -> Vec<Event> {
    let line = line.trim();
    if !line.starts_with('{') {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    match cli {
        Cli::Codex => codex(&v),
        Cli::ClaudeCode => claude(&v),
        Cli::Opencode => opencode(&v),
    }
}

fn codex(v: &Value) -> Vec<Event> {
    let item = v.get("item").unwrap_or(&Value::Null);
    match (s(v, &["type"]), s(item, &["type"])) {
        ("thread.started", _) => vec![Event::Session {
            id: s(v, &["thread_id"]).into(),
        }],
        ("item.started", "command_execution") => vec![Event::ToolCall {
            tool: "shell".into(),
            input: cut(s(item, &["command"])),
        }],
        ("item.started", t @ ("mcp_tool_call" | "web_search")) => vec![Event::ToolCall {
            tool: t.into(),
            input: cut(&item.to_string()),
        }],
        ("item.completed", "command_execution") => vec![Event::Command {
            command: cut(s(item, &["command"])),
            exit_code: item.get("exit_code").and_then(Value::as_i64),
            output: cut(s(item, &["aggregated_output"])),
        }],
        ("item.completed", "file_change") => {
            let paths: Vec<&str> = item
                .get("changes")
                .and_then(Value::as_array)
                .map(|c| c.iter().map(|c| s(c, &["path"])).collect())
                .unwrap_or_default();
            vec![Event::ToolCall {
                tool: "apply_patch".into(),
                input: paths.join(", "),
            }]
        }
        ("item.completed", "agent_message") => vec![Event::Message {
            text: s(item, &["text"]).into(),
        }],
        ("item.completed", "error") => vec![Event::Warning {
            message: cut(s(item, &["message"])),
        }],
        ("turn.started", _) => vec![Event::Turn { message_id: None }],
        ("turn.completed", _) => {
            let u = v.get("usage").unwrap_or(&Value::Null);
            vec![
                Event::Usage(Usage {
                    input_tokens: n(u, &["input_tokens"]),
                    cached_input_tokens: n(u, &["cached_input_tokens"]),
                    cache_write_tokens: n(u, &["cache_write_input_tokens"]),
                    output_tokens: n(u, &["output_tokens"]),
                    reasoning_tokens: n(u, &["reasoning_output_tokens"]),
                }),
                Event::End(End::Completed),
            ]
        }
        ("turn.failed", _) => vec![Event::End(End::Failed {
            message: cut(s(v, &["error", "message"])),
        })],
        ("error", _) => vec![Event::Warning {
            message: cut(s(v, &["message"])),
        }],
        _ => Vec::new(),
    }
}

fn claude(v: &Value) -> Vec<Event> {
    match s(v, &["type"]) {
        "system" if s(v, &["subtype"]) == "init" => vec![Event::Session {
            id: s(v, &["session_id"]).into(),
        }],
        "assistant" => {
            let id = s(v, &["message", "id"]);
            let mut out = vec![Event::Turn {
                message_id: (!id.is_empty()).then(|| id.to_string()),
            }];
            for block in v
                .pointer("/message/content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match s(block, &["type"]) {
                    "text" => out.push(Event::Message {
                        text: s(block, &["text"]).into(),
                    }),
                    "tool_use" => {
                        let input = block.get("input").unwrap_or(&Value::Null);
                        let shown = match input.get("command").and_then(Value::as_str) {
                            Some(c) => c.to_string(),
                            None => input.to_string(),
                        };
                        out.push(Event::ToolCall {
                            tool: s(block, &["name"]).into(),
                            input: cut(&shown),
                        });
                    }
                    _ => {}
                }
            }
            out
        }
        "user" => v
            .pointer("/message/content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| s(b, &["type"]) == "tool_result")
            .map(|b| Event::ToolResult {
                ok: !b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                output: cut(&match b.get("content") {
                    Some(Value::String(t)) => t.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                }),
            })
            .collect(),
        "result" => {
            let u = v.get("usage").unwrap_or(&Value::Null);
            let (read, write) = (
                n(u, &["cache_read_input_tokens"]),
                n(u, &["cache_creation_input_tokens"]),
            );
            let usage = Event::Usage(Usage {
                input_tokens: n(u, &["input_tokens"]) + read + write,
                cached_input_tokens: read,
                cache_write_tokens: write,
                output_tokens: n(u, &["output_tokens"]),
                reasoning_tokens: n(u, &["output_tokens_details", "thinking_tokens"]),
            });
            let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
            let end = match s(v, &["subtype"]) {
                "error_max_turns" => End::MaxTurns,
                "success" if !is_error => End::Completed,
                other => End::Failed {
                    message: cut(match s(v, &["result"]) {
                        "" => other,
                        r => r,
                    }),
                },
            };
            vec![usage, Event::End(end)]
        }
        _ => Vec::new(),
    }
}

fn opencode(v: &Value) -> Vec<Event> {
    let part = v.get("part").unwrap_or(&Value::Null);
    match s(v, &["type"]) {
        "step_start" => vec![Event::Turn { message_id: None }],
        "text" => vec![Event::Message {
            text: s(part, &["text"]).into(),
        }],
        "tool_use" => {
            let tool = s(part, &["tool"]);
            let state = part.get("state").unwrap_or(&Value::Null);
            let input = state.get("input").unwrap_or(&Value::Null);
            let output = cut(s(state, &["output"]));
            if tool == "bash" {
                let command = cut(s(input, &["command"]));
                vec![
                    Event::ToolCall {
                        tool: tool.into(),
                        input: command.clone(),
                    },
                    Event::Command {
                        command,
                        exit_code: state.pointer("/metadata/exit").and_then(Value::as_i64),
                        output,
                    },
                ]
            } else {
                vec![
                    Event::ToolCall {
                        tool: tool.into(),
                        input: cut(&input.to_string()),
                    },
                    Event::ToolResult {
                        ok: s(state, &["status"]) == "completed",
                        output,
                    },
                ]
            }
        }
        "step_finish" => {
            let t = part.get("tokens").unwrap_or(&Value::Null);
            let (read, write) = (n(t, &["cache", "read"]), n(t, &["cache", "write"]));
            let reasoning = n(t, &["reasoning"]);
            vec![Event::Usage(Usage {
                input_tokens: n(t, &["input"]) + read + write,
                cached_input_tokens: read,
                cache_write_tokens: write,
                output_tokens: n(t, &["output"]) + reasoning,
                reasoning_tokens: reasoning,
            })]
        }
        "error" => {
            let e = v.get("error").unwrap_or(&Value::Null);
            let message = [
                s(e, &["data", "message"]),
                s(e, &["message"]),
                s(e, &["name"]),
            ]
            .into_iter()
            .find(|m| !m.is_empty())
            .map_or_else(|| cut(&e.to_string()), cut);
            vec![Event::End(End::Failed { message })]
        }
        _ => Vec::new(),
    }
}

/// What a run reported, summed up as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub session: Option<String>,
    /// Model turns begun (Codex reports one turn per run: its tool calls are counted as
    /// turns too, since each follows a model call).
    pub turns: u32,
    /// The message id of the latest turn (Claude Code), to tell a new turn from another
    /// block of the same reply.
    pub turn_message: Option<String>,
    pub tool_calls: u32,
    pub commands: u32,
    pub usage: Usage,
    /// Whether any usage was reported.
    pub usage_reported: bool,
    pub last_message: Option<String>,
    pub warnings: Vec<String>,
    pub end: Option<End>,
}

impl Tally {
    pub fn add(&mut self, cli: Cli, e: &Event) {
        match e {
            Event::Session { id } => self.session = Some(id.clone()),
            Event::Turn { message_id } => {
                if message_id.is_none() || *message_id != self.turn_message {
                    self.turns += 1;
                }
                self.turn_message = message_id.clone();
            }
            Event::ToolCall { .. } => {
                self.tool_calls += 1;
                if cli == Cli::Codex {
                    self.turns += 1;
                }
            }
            Event::Command { .. } => self.commands += 1,
            Event::ToolResult { .. } => {}
            Event::Message { text } if !text.trim().is_empty() => {
                self.last_message = Some(text.clone());
            }
            Event::Message { .. } => {}
            Event::Warning { message } => {
                if self.warnings.len() < 20 {
                    self.warnings.push(message.clone());
                }
            }
            Event::Usage(u) => {
                self.usage += *u;
                self.usage_reported = true;
            }
            Event::End(end) => {
                // A failure or a limit, once seen, stays; only a plain completion gives way
                // to a later end (a failure reported after the CLI's summary, say).
                if self.end.is_none() || matches!(self.end, Some(End::Completed)) {
                    self.end = Some(end.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tally(cli: Cli, lines: &str) -> (Vec<String>, Tally) {
        let mut t = Tally::default();
        let mut shown = Vec::new();
        for line in lines.lines() {
            for e in parse_line(cli, line) {
                t.add(cli, &e);
                shown.push(e.to_string());
            }
        }
        (shown, t)
    }

    // Lines as the real CLIs wrote them (shortened), driven by the scripted provider.
    #[test]
    fn codex_exec_json() {
        let (shown, t) = tally(
            Cli::Codex,
            r#"{"type":"thread.started","thread_id":"01a2"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `agent-model` not found."}}
{"type":"turn.started"}
{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hi > hello.txt'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'echo hi > hello.txt'","aggregated_output":"","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Wrote hello.txt."}}
{"type":"turn.completed","usage":{"input_tokens":2100,"cached_input_tokens":1000,"cache_write_input_tokens":0,"output_tokens":25,"reasoning_output_tokens":0}}
Reading additional input from stdin..."#,
        );
        assert_eq!(
            shown,
            [
                "session 01a2",
                "warning: Model metadata for `agent-model` not found.",
                "turn",
                "tool shell: /bin/bash -lc 'echo hi > hello.txt'",
                "command `/bin/bash -lc 'echo hi > hello.txt'` exited 0: ",
                "message: Wrote hello.txt.",
                "usage: 2100 input (1000 cached, 0 cache write), 25 output (0 reasoning)",
                "end: completed",
            ]
        );
        assert_eq!((t.turns, t.tool_calls, t.commands), (2, 1, 1));
        assert_eq!(t.end, Some(End::Completed));
        assert_eq!(t.last_message.as_deref(), Some("Wrote hello.txt."));
    }

    #[test]
    fn codex_turn_failed() {
        let (_, t) = tally(
            Cli::Codex,
            r#"{"type":"error","message":"unexpected status 402 Payment Required"}
{"type":"turn.failed","error":{"message":"unexpected status 402 Payment Required"}}"#,
        );
        assert_eq!(
            t.end,
            Some(End::Failed {
                message: "unexpected status 402 Payment Required".into()
            })
        );
    }

    /// Claude Code writes one `assistant` line per content block of a reply: a text and a
    /// tool call under one message id are one turn, not two.
    #[test]
    fn claude_blocks_of_one_reply_are_one_turn() {
        let (_, t) = tally(
            Cli::ClaudeCode,
            r#"{"type":"assistant","message":{"id":"msg_0","content":[{"type":"text","text":"Let me look."}]}}
{"type":"assistant","message":{"id":"msg_0","content":[{"type":"tool_use","id":"toolu_0","name":"Bash","input":{"command":"ls"}}]}}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0","type":"tool_result","content":"a.txt","is_error":false}]}}
{"type":"assistant","message":{"id":"msg_1","content":[{"type":"text","text":"Reading it."}]}}
{"type":"assistant","message":{"id":"msg_1","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"cat a.txt"}}]}}"#,
        );
        assert_eq!((t.turns, t.tool_calls), (2, 2));
    }

    #[test]
    fn claude_stream_json() {
        let (shown, t) = tally(
            Cli::ClaudeCode,
            r#"{"type":"system","subtype":"init","cwd":"/r","session_id":"59fa","tools":["Bash"]}
{"type":"assistant","message":{"id":"msg_0","content":[{"type":"tool_use","id":"toolu_0","name":"Bash","input":{"command":"echo hi > hello.txt","description":"write hello"}}],"usage":{"input_tokens":1000,"output_tokens":1}}}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_0","type":"tool_result","content":"(Bash completed with no output)","is_error":false}]}}
{"type":"assistant","message":{"id":"msg_1","content":[{"type":"text","text":"Wrote hello.txt."}]}}
{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"Wrote hello.txt.","usage":{"input_tokens":1100,"cache_creation_input_tokens":0,"cache_read_input_tokens":1000,"output_tokens":25,"output_tokens_details":{"thinking_tokens":0}}}"#,
        );
        assert_eq!(
            shown,
            [
                "session 59fa",
                "turn",
                "tool Bash: echo hi > hello.txt",
                "tool result (ok): (Bash completed with no output)",
                "turn",
                "message: Wrote hello.txt.",
                "usage: 2100 input (1000 cached, 0 cache write), 25 output (0 reasoning)",
                "end: completed",
            ]
        );
        assert_eq!(t.turns, 2);
    }

    #[test]
    fn claude_max_turns_and_errors() {
        let (_, t) = tally(
            Cli::ClaudeCode,
            r#"{"type":"result","subtype":"error_max_turns","is_error":true,"usage":{}}"#,
        );
        assert_eq!(t.end, Some(End::MaxTurns));
        let (_, t) = tally(
            Cli::ClaudeCode,
            r#"{"type":"result","subtype":"success","is_error":true,"result":"API Error: 402 budget exhausted","usage":{}}"#,
        );
        assert_eq!(
            t.end,
            Some(End::Failed {
                message: "API Error: 402 budget exhausted".into()
            })
        );
    }

    #[test]
    fn opencode_run_json() {
        let (shown, t) = tally(
            Cli::Opencode,
            r#"{"type":"step_start","part":{"type":"step-start"}}
{"type":"tool_use","part":{"type":"tool","tool":"bash","state":{"status":"completed","input":{"command":"echo hi > hello.txt","description":"write hello"},"output":"(no output)","metadata":{"output":"(no output)","exit":0}}}}
{"type":"step_finish","part":{"reason":"tool-calls","tokens":{"total":1020,"input":1000,"output":20,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0}}
{"type":"step_start","part":{"type":"step-start"}}
{"type":"text","part":{"type":"text","text":"Wrote hello.txt."}}
{"type":"step_finish","part":{"reason":"stop","tokens":{"total":1105,"input":100,"output":5,"reasoning":0,"cache":{"write":0,"read":1000}},"cost":0}}"#,
        );
        assert_eq!(
            shown,
            [
                "turn",
                "tool bash: echo hi > hello.txt",
                "command `echo hi > hello.txt` exited 0: (no output)",
                "usage: 1000 input (0 cached, 0 cache write), 20 output (0 reasoning)",
                "turn",
                "message: Wrote hello.txt.",
                "usage: 1100 input (1000 cached, 0 cache write), 5 output (0 reasoning)",
            ]
        );
        assert_eq!(
            (
                t.turns,
                t.usage.input_tokens,
                t.usage.cached_input_tokens,
                t.usage.output_tokens
            ),
            (2, 2100, 1000, 25)
        );
        assert_eq!(t.end, None);
        let (_, t) = tally(
            Cli::Opencode,
            r#"{"type":"error","error":{"name":"APIError","data":{"message":"Payment Required: budget exhausted","statusCode":402}}}"#,
        );
        assert_eq!(
            t.end,
            Some(End::Failed {
                message: "Payment Required: budget exhausted".into()
            })
        );
    }
}
