//! The reviewer: a model reads an iteration's diff, with the recipe, the repository's
//! guidance and the surrounding code it asks for (the read-only tools), and answers with a
//! verdict through one tool whose parameters are the verdict's JSON Schema (providers hold a
//! forced tool call to its schema; the local model's grammar does too).
//!
//! A diff larger than `max_diff_tokens` (about four characters a token) is reviewed in
//! parts, whole files together where they fit; the change is approved only when every part
//! is. A verdict that does not read (no `submit_review` call, or arguments outside the
//! schema) is asked for once more, then the review is [`Review::Malformed`]: a gate error,
//! never a pass.

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AgentConfig;
use crate::client;
use crate::tools::{self, Dispatch};

/// The shipped reviewer prompt (a recipe may give its own).
pub const DEFAULT_REVIEW_PROMPT: &str = include_str!("review_prompt.md");

/// The tool that carries the verdict.
const SUBMIT: &str = "submit_review";
/// Characters per token, for splitting a diff (a documented estimate, no tokenizer).
const CHARS_PER_TOKEN: usize = 4;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// As the verdict's schema spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Correctness,
    Security,
    Tests,
    ScopeCreep,
    Maintainability,
}

impl Category {
    /// As the verdict's schema spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Correctness => "correctness",
            Self::Security => "security",
            Self::Tests => "tests",
            Self::ScopeCreep => "scope_creep",
            Self::Maintainability => "maintainability",
        }
    }
}

/// One thing the reviewer found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub severity: Severity,
    pub category: Category,
    pub message: String,
}

/// `approve` or `reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// The reviewer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub verdict: Decision,
    pub findings: Vec<Finding>,
    pub summary: String,
}

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// Every part read; `verdict` merges them (rejected if any part was).
    Done { verdict: Verdict, parts: usize },
    /// A part's verdict did not read, twice.
    Malformed { message: String },
    /// The model call failed (the budget, the gateway).
    Failed { message: String },
}

/// What the reviewer is given.
pub struct ReviewInput<'a> {
    /// The reviewer's instructions (the recipe's own, or [`DEFAULT_REVIEW_PROMPT`]).
    pub prompt: &'a str,
    /// What the agent was asked to do.
    pub recipe: &'a str,
    /// The repository's guidance files (`AGENTS.md`, …), as the agent saw them.
    pub guidance: &'a str,
    pub diff: &'a str,
    pub max_diff_tokens: u32,
}

/// The verdict's JSON Schema: the `submit_review` tool's parameters.
pub fn verdict_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        json!({
            "type": "object",
            "properties": {
                "verdict": { "type": "string", "enum": ["approve", "reject"] },
                "findings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "file": { "type": "string" },
                            "line": { "type": "integer", "minimum": 0 },
                            "severity": { "type": "string", "enum": ["low", "medium", "high", "critical"] },
                            "category": { "type": "string", "enum": ["correctness", "security", "tests", "scope_creep", "maintainability"] },
                            "message": { "type": "string" },
                        },
                        "required": ["file", "line", "severity", "category", "message"],
                        "additionalProperties": false,
                    },
                },
                "summary": { "type": "string" },
            },
            "required": ["verdict", "findings", "summary"],
            "additionalProperties": false,
        })
    })
}

/// The agent's tools a reviewer may call: reading only. A call to any other (`write_file`,
/// `run`, even one it was not offered) is answered with a refusal and never dispatched: the
/// reviewer runs outside the sandbox, and must not change or run anything.
const READ_ONLY: [&str; 3] = ["read_file", "search", "list_files"];

/// The reviewer's tools: the agent's read-only ones, and the verdict.
fn review_tools() -> &'static Value {
    static TOOLS: OnceLock<Value> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let mut list: Vec<Value> = tools::definitions()
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["function"]["name"]
                    .as_str()
                    .is_some_and(|n| READ_ONLY.contains(&n))
            })
            .cloned()
            .collect();
        list.push(json!({
            "type": "function",
            "function": {
                "name": SUBMIT,
                "description": "Give the verdict on the change: approve or reject, the findings (file, line, severity, category, message), and a one-paragraph summary. Call it exactly once, last.",
                "parameters": verdict_schema(),
            },
        }));
        Value::Array(list)
    })
}

/// The diff in parts of at most `max_chars`, cut between files where it can be (a file
/// larger than a part is cut between lines).
pub fn parts(diff: &str, max_chars: usize) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for chunk in diff.split_inclusive('\n') {
        if chunk.starts_with("diff --git ") || files.is_empty() {
            files.push(String::new());
        }
        if let Some(last) = files.last_mut() {
            last.push_str(chunk);
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for file in files {
        if !cur.is_empty() && cur.len() + file.len() > max_chars {
            out.push(std::mem::take(&mut cur));
        }
        if file.len() <= max_chars {
            cur.push_str(&file);
            continue;
        }
        for line in file.split_inclusive('\n') {
            if !cur.is_empty() && cur.len() + line.len() > max_chars {
                out.push(std::mem::take(&mut cur));
            }
            cur.push_str(line);
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// Review the change in `workdir` (the iteration's commit checked out).
pub async fn review(cfg: &AgentConfig, workdir: &Path, input: &ReviewInput<'_>) -> Review {
    let max_chars = usize::try_from(input.max_diff_tokens)
        .unwrap_or(usize::MAX)
        .saturating_mul(CHARS_PER_TOKEN);
    let all = parts(input.diff, max_chars);
    let mut merged = Verdict {
        verdict: Decision::Approve,
        findings: Vec::new(),
        summary: String::new(),
    };
    for (i, part) in all.iter().enumerate() {
        let header = if all.len() > 1 {
            format!("Part {} of {} of the diff.\n\n", i + 1, all.len())
        } else {
            String::new()
        };
        let first = format!(
            "## What the agent was asked to do\n\n{}\n\n## Repository guidance\n\n{}\n\n## The change\n\n{header}```diff\n{part}```",
            input.recipe.trim(),
            if input.guidance.trim().is_empty() {
                "(none)"
            } else {
                input.guidance.trim()
            },
        );
        let verdict = match review_part(cfg, workdir, input.prompt, &first).await {
            Ok(v) => v,
            Err(end) => return end,
        };
        if verdict.verdict == Decision::Reject {
            merged.verdict = Decision::Reject;
        }
        merged.findings.extend(verdict.findings);
        if !merged.summary.is_empty() {
            merged.summary.push('\n');
        }
        merged.summary.push_str(verdict.summary.trim());
    }
    Review::Done {
        verdict: merged,
        parts: all.len(),
    }
}

/// One part: read what the model asks for, until it submits; a verdict that does not read
/// is asked for once more.
async fn review_part(
    cfg: &AgentConfig,
    workdir: &Path,
    prompt: &str,
    first: &str,
) -> Result<Verdict, Review> {
    let mut messages = vec![
        json!({ "role": "system", "content": prompt }),
        json!({ "role": "user", "content": first }),
    ];
    let auto = Value::String("required".into());
    let mut malformed: Option<String> = None;
    for turn in 1..=cfg.max_turns.max(1) + 1 {
        // The last turn may only submit.
        let choice = if turn >= cfg.max_turns {
            json!({"type": "function", "function": {"name": SUBMIT}})
        } else {
            auto.clone()
        };
        let answer = client::complete_with(cfg, &messages, turn, review_tools(), &choice)
            .await
            .map_err(|stop| Review::Failed {
                message: format!("{stop:?}"),
            })?;
        if answer.tool_calls.is_empty() {
            let message = "the reviewer answered without calling submit_review".to_owned();
            if malformed.replace(message.clone()).is_some() {
                return Err(Review::Malformed { message });
            }
            messages.push(
                json!({"role": "assistant", "content": answer.text.clone().unwrap_or_default()}),
            );
            messages.push(json!({"role": "user", "content": "Give your verdict now by calling submit_review with arguments that follow its schema."}));
            continue;
        }
        messages.push(crate::run::assistant_message(&answer));
        for call in &answer.tool_calls {
            if call.name == SUBMIT {
                match serde_json::from_str::<Verdict>(&call.arguments) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        let message = format!("the verdict does not follow its schema: {e}");
                        if malformed.replace(message.clone()).is_some() {
                            return Err(Review::Malformed { message });
                        }
                        messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": format!("{message}. Call submit_review again with arguments that follow its schema.")}));
                        continue;
                    }
                }
            }
            let text = if READ_ONLY.contains(&call.name.as_str()) {
                match tools::dispatch(cfg, workdir, &call.name, &call.arguments).await {
                    Dispatch::Output { text, .. } => text,
                    Dispatch::Finish { .. } | Dispatch::Fatal { .. } => {
                        "this tool is not the reviewer's".to_owned()
                    }
                }
            } else {
                tracing::warn!(tool = %call.name, "A reviewer called a tool it may not use; refused.");
                format!(
                    "`{}` is not a reviewer's tool: read with read_file, search and list_files, and answer with submit_review",
                    call.name
                )
            };
            messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": text}));
        }
    }
    Err(Review::Malformed {
        message: "the reviewer gave no verdict within its turns".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_diff_is_cut_between_files() {
        let a = "diff --git a/a b/a\n+1\n+2\n";
        let b = "diff --git a/b b/b\n+3\n";
        let diff = format!("{a}{b}");
        assert_eq!(parts(&diff, 1000), vec![diff.clone()]);
        assert_eq!(parts(&diff, a.len()), vec![a.to_owned(), b.to_owned()]);
        assert_eq!(parts("", 10), vec![String::new()]);
    }

    #[test]
    fn a_verdict_outside_the_schema_does_not_read() {
        assert!(
            serde_json::from_str::<Verdict>(r#"{"verdict":"maybe","findings":[],"summary":""}"#)
                .is_err()
        );
        let v: Verdict = serde_json::from_str(r#"{"verdict":"reject","findings":[{"file":"a.py","line":3,"severity":"high","category":"correctness","message":"off by one"}],"summary":"no"}"#).unwrap();
        assert_eq!(v.findings[0].category, Category::Correctness);
    }
}
