//! The model answering Chat Completions bodies: text, streams, tool calls, limits.

use nightshift_local::{LocalError, Reply};
use serde_json::{Value, json};

use super::support::load;

async fn whole(model: &nightshift_local::LocalModel, body: &Value) -> Value {
    match model.answer(body).await.expect("answered") {
        Reply::Whole(v) => v,
        Reply::Stream(_) => panic!("asked for a whole answer"),
    }
}

/// The data of every event of a streamed answer, `[DONE]` included.
async fn events(model: &nightshift_local::LocalModel, body: &Value) -> Vec<String> {
    let Reply::Stream(mut s) = model.answer(body).await.expect("answered") else {
        panic!("asked for a stream");
    };
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        let text = String::from_utf8(b.to_vec()).expect("utf-8");
        let data = text
            .strip_prefix("data: ")
            .and_then(|t| t.strip_suffix("\n\n"))
            .expect("one SSE data event");
        out.push(data.to_string());
    }
    out
}

#[tokio::test]
async fn the_gemma_template_and_bos_make_the_prompt_and_its_exact_count() {
    let model = load(4096, 64);
    let body = json!({"model": "gemma", "max_tokens": 4, "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Name a colour."}
    ]});
    let prompt = model.prompt(&body).expect("templated");
    assert_eq!(
        prompt,
        "<start_of_turn>user\nAnswer briefly.\n\nName a colour.<end_of_turn>\n<start_of_turn>model\n"
    );
    let tokens = model.tokenize(&prompt);
    assert_eq!(tokens[0], model.tokenize("")[0], "BOS first");
    let v = whole(&model, &body).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gemma");
    assert_eq!(v["usage"]["prompt_tokens"], json!(tokens.len()));
    let out = v["usage"]["completion_tokens"].as_u64().expect("count");
    assert!((1..=4).contains(&out), "{v}");
    assert_eq!(v["usage"]["total_tokens"], json!(tokens.len() as u64 + out));
    let finish = v["choices"][0]["finish_reason"].as_str().expect("finish");
    assert!(finish == "length" && out == 4 || finish == "stop", "{v}");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
}

#[tokio::test]
async fn a_stream_says_what_the_whole_answer_says_and_ends_with_usage() {
    let model = load(4096, 64);
    let body = json!({"model": "gemma", "max_tokens": 6, "messages": [
        {"role": "user", "content": "Count: one, two,"}
    ]});
    let full = whole(&model, &body).await;
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let data = events(&model, &streamed).await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("json"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        full["choices"][0]["message"]["content"]
            .as_str()
            .expect("text"),
        "greedy is deterministic"
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(
        finish["choices"][0]["finish_reason"],
        full["choices"][0]["finish_reason"]
    );
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], full["usage"]);
    // Each content event carries at least one token.
    let content_events = chunks[1..]
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count() as u64;
    assert!(content_events <= usage["usage"]["completion_tokens"].as_u64().expect("n"));
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "read_file", "description": "Read a file of the repository.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
        {"type": "function", "function": {"name": "finish", "description": "Say the task is done.",
            "parameters": {"type": "object", "properties": {"done": {"type": "boolean"}, "summary": {"type": "string"}},
                "required": ["done", "summary"]}}}
    ])
}

/// The arguments match the offered tool's schema: required keys, their types, nothing else.
fn check_call(name: &str, arguments: &str) {
    let args: Value = serde_json::from_str(arguments).expect("arguments are JSON");
    let obj = args.as_object().expect("arguments are an object");
    match name {
        "read_file" => {
            assert!(obj["path"].is_string(), "{args}");
            assert_eq!(obj.len(), 1, "{args}");
        }
        "finish" => {
            assert!(obj["done"].is_boolean(), "{args}");
            assert!(obj["summary"].is_string(), "{args}");
            assert_eq!(obj.len(), 2, "{args}");
        }
        other => panic!("`{other}` is not an offered tool"),
    }
}

#[tokio::test]
async fn tools_are_answered_with_one_grammar_valid_call() {
    let model = load(4096, 96);
    let body = json!({"model": "gemma", "max_tokens": 96, "tools": tools(), "messages": [
        {"role": "user", "content": "Read the file src/main.rs."}
    ]});
    let v = whole(&model, &body).await;
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    let calls = choice["message"]["tool_calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["type"], "function");
    assert!(
        calls[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("call_"))
    );
    check_call(
        calls[0]["function"]["name"].as_str().expect("name"),
        calls[0]["function"]["arguments"]
            .as_str()
            .expect("arguments"),
    );
    assert!(v["usage"]["completion_tokens"].as_u64().expect("n") <= 96);

    // Streamed: the same call, as tool-call deltas.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let data = events(&model, &streamed).await;
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("json"))
        .collect();
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(deltas[0]["function"]["name"], calls[0]["function"]["name"]);
    let args: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        args,
        calls[0]["function"]["arguments"]
            .as_str()
            .expect("arguments")
    );
    assert_eq!(
        chunks.last().expect("finish")["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn the_output_cap_is_the_smaller_of_the_request_and_the_model() {
    let model = load(4096, 3);
    let body = json!({"model": "gemma", "max_tokens": 50, "messages": [
        {"role": "user", "content": "Write a long story about the sea."}
    ]});
    // Greedy decoding of a story does not end within the cap: exactly the cap, cut.
    let v = whole(&model, &body).await;
    assert_eq!(v["usage"]["completion_tokens"], json!(3), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    let small = json!({"model": "gemma", "max_completion_tokens": 1, "messages": [
        {"role": "user", "content": "Write a long story about the sea."}
    ]});
    let v = whole(&model, &small).await;
    assert_eq!(v["usage"]["completion_tokens"], json!(1), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_refused_as_a_bad_request() {
    let model = load(32, 8);
    let body = json!({"model": "gemma", "messages": [
        {"role": "user", "content": "word ".repeat(40)}
    ]});
    let err = model.answer(&body).await.expect_err("too long");
    let LocalError::ContextExceeded {
        prompt_tokens,
        limit,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*limit, 32);
    assert!(*prompt_tokens > 32);
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.openai_body()["error"]["code"],
        "context_length_exceeded"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "this request's prompt is {prompt_tokens} tokens; the local model accepts at most 32 tokens of prompt and output together (context_tokens), so at most 31 of prompt"
        )
    );
}
