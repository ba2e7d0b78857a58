//! The `local` provider: real inference on the small model behind the gateway, in all
//! three wire formats, streamed and not, metered at $0 with exact token counts.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

use nightshift_gateway::GatewayState;
use nightshift_gateway::nightshift_local::{LocalModel, LocalOptions};
use nightshift_spec::Config;
use nightshift_store::{CallOutcome, LedgerRow, LedgerStore, SqliteStore, Store};

use super::harness::{sse_data, sse_names};

fn model_path() -> PathBuf {
    nightshift_testkit::local_model_path()
}

struct Local {
    base: String,
    state: Arc<GatewayState>,
    store: Arc<SqliteStore>,
    http: reqwest::Client,
    token: String,
    /// The same model file, loaded here to count tokens independently of the gateway.
    tokenizer: LocalModel,
    _dir: TempDir,
    _stop: oneshot::Sender<()>,
}

impl Local {
    async fn start(context_tokens: u32, max_output_tokens: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = model_path();
        let text = format!(
            r#"
[store]
url = "sqlite://{db}"

[gateway]
request_timeout_ms = 300000
stream_idle_timeout_ms = 300000

[[provider]]
name = "on-device"
kind = "local"
model_path = "{model}"
threads = "auto"
context_tokens = {context_tokens}
max_output_tokens = {max_output_tokens}

[[model]]
name = "gemma"
provider = "on-device"
upstream = "gemma3-270m-q4_k_m"
"#,
            db = dir.path().join("ledger.db").display(),
            model = model.display(),
        );
        let path = dir.path().join("nightshift.toml");
        let config = Config::parse(&path, &text).expect("valid config");
        let store = Arc::new(SqliteStore::open(&config.store.url).await.expect("store"));
        let state = nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
            .await
            .expect("gateway builds with the local model");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(nightshift_gateway::serve(state.clone(), listener, async {
            let _ = rx.await;
        }));
        let minted = nightshift_gateway::mint(
            store.as_ref(),
            "local-test",
            1_000_000_000,
            None,
            None,
            nightshift_clock::now_ms(),
        )
        .await
        .expect("mint");
        let tokenizer = LocalModel::load(&LocalOptions::new(model)).expect("tokenizer loads");
        Self {
            base,
            state,
            store,
            http: reqwest::Client::new(),
            token: minted.token,
            tokenizer,
            _dir: dir,
            _stop: tx,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("reaches the gateway");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// `body` with `stream: true`, posted; the stream must be answered 200.
    async fn post_stream(&self, path: &str, body: &Value) -> String {
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let (status, sse) = self.post(path, &streamed).await;
        assert_eq!(status, 200, "{sse}");
        sse
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self.post(path, body).await;
        (status, serde_json::from_str(&text).expect("a JSON body"))
    }

    /// The ledger, once every call made has settled (each settles before its answer ends).
    async fn ledger(&self) -> Vec<LedgerRow> {
        assert_eq!(self.state.total_reserved(), 0, "nothing is left reserved");
        // No flush: the store's reads count what the gateway has so far only journalled.
        self.store.ledger_rows().await.expect("ledger")
    }

    /// Tokens of the Gemma-templated prompt for one user message (and a system text); the
    /// template trims each message.
    fn prompt_tokens(&self, system: Option<&str>, user: &str) -> i64 {
        let sys = system
            .map(|s| format!("{}\n\n", s.trim()))
            .unwrap_or_default();
        let user = user.trim();
        let prompt =
            format!("<start_of_turn>user\n{sys}{user}<end_of_turn>\n<start_of_turn>model\n");
        self.tokenizer.tokenize(&prompt).len() as i64
    }
}

/// What the ledger says of a call, less its ids and times.
fn row(
    r: &LedgerRow,
) -> (
    &str,
    &str,
    &str,
    &str,
    &str,
    bool,
    i64,
    i64,
    &str,
    &str,
    &str,
) {
    (
        r.provider.as_str(),
        r.model.as_str(),
        r.upstream_model.as_str(),
        r.client_format.as_str(),
        r.upstream_format.as_str(),
        r.streamed,
        r.settled_nanos,
        r.reserved_nanos,
        r.price_version.as_str(),
        r.outcome.as_str(),
        r.usage_source.as_str(),
    )
}

/// Two calls, whole then streamed, both metered at $0 with the same exact token counts
/// (greedy: the same answer twice).
fn assert_whole_then_streamed(rows: &[LedgerRow], client_format: &str, input: i64, output: i64) {
    assert_eq!(rows.len(), 2);
    for (r, streamed) in rows.iter().zip([false, true]) {
        assert_eq!(
            row(r),
            (
                "on-device",
                "gemma",
                "gemma3-270m-q4_k_m",
                client_format,
                "chat",
                streamed,
                0,
                0,
                "local",
                "ok",
                "upstream"
            )
        );
        assert_eq!(
            (
                r.input_tokens,
                r.cached_input_tokens,
                r.cache_write_tokens,
                r.output_tokens,
                r.reasoning_tokens
            ),
            (input, 0, 0, output, 0)
        );
    }
}

#[tokio::test]
async fn chat_whole_and_streamed_is_metered_at_zero_with_exact_token_counts() {
    let g = Local::start(4096, 64).await;
    let body = json!({"model": "gemma", "max_tokens": 5,
        "messages": [{"role": "user", "content": "Say hello."}]});
    let (status, v) = g.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    let expected_in = g.prompt_tokens(None, "Say hello.");
    assert_eq!(v["usage"]["prompt_tokens"], json!(expected_in));
    let out = v["usage"]["completion_tokens"].as_i64().expect("n");
    assert!((1..=5).contains(&out), "{v}");

    let sse = g.post_stream("/v1/chat/completions", &body).await;
    let data = sse_data(&sse);
    assert_eq!(data.last(), Some(&json!("[DONE]")));
    assert!(
        data.iter()
            .all(|d| d.get("usage").is_none_or(Value::is_null)),
        "the client did not ask for usage: {sse}"
    );
    let text: String = data
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("text")
    );

    assert_whole_then_streamed(&g.ledger().await, "chat", expected_in, out);
}

#[tokio::test]
async fn anthropic_messages_are_translated_both_ways_whole_and_streamed() {
    let g = Local::start(4096, 64).await;
    let body = json!({"model": "gemma", "max_tokens": 4, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Name a fruit."}]});
    let (status, v) = g.post_json("/v1/messages", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["type"].as_str(), v["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(v["content"][0]["type"], "text", "{v}");
    let expected_in = g.prompt_tokens(Some("Be brief."), "Name a fruit.");
    assert_eq!(v["usage"]["input_tokens"], json!(expected_in));
    let out = v["usage"]["output_tokens"].as_i64().expect("n");
    assert!((1..=4).contains(&out), "{v}");
    assert!(["end_turn", "max_tokens"].contains(&v["stop_reason"].as_str().expect("reason")));

    let sse = g.post_stream("/v1/messages", &body).await;
    let kinds = sse_names(&sse);
    assert_eq!(kinds.first().map(String::as_str), Some("message_start"));
    assert_eq!(kinds.last().map(String::as_str), Some("message_stop"));
    assert!(kinds.iter().any(|k| k == "content_block_delta"), "{sse}");

    assert_whole_then_streamed(&g.ledger().await, "messages", expected_in, out);
}

#[tokio::test]
async fn openai_responses_are_translated_both_ways_whole_and_streamed() {
    let g = Local::start(4096, 64).await;
    let body = json!({"model": "gemma", "max_output_tokens": 4, "instructions": "Be brief.",
        "input": "Name a river."});
    let (status, v) = g.post_json("/v1/responses", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "response");
    let expected_in = g.prompt_tokens(Some("Be brief."), "Name a river.");
    assert_eq!(v["usage"]["input_tokens"], json!(expected_in));
    let out = v["usage"]["output_tokens"].as_i64().expect("n");
    assert!((1..=4).contains(&out), "{v}");

    let sse = g.post_stream("/v1/responses", &body).await;
    let kinds = sse_names(&sse);
    assert_eq!(kinds.first().map(String::as_str), Some("response.created"));
    assert!(
        matches!(
            kinds.last().map(String::as_str),
            Some("response.completed" | "response.incomplete")
        ),
        "{sse}"
    );

    assert_whole_then_streamed(&g.ledger().await, "responses", expected_in, out);
}

/// The arguments match the offered tool's schema: the required key, its type, nothing else.
fn check_read_file(args: &Value) {
    let obj = args.as_object().expect("arguments are an object");
    assert!(obj.get("path").is_some_and(Value::is_string), "{args}");
    assert_eq!(obj.len(), 1, "{args}");
}

#[tokio::test]
async fn tool_calls_are_grammar_valid_in_every_format() {
    let g = Local::start(4096, 48).await;
    let params =
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]});
    let ask = "Read the file README.md.";

    let chat = json!({"model": "gemma", "max_tokens": 48, "messages": [{"role": "user", "content": ask}],
        "tools": [{"type": "function", "function": {"name": "read_file", "description": "Read a file.", "parameters": params}}]});
    let (status, v) = g.post_json("/v1/chat/completions", &chat).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let call = &v["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "read_file");
    check_read_file(
        &serde_json::from_str(call["arguments"].as_str().expect("args")).expect("JSON"),
    );

    let messages = json!({"model": "gemma", "max_tokens": 48, "messages": [{"role": "user", "content": ask}],
        "tools": [{"name": "read_file", "description": "Read a file.", "input_schema": params}]});
    let (status, v) = g.post_json("/v1/messages", &messages).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let block = v["content"]
        .as_array()
        .and_then(|c| c.iter().find(|b| b["type"] == "tool_use"))
        .expect("a tool_use block");
    assert_eq!(block["name"], "read_file");
    check_read_file(&block["input"]);

    let sse = g.post_stream("/v1/messages", &messages).await;
    let data = sse_data(&sse);
    let start = data
        .iter()
        .find(|d| d["type"] == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block starts");
    assert_eq!(start["content_block"]["name"], "read_file");
    let partial: String = data
        .iter()
        .filter_map(|d| d["delta"]["partial_json"].as_str())
        .collect();
    check_read_file(&serde_json::from_str(&partial).expect("streamed input is JSON"));

    let responses = json!({"model": "gemma", "max_output_tokens": 48, "input": ask,
        "tools": [{"type": "function", "name": "read_file", "description": "Read a file.", "parameters": params}]});
    let (status, v) = g.post_json("/v1/responses", &responses).await;
    assert_eq!(status, 200, "{v}");
    let item = v["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "function_call"))
        .expect("a function_call item");
    assert_eq!(item["name"], "read_file");
    check_read_file(
        &serde_json::from_str(item["arguments"].as_str().expect("args")).expect("JSON"),
    );

    let rows = g.ledger().await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.settled_nanos == 0
        && r.outcome == CallOutcome::Ok
        && r.output_tokens <= 48
        && r.output_tokens > 0));
}

#[tokio::test]
async fn the_providers_output_cap_holds_whatever_the_client_asks() {
    let g = Local::start(4096, 3).await;
    let body = json!({"model": "gemma", "max_tokens": 500,
        "messages": [{"role": "user", "content": "Write a long story about the sea."}]});
    let (status, v) = g.post_json("/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    // Greedy decoding of a story does not end in three tokens: exactly the cap, cut.
    assert_eq!(v["usage"]["completion_tokens"], json!(3), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    let _ = g.post_stream("/v1/chat/completions", &body).await;
    let rows = g.ledger().await;
    let outs: Vec<(i64, CallOutcome)> = rows.iter().map(|r| (r.output_tokens, r.outcome)).collect();
    assert_eq!(outs, [(3, CallOutcome::Ok), (3, CallOutcome::Ok)]);
}

#[tokio::test]
async fn a_prompt_over_the_context_is_a_400_in_the_clients_format_and_costs_nothing() {
    let g = Local::start(64, 8).await;
    let long = "many words ".repeat(60);
    let chat = json!({"model": "gemma", "messages": [{"role": "user", "content": long}]});
    let (status, v) = g.post_json("/v1/chat/completions", &chat).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "context_length_exceeded", "{v}");
    let prompt = g.prompt_tokens(None, &long);
    assert_eq!(
        v["error"]["message"],
        format!(
            "this request's prompt is {prompt} tokens; the local model accepts at most 64 tokens of prompt and output together (context_tokens), so at most 63 of prompt"
        )
    );

    let messages =
        json!({"model": "gemma", "max_tokens": 8, "messages": [{"role": "user", "content": long}]});
    let (status, v) = g.post_json("/v1/messages", &messages).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");

    let rows = g.ledger().await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(
            (
                r.outcome,
                r.upstream_status,
                r.settled_nanos,
                r.output_tokens
            ),
            (CallOutcome::UpstreamError, Some(400), 0, 0)
        );
    }
}
