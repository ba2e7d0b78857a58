//! Errors, cuts, malformed bodies, omitted usage, the step counter, recording, the binary.

use std::time::{Duration, Instant};

use nightshift_testkit::{Options, Script, ScriptedError, ScriptedProvider, Step};
use serde_json::{Value, json};

use super::{parse_sse, post, post_json, post_sse, provider, read_until_error};

fn error_step(status: u16, retry_after: Option<&str>, body: Option<&str>) -> Step {
    Step {
        error: Some(ScriptedError {
            status,
            retry_after: retry_after.map(str::to_owned),
            body: body.map(str::to_owned),
        }),
        ..Step::default()
    }
}

#[tokio::test]
async fn errors_use_the_native_shape_and_retry_after() {
    let p = provider([
        error_step(429, Some("7"), None),
        error_step(529, None, None),
        error_step(503, Some("1"), Some("upstream sad")),
        error_step(400, None, None),
    ])
    .await;
    // Streaming requests get the error as a plain JSON answer, like the real APIs.
    let resp = post(
        &p,
        "/chat/completions",
        json!({ "model": "m", "stream": true }),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "error": { "message": "scripted provider: scripted error",
                           "type": "requests", "param": null, "code": "rate_limit_exceeded" } })
    );

    let resp = post(&p, "/messages", json!({ "model": "c", "max_tokens": 5 })).await;
    assert_eq!(resp.status(), 529);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "type": "error",
                "error": { "type": "overloaded_error", "message": "scripted provider: scripted error" } })
    );

    let resp = post(&p, "/responses", json!({ "model": "m" })).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.text().await.unwrap(), "upstream sad");

    let resp = post(&p, "/responses", json!({ "model": "m" })).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(p.served(), 4);
}

#[tokio::test]
async fn cut_streams_end_abruptly_after_n_events() {
    let step = Step {
        text: Some("a b c d e f".into()),
        cut_after_events: Some(3),
        ..Step::default()
    };
    let p = provider([step.clone(), step.clone(), step]).await;
    for (path, body) in [
        ("/chat/completions", json!({ "model": "m", "stream": true })),
        (
            "/messages",
            json!({ "model": "m", "stream": true, "max_tokens": 100 }),
        ),
        ("/responses", json!({ "model": "m", "stream": true })),
    ] {
        let resp = post(&p, path, body).await;
        assert_eq!(resp.status(), 200);
        let (text, failed) = read_until_error(resp).await;
        assert!(failed, "{path}: the stream must fail, got {text:?}");
        let events = parse_sse(&text);
        assert_eq!(events.len(), 3, "{path}: {text}");
        assert!(!text.contains("[DONE]") && !text.contains("message_stop"));
        assert!(!text.contains("response.completed"));
    }
}

#[tokio::test]
async fn cut_non_streaming_bodies_are_truncated() {
    let step = Step {
        text: Some("hello".into()),
        cut_after_events: Some(0),
        ..Step::default()
    };
    let p = provider([step]).await;
    let resp = post(&p, "/chat/completions", json!({ "model": "m" })).await;
    assert_eq!(resp.status(), 200);
    let (text, failed) = read_until_error(resp).await;
    assert!(failed);
    assert!(text.starts_with("{\"id\":\"chatcmpl-"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn malformed_answers_are_not_json() {
    let step = Step {
        text: Some("x y".into()),
        malformed: true,
        ..Step::default()
    };
    let p = provider([step.clone(), step.clone(), step]).await;
    let resp = post(&p, "/messages", json!({ "model": "m", "max_tokens": 9 })).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let events = post_sse(
        &p,
        "/chat/completions",
        json!({ "model": "m", "stream": true }),
    )
    .await;
    assert!(serde_json::from_str::<Value>(&events[0].data).is_ok());
    assert!(serde_json::from_str::<Value>(&events[1].data).is_err());
    assert_eq!(events.last().unwrap().data, "[DONE]");

    let events = post_sse(&p, "/responses", json!({ "model": "m", "stream": true })).await;
    let broken = events
        .iter()
        .filter(|e| serde_json::from_str::<Value>(&e.data).is_err())
        .count();
    assert_eq!(broken, 1);
}

#[tokio::test]
async fn omit_usage_never_reports_usage() {
    let step = Step {
        omit_usage: true,
        ..Step::text("a b")
    }
    .with_usage(10, 2);
    let p = ScriptedProvider::start(Script::cycling([step]))
        .await
        .unwrap();
    for path in ["/chat/completions", "/responses", "/messages"] {
        let body = post_json(&p, path, json!({ "model": "m", "max_tokens": 50 })).await;
        assert!(body.get("usage").is_none(), "{path}: {body}");
    }
    let events = post_sse(
        &p,
        "/chat/completions",
        json!({ "model": "m", "stream": true, "stream_options": { "include_usage": true } }),
    )
    .await;
    assert_eq!(events.len(), 5); // role, a, b, finish, [DONE]
    assert!(events.iter().all(|e| !e.data.contains("prompt_tokens")));
    let events = post_sse(
        &p,
        "/messages",
        json!({ "model": "m", "max_tokens": 50, "stream": true }),
    )
    .await;
    assert!(events.iter().all(|e| !e.data.contains("usage")));
    let events = post_sse(&p, "/responses", json!({ "model": "m", "stream": true })).await;
    assert_eq!(
        events.last().unwrap().json()["response"]["usage"],
        Value::Null
    );
}

#[tokio::test]
async fn exhausted_scripts_answer_500() {
    let p = provider([Step::text("only")]).await;
    post_json(&p, "/chat/completions", json!({ "model": "m" })).await;
    assert_eq!(p.served(), 1);
    let resp = post(&p, "/chat/completions", json!({ "model": "m" })).await;
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("script exhausted")
    );
    assert_eq!(v["error"]["type"], "server_error");
    let resp = post(&p, "/messages", json!({ "model": "m", "max_tokens": 1 })).await;
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "api_error");
    assert_eq!(p.served(), 1);
}

#[tokio::test]
async fn cycling_scripts_start_over_and_the_counter_spans_formats() {
    let p = ScriptedProvider::start(Script::cycling([Step::text("one"), Step::text("two")]))
        .await
        .unwrap();
    let a = post_json(&p, "/chat/completions", json!({ "model": "m" })).await;
    let b = post_json(&p, "/messages", json!({ "model": "m", "max_tokens": 9 })).await;
    let c = post_json(&p, "/responses", json!({ "model": "m" })).await;
    assert_eq!(a["choices"][0]["message"]["content"], "one");
    assert_eq!(b["content"][0]["text"], "two");
    assert_eq!(c["output"][0]["content"][0]["text"], "one");
    assert_eq!(p.served(), 3);
}

#[tokio::test]
async fn model_is_echoed_unless_scripted() {
    let step = Step {
        model: Some("gpt-4o-2024-08-06".into()),
        ..Step::text("x")
    };
    let p = provider([Step::text("x"), step, Step::text("x")]).await;
    let a = post_json(&p, "/chat/completions", json!({ "model": "gpt-4o" })).await;
    let b = post_json(&p, "/chat/completions", json!({ "model": "gpt-4o" })).await;
    let c = post_json(&p, "/chat/completions", json!({})).await;
    assert_eq!(a["model"], "gpt-4o");
    assert_eq!(b["model"], "gpt-4o-2024-08-06");
    assert_eq!(c["model"], "scripted-model");
}

#[tokio::test]
async fn delays_hold_the_headers_and_space_the_events() {
    let slow = Step {
        delay_ms: 120,
        ..Step::text("x")
    };
    let spaced = Step {
        chunk_delay_ms: 30,
        ..Step::text("a b c")
    };
    let p = provider([slow, spaced]).await;
    let t = Instant::now();
    post_json(&p, "/chat/completions", json!({ "model": "m" })).await;
    assert!(t.elapsed() >= Duration::from_millis(120));
    let t = Instant::now();
    let events = post_sse(
        &p,
        "/chat/completions",
        json!({ "model": "m", "stream": true }),
    )
    .await;
    // role, a, b, c, finish, [DONE]: five gaps.
    assert_eq!(events.len(), 6);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn hanging_steps_never_answer() {
    let p = provider([Step::hang(), Step::text("after")]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}/chat/completions", p.base_url()))
        .json(&json!({ "model": "m" }))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let v = post_json(&p, "/chat/completions", json!({ "model": "m" })).await;
    assert_eq!(v["choices"][0]["message"]["content"], "after");
}

#[tokio::test]
async fn requests_are_recorded_in_order_unless_turned_off() {
    let p = provider([Step::text("a"), Step::text("b")]).await;
    reqwest::Client::new()
        .post(format!("{}/chat/completions", p.base_url()))
        .bearer_auth("sk-1")
        .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    reqwest::get(format!("{}/models", p.base_url()))
        .await
        .unwrap();
    post_json(&p, "/responses", json!({ "model": "r" })).await;
    let reqs = p.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/v1/chat/completions", "/v1/models", "/v1/responses"]
    );
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-1"));
    assert_eq!(reqs[0].body["messages"][0]["content"], "hi");
    assert_eq!(reqs[1].body, Value::Null);
    assert_eq!(p.served(), 2);

    let quiet = ScriptedProvider::start_with(
        Script::cycling([Step::text("q")]),
        Options { record: false },
    )
    .await
    .unwrap();
    post_json(&quiet, "/chat/completions", json!({ "model": "m" })).await;
    assert!(quiet.requests().is_empty());
    assert_eq!(quiet.served(), 1);
}

#[tokio::test]
async fn bad_bodies_and_unknown_routes_consume_no_step() {
    let p = provider([Step::text("a")]).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", p.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = post(&p, "/embeddings", json!({})).await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/embeddings")
    );
    assert_eq!(p.served(), 0);
    assert_eq!(p.requests()[0].body, json!("not json"));
}

#[tokio::test]
async fn models_list_in_both_shapes() {
    let step = Step {
        model: Some("claude-y".into()),
        ..Step::default()
    };
    let p = provider([step]).await;
    let v: Value = reqwest::get(format!("{}/models", p.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["scripted-model", "claude-y"]);
    assert_eq!(v["data"][0]["object"], "model");
    let v: Value = reqwest::Client::new()
        .get(format!("{}/models", p.base_url()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][1]["type"], "model");
    assert_eq!(v["has_more"], false);
    assert_eq!(v["last_id"], "claude-y");
}

#[tokio::test]
async fn explicit_chunks_are_the_tokens() {
    let step = Step {
        chunks: Some(vec!["Hel".into(), "lo".into(), "!".into()]),
        ..Step::default()
    };
    let p = provider([step]).await;
    let events = post_sse(
        &p,
        "/messages",
        json!({ "model": "m", "max_tokens": 9, "stream": true }),
    )
    .await;
    let texts: Vec<String> = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| e.json()["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["Hel", "lo", "!"]);
}

#[tokio::test]
async fn script_files_load_from_toml_and_json() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let toml_path = dir.join("testkit-script.toml");
    std::fs::write(
        &toml_path,
        r#"
cycle = true

[[steps]]
text = "Hello there, friend."
usage = { input_tokens = 120, output_tokens = 4, cached_input_tokens = 100 }

[[steps]]
tool_calls = [{ name = "read_file", arguments = { path = "src/lib.rs" } }]
usage = { input_tokens = 150, output_tokens = 20 }

[[steps]]
error = { status = 429, retry_after = "1" }
"#,
    )
    .unwrap();
    let script = Script::load(&toml_path).unwrap();
    assert!(script.cycle);
    assert_eq!(script.steps.len(), 3);
    assert_eq!(
        script.steps[1].tool_calls[0].arguments,
        json!({ "path": "src/lib.rs" })
    );
    let json_path = dir.join("testkit-script.json");
    std::fs::write(&json_path, serde_json::to_string(&script).unwrap()).unwrap();
    assert_eq!(Script::load(&json_path).unwrap(), script);
}

#[tokio::test]
async fn the_binary_serves_a_fixed_text() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nightshift-scripted"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--fixed-text",
            "hi there",
            "--input-tokens",
            "11",
            "--output-tokens",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr = line.strip_prefix("listening on ").unwrap().to_owned();
    for _ in 0..3 {
        let v: Value = reqwest::Client::new()
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&json!({ "model": "m" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hi there");
        assert_eq!(v["usage"]["prompt_tokens"], 11);
        assert_eq!(v["usage"]["completion_tokens"], 2);
    }
    let served: Value = reqwest::get(format!("http://{addr}/_scripted/served"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["served"], 3);
    child.kill().await.unwrap();
}
