//! Shared helpers: a scripted provider, a config pointing at it, and a recorder of events.

use std::path::Path;
use std::time::Duration;

use nightshift_agent::{AgentConfig, Event, Outcome, Prompt, run_iteration};
use nightshift_testkit::{RecordedRequest, Script, ScriptedProvider, Step};
use serde_json::Value;

pub const TOKEN: &str = "ns-test-token";
pub const MODEL: &str = "scripted-model";

/// What an iteration did and what the provider saw.
pub struct Run {
    pub outcome: Outcome,
    pub events: Vec<Event>,
    pub requests: Vec<RecordedRequest>,
}

impl Run {
    /// The messages of the `i`-th request.
    pub fn messages(&self, i: usize) -> &Vec<Value> {
        self.requests[i].body["messages"]
            .as_array()
            .expect("messages is an array")
    }

    /// The `tool` messages of the last request, in order.
    pub fn last_tool_messages(&self) -> Vec<Value> {
        let last = self.requests.len() - 1;
        self.messages(last)
            .iter()
            .filter(|m| m["role"] == "tool")
            .cloned()
            .collect()
    }

    /// The content of the `k`-th tool message of the last request.
    pub fn tool_result(&self, k: usize) -> String {
        self.last_tool_messages()[k]["content"]
            .as_str()
            .expect("tool content is a string")
            .to_owned()
    }
}

pub fn config(base_url: String) -> AgentConfig {
    AgentConfig {
        base_url,
        token: TOKEN.to_owned(),
        model: MODEL.to_owned(),
        max_turns: 10,
        max_tokens: None,
        command_timeout: Duration::from_secs(20),
        max_tool_output_bytes: 16 * 1024,
        process_tag: None,
        sandbox: None,
    }
}

/// Runs one iteration in `dir` against a provider playing `steps`.
pub async fn run(dir: &Path, steps: Vec<Step>) -> Run {
    run_with(dir, steps, |_| {}).await
}

/// Like [`run`], with the config adjusted.
pub async fn run_with(dir: &Path, steps: Vec<Step>, adjust: impl FnOnce(&mut AgentConfig)) -> Run {
    let provider = ScriptedProvider::start(Script::new(steps))
        .await
        .expect("provider starts");
    let mut cfg = config(provider.base_url());
    adjust(&mut cfg);
    let prompt = Prompt {
        recipe: "Make the greeting say nightshift.".to_owned(),
        progress_notes: String::new(),
        repo_map: None,
    };
    let mut events = Vec::new();
    let outcome = run_iteration(&cfg, dir, &prompt, &mut |e| events.push(e)).await;
    Run {
        outcome,
        events,
        requests: provider.requests(),
    }
}

/// One tool call and a `finish` after it: the usual two-step script.
pub fn call_then_finish(name: &str, arguments: Value) -> Vec<Step> {
    vec![
        Step::tool_call(name, arguments),
        Step::tool_call("finish", serde_json::json!({"summary": "s", "done": false})),
    ]
}
