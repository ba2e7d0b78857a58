//! The loop of one iteration: ask the model, run the tools it calls, send the results back,
//! until it finishes, answers without a tool, runs out of turns or the gateway refuses.

use std::path::Path;

use serde_json::{Value, json};

use crate::client::{self, Answer};
use crate::prompt;
use crate::tools::{self, Dispatch};
use crate::{AgentConfig, Event, Outcome, Prompt, Stop};

/// Identical failing tool calls in a row that end an iteration as thrashing.
pub const THRASH_REPEATS: u32 = 3;

/// The last failing tool call and how many times in a row it was made.
#[derive(Default)]
struct Repeats {
    last: Option<(String, String, String)>,
    count: u32,
}

impl Repeats {
    /// Count a call's result; `Some` when it is the `THRASH_REPEATS`th identical failure.
    fn record(&mut self, name: &str, arguments: &str, ok: bool, text: &str) -> Option<Stop> {
        if ok {
            *self = Self::default();
            return None;
        }
        let call = (name.to_string(), arguments.to_string(), text.to_string());
        if self.last.as_ref() == Some(&call) {
            self.count += 1;
        } else {
            self.last = Some(call);
            self.count = 1;
        }
        (self.count >= THRASH_REPEATS).then(|| Stop::Thrashing {
            tool: name.to_string(),
            error: text.to_string(),
            repeats: self.count,
        })
    }
}

/// Runs one iteration in `workdir` (a git worktree). `on_event` sees everything as it
/// happens: each turn before its request, each tool call and its result, each command's end,
/// each text the model says.
///
/// The conversation starts with the [`system_prompt`](crate::system_prompt) and one user
/// message (the recipe, `## Repository map`, `## Repository guidance`, `## Progress notes from
/// earlier iterations`); each answer's tool calls are run in order and answered with one
/// `tool` message each. A call to `finish` ends the iteration at once (calls after it in the
/// same answer are not run). Nothing here fails: every way an iteration ends is a [`Stop`].
pub async fn run_iteration(
    cfg: &AgentConfig,
    workdir: &Path,
    prompt: &Prompt,
    on_event: &mut (dyn FnMut(Event) + Send),
) -> Outcome {
    let first = first_message(workdir, prompt).await;
    let mut messages: Vec<Value> = vec![
        json!({ "role": "system", "content": prompt::system_prompt() }),
        json!({ "role": "user", "content": first }),
    ];
    let mut outcome = Outcome {
        stop: Stop::MaxTurns,
        turns: 0,
        tool_calls: 0,
        notes: None,
    };
    let mut repeats = Repeats::default();
    for n in 1..=cfg.max_turns {
        outcome.turns = n;
        on_event(Event::Turn { n });
        tracing::debug!(turn = n, messages = messages.len(), "agent: model request");
        let answer = match client::complete(cfg, &messages, n).await {
            Ok(answer) => answer,
            Err(stop) => {
                tracing::info!(turn = n, ?stop, "agent: the model call ended the iteration");
                outcome.stop = stop;
                return outcome;
            }
        };
        if let Some(text) = &answer.text {
            on_event(Event::Message { text: text.clone() });
        }
        if answer.tool_calls.is_empty() {
            tracing::debug!(
                turn = n,
                finish_reason = answer.finish_reason.as_deref().unwrap_or(""),
                "agent: answer without a tool call"
            );
            outcome.stop = Stop::AnsweredWithoutTools {
                text: answer.text.unwrap_or_default(),
            };
            return outcome;
        }
        messages.push(assistant_message(&answer));
        for call in answer.tool_calls {
            outcome.tool_calls += 1;
            on_event(Event::ToolCall {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            });
            match tools::dispatch(cfg, workdir, &call.name, &call.arguments).await {
                Dispatch::Finish {
                    summary,
                    done,
                    notes,
                } => {
                    tracing::debug!(turn = n, done, "agent: finished");
                    outcome.stop = Stop::Finished {
                        summary,
                        claims_done: done,
                    };
                    outcome.notes = notes;
                    return outcome;
                }
                Dispatch::Fatal { message } => {
                    tracing::error!(turn = n, %message, "agent: a tool could not run; ending the iteration");
                    outcome.stop = Stop::ToolFailed { message };
                    return outcome;
                }
                Dispatch::Output { ok, text, command } => {
                    if let Some(end) = command {
                        on_event(Event::Command {
                            command: end.command,
                            exit_code: end.exit_code,
                            timed_out: end.timed_out,
                        });
                    }
                    on_event(Event::ToolResult {
                        name: call.name.clone(),
                        ok,
                        bytes: text.len(),
                    });
                    if let Some(stop) = repeats.record(&call.name, &call.arguments, ok, &text) {
                        tracing::info!(turn = n, tool = %call.name, "agent: the same failing call again and again; ending the iteration");
                        outcome.stop = stop;
                        return outcome;
                    }
                    messages.push(json!({
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": text,
                    }));
                }
            }
        }
    }
    tracing::info!(turns = outcome.turns, "agent: out of turns");
    outcome
}

/// The first user message, built on the blocking pool (it walks the repository).
async fn first_message(workdir: &Path, prompt: &Prompt) -> String {
    let dir = workdir.to_path_buf();
    let owned = prompt.clone();
    match tokio::task::spawn_blocking(move || prompt::first_message(&dir, &owned)).await {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!("agent: building the first message on the blocking pool failed: {e}");
            prompt::first_message(workdir, prompt)
        }
    }
}

/// The assistant message as it goes back into the history: its text and its tool calls.
pub(crate) fn assistant_message(answer: &Answer) -> Value {
    let calls: Vec<Value> = answer
        .tool_calls
        .iter()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments },
            })
        })
        .collect();
    json!({
        "role": "assistant",
        "content": answer.text,
        "tool_calls": calls,
    })
}
