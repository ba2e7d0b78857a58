//! Whole iterations: the conversation the model sees, the events, the outcome.

use nightshift_agent::{Event, Outcome, Stop, system_prompt, tool_definitions};
use nightshift_testkit::Step;
use serde_json::json;

use super::harness::{self, MODEL, TOKEN};

#[tokio::test]
async fn read_edit_run_finish() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello world\n").unwrap();
    let run = harness::run(
        dir.path(),
        vec![
            Step::tool_call("read_file", json!({"path": "a.txt"})),
            Step::tool_call(
                "edit_file",
                json!({"path": "a.txt", "old_text": "world", "new_text": "nightshift"}),
            ),
            Step::tool_call("run", json!({"command": "cat a.txt"})),
            Step::tool_call(
                "finish",
                json!({"summary": "greeting updated", "done": true, "notes": "nothing left"}),
            ),
        ],
    )
    .await;

    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "hello nightshift\n"
    );
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::Finished {
                summary: "greeting updated".to_owned(),
                claims_done: true,
            },
            turns: 4,
            tool_calls: 4,
            notes: Some("nothing left".to_owned()),
        }
    );

    let read = "     1\thello world\n";
    let edited = "edited `a.txt`: replaced lines 1-1 with lines 1-1";
    let ran = "exit code: 0\noutput (17 bytes):\nhello nightshift\n";
    assert_eq!(
        run.events,
        vec![
            Event::Turn { n: 1 },
            Event::ToolCall {
                name: "read_file".into(),
                arguments: r#"{"path":"a.txt"}"#.into(),
            },
            Event::ToolResult {
                name: "read_file".into(),
                ok: true,
                bytes: read.len(),
            },
            Event::Turn { n: 2 },
            Event::ToolCall {
                name: "edit_file".into(),
                arguments: r#"{"path":"a.txt","old_text":"world","new_text":"nightshift"}"#.into(),
            },
            Event::ToolResult {
                name: "edit_file".into(),
                ok: true,
                bytes: edited.len(),
            },
            Event::Turn { n: 3 },
            Event::ToolCall {
                name: "run".into(),
                arguments: r#"{"command":"cat a.txt"}"#.into(),
            },
            Event::Command {
                command: "cat a.txt".into(),
                exit_code: Some(0),
                timed_out: false,
            },
            Event::ToolResult {
                name: "run".into(),
                ok: true,
                bytes: ran.len(),
            },
            Event::Turn { n: 4 },
            Event::ToolCall {
                name: "finish".into(),
                arguments: r#"{"summary":"greeting updated","done":true,"notes":"nothing left"}"#
                    .into(),
            },
        ]
    );

    // Four requests, each authenticated with the gateway token, to the Chat endpoint.
    assert_eq!(run.requests.len(), 4);
    for request in &run.requests {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(request.body["model"], MODEL);
        assert_eq!(request.body["tool_choice"], "auto");
        assert_eq!(request.body["tools"], tool_definitions());
        assert!(request.body.get("max_tokens").is_none());
        assert!(request.body.get("stream").is_none());
    }

    // The last request holds the whole conversation, tool results exactly as sent.
    let messages = run.messages(3);
    assert_eq!(messages.len(), 8);
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": system_prompt()})
    );
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(
        messages[2..],
        [
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_scripted_0_0", "type": "function",
                "function": {"name": "read_file", "arguments": r#"{"path":"a.txt"}"#}
            }]}),
            json!({"role": "tool", "tool_call_id": "call_scripted_0_0", "content": read}),
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_scripted_1_0", "type": "function",
                "function": {"name": "edit_file", "arguments": r#"{"path":"a.txt","old_text":"world","new_text":"nightshift"}"#}
            }]}),
            json!({"role": "tool", "tool_call_id": "call_scripted_1_0", "content": edited}),
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_scripted_2_0", "type": "function",
                "function": {"name": "run", "arguments": r#"{"command":"cat a.txt"}"#}
            }]}),
            json!({"role": "tool", "tool_call_id": "call_scripted_2_0", "content": ran}),
        ]
    );
    // Each request extends the one before it.
    for i in 1..4 {
        let (before, now) = (run.messages(i - 1), run.messages(i));
        assert_eq!(now.len(), before.len() + 2);
        assert_eq!(now[..before.len()], before[..]);
    }
}

#[tokio::test]
async fn first_request_carries_recipe_map_guidance_and_notes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    std::fs::write(
        dir.path().join("AGENTS.md"),
        "Run `make check` before finishing.\n",
    )
    .unwrap();
    let provider =
        nightshift_testkit::ScriptedProvider::start(nightshift_testkit::Script::new([Step::text(
            "nothing to do",
        )]))
        .await
        .unwrap();
    let mut cfg = harness::config(provider.base_url());
    cfg.max_tokens = Some(321);
    let prompt = nightshift_agent::Prompt {
        recipe: "Raise test coverage.".into(),
        progress_notes: "Iteration 1 covered src/lib.rs.".into(),
        repo_map: None,
    };
    let outcome = nightshift_agent::run_iteration(&cfg, dir.path(), &prompt, &mut |_| {}).await;
    assert_eq!(
        outcome.stop,
        Stop::AnsweredWithoutTools {
            text: "nothing to do".into()
        }
    );
    let requests = provider.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["max_tokens"], 321);
    let user = requests[0].body["messages"][1]["content"].as_str().unwrap();
    assert_eq!(
        user,
        "Raise test coverage.\n\n\
         ## Repository map\n\n\
         2 files (directories show how many files they hold)\n\
         src/ (1 file)\n  lib.rs\nAGENTS.md\n\n\
         ## Repository guidance\n\n\
         ### AGENTS.md\n\nRun `make check` before finishing.\n\n\
         ## Progress notes from earlier iterations\n\n\
         Iteration 1 covered src/lib.rs.\n"
    );
}

#[tokio::test]
async fn answer_without_tools_ends_the_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run(dir.path(), vec![Step::text("I think it is fine.")]).await;
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::AnsweredWithoutTools {
                text: "I think it is fine.".into()
            },
            turns: 1,
            tool_calls: 0,
            notes: None,
        }
    );
    assert_eq!(
        run.events,
        vec![
            Event::Turn { n: 1 },
            Event::Message {
                text: "I think it is fine.".into()
            },
        ]
    );
}

#[tokio::test]
async fn max_turns_stops_a_loop_that_never_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let steps = (0..5)
        .map(|_| Step::tool_call("list_files", json!({})))
        .collect();
    let run = harness::run_with(dir.path(), steps, |cfg| cfg.max_turns = 3).await;
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::MaxTurns,
            turns: 3,
            tool_calls: 3,
            notes: None,
        }
    );
    assert_eq!(run.requests.len(), 3);
    let turns: Vec<_> = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Turn { .. }))
        .cloned()
        .collect();
    assert_eq!(
        turns,
        vec![
            Event::Turn { n: 1 },
            Event::Turn { n: 2 },
            Event::Turn { n: 3 }
        ]
    );
}

#[tokio::test]
async fn zero_turns_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = harness::run_with(dir.path(), vec![Step::text("x")], |cfg| cfg.max_turns = 0).await;
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::MaxTurns,
            turns: 0,
            tool_calls: 0,
            notes: None,
        }
    );
    assert!(run.requests.is_empty());
    assert!(run.events.is_empty());
}

#[tokio::test]
async fn bad_calls_go_back_to_the_model_and_the_loop_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut several = Step::tool_call("no_such_tool", json!({}));
    several.tool_calls.push(nightshift_testkit::ToolCall {
        id: Some("call_broken".into()),
        name: "read_file".into(),
        // A JSON string is sent verbatim: broken arguments.
        arguments: json!("{\"path\": \"a.txt\""),
    });
    several.tool_calls.push(nightshift_testkit::ToolCall {
        id: Some("call_missing".into()),
        name: "edit_file".into(),
        arguments: json!({"path": "a.txt"}),
    });
    several.tool_calls.push(nightshift_testkit::ToolCall {
        id: Some("call_badfinish".into()),
        name: "finish".into(),
        arguments: json!({"summary": "x"}),
    });
    let run = harness::run(
        dir.path(),
        vec![
            several,
            Step::tool_call("finish", json!({"summary": "gave up", "done": "false"})),
        ],
    )
    .await;
    assert_eq!(
        run.outcome,
        Outcome {
            stop: Stop::Finished {
                summary: "gave up".into(),
                claims_done: false,
            },
            turns: 2,
            tool_calls: 5,
            notes: None,
        }
    );
    let results = run.last_tool_messages();
    assert_eq!(results.len(), 4);
    assert_eq!(
        results[0],
        json!({"role": "tool", "tool_call_id": "call_scripted_0_0",
               "content": "error: unknown tool `no_such_tool`; the tools are: list_files, read_file, search, edit_file, write_file, run, finish"})
    );
    assert_eq!(results[1]["tool_call_id"], "call_broken");
    assert_eq!(
        results[1]["content"],
        "error: invalid arguments for `read_file`: EOF while parsing an object at line 1 column 16; send a JSON object that follows the tool's schema"
    );
    assert_eq!(
        results[2]["content"],
        "error: invalid arguments for `edit_file`: missing field `old_text` at line 1 column 16; send a JSON object that follows the tool's schema"
    );
    assert_eq!(
        results[3]["content"],
        "error: invalid arguments for `finish`: missing field `done` at line 1 column 15; send a JSON object that follows the tool's schema"
    );
    let failed: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolResult {
                name, ok: false, ..
            } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["no_such_tool", "read_file", "edit_file", "finish"]);
}

#[test]
fn the_iteration_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let cfg = harness::config(String::new());
    let prompt = nightshift_agent::Prompt::default();
    let mut sink = |_: Event| {};
    let future =
        nightshift_agent::run_iteration(&cfg, std::path::Path::new("."), &prompt, &mut sink);
    assert_send(&future);
}

#[test]
fn tool_definitions_are_function_tools_with_bounded_strings() {
    let tools = tool_definitions();
    let names: Vec<_> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function");
            assert_eq!(t["function"]["parameters"]["type"], "object");
            for (_, prop) in t["function"]["parameters"]["properties"]
                .as_object()
                .unwrap()
            {
                if prop["type"] == "string" {
                    assert!(prop["maxLength"].is_u64(), "unbounded string in {t}");
                }
            }
            t["function"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "list_files",
            "read_file",
            "search",
            "edit_file",
            "write_file",
            "run",
            "finish"
        ]
    );
}

#[tokio::test]
async fn a_map_given_by_the_caller_is_used_instead_of_walking_the_tree() {
    let provider =
        nightshift_testkit::ScriptedProvider::start(nightshift_testkit::Script::new([Step::text(
            "nothing to do",
        )]))
        .await
        .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("real.txt"), "x").expect("write");
    let cfg = harness::config(provider.base_url());
    let prompt = nightshift_agent::Prompt {
        recipe: "Look around.".into(),
        progress_notes: String::new(),
        repo_map: Some("cached-map-entry.rs".into()),
    };
    nightshift_agent::run_iteration(&cfg, dir.path(), &prompt, &mut |_| {}).await;
    let first = provider.requests()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        first.contains("## Repository map\n\ncached-map-entry.rs\n"),
        "{first}"
    );
    assert!(!first.contains("real.txt"), "{first}");
}

/// A model that called `finish` without its required argument was answered with the same
/// tool error 40 times, until `max_turns`: 40 paid calls for nothing. The third identical
/// failing call in a row now ends the iteration.
#[tokio::test]
async fn a_model_repeating_the_same_failing_call_ends_the_iteration_as_thrashing() {
    let steps: Vec<Step> = (0..40)
        .map(|_| Step::tool_call("finish", json!({"done": true})))
        .collect();
    let provider =
        nightshift_testkit::ScriptedProvider::start(nightshift_testkit::Script::new(steps))
            .await
            .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = harness::config(provider.base_url());
    cfg.max_turns = 50;
    let prompt = nightshift_agent::Prompt {
        recipe: "Finish.".into(),
        progress_notes: String::new(),
        repo_map: None,
    };
    let outcome = nightshift_agent::run_iteration(&cfg, dir.path(), &prompt, &mut |_| {}).await;
    assert_eq!(
        outcome,
        nightshift_agent::Outcome {
            stop: Stop::Thrashing {
                tool: "finish".into(),
                error: "error: invalid arguments for `finish`: missing field `summary` at line 1 column 13; send a JSON object that follows the tool's schema".into(),
                repeats: nightshift_agent::THRASH_REPEATS,
            },
            turns: 3,
            tool_calls: 3,
            notes: None,
        }
    );
    assert_eq!(provider.requests().len(), 3);
}

/// Failing calls that differ, or that a successful call separates, are not thrashing.
#[tokio::test]
async fn failures_separated_by_a_success_are_not_thrashing() {
    let bad = || Step::tool_call("read_file", json!({"path": "missing.txt"}));
    let provider = nightshift_testkit::ScriptedProvider::start(nightshift_testkit::Script::new([
        bad(),
        bad(),
        Step::tool_call("list_files", json!({})),
        bad(),
        bad(),
        Step::tool_call(
            "finish",
            json!({"summary": "gave up reading", "done": false}),
        ),
    ]))
    .await
    .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = harness::config(provider.base_url());
    let prompt = nightshift_agent::Prompt {
        recipe: "Read.".into(),
        progress_notes: String::new(),
        repo_map: None,
    };
    let outcome = nightshift_agent::run_iteration(&cfg, dir.path(), &prompt, &mut |_| {}).await;
    assert_eq!(
        (outcome.stop, outcome.turns, outcome.tool_calls),
        (
            Stop::Finished {
                summary: "gave up reading".into(),
                claims_done: false
            },
            6,
            6
        )
    );
}

/// A command whose sandbox cannot be set up ends the iteration as a failure of ours: the
/// model never hears it as the tool's error (it would try to work around it).
#[tokio::test]
async fn a_sandbox_that_cannot_start_ends_the_iteration_unheard_by_the_model() {
    let provider = nightshift_testkit::ScriptedProvider::start(nightshift_testkit::Script::new([
        Step::tool_call("run", json!({"command": "echo hi"})),
        Step::tool_call("finish", json!({"summary": "x", "done": true})),
    ]))
    .await
    .expect("provider");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = harness::config(provider.base_url());
    let bwrap = nightshift_process::sandbox::find_bwrap().expect("bubblewrap is installed");
    cfg.sandbox = Some(nightshift_process::Sandbox::new(
        bwrap,
        "/nonexistent/init".into(),
        nightshift_process::sandbox::Policy {
            writable: vec![dir.path().join("no-such-folder")],
            ..Default::default()
        },
    ));
    let prompt = nightshift_agent::Prompt {
        recipe: "Say hi.".into(),
        progress_notes: String::new(),
        repo_map: None,
    };
    let outcome = nightshift_agent::run_iteration(&cfg, dir.path(), &prompt, &mut |_| {}).await;
    let Stop::ToolFailed { message } = &outcome.stop else {
        panic!("{outcome:?}");
    };
    assert!(
        message.contains("the sandbox could not start: bwrap: "),
        "{message}"
    );
    assert_eq!((outcome.turns, outcome.tool_calls), (1, 1));
    assert_eq!(provider.requests().len(), 1, "the model heard nothing more");
}
