//! A gateway in front of a scripted provider, for one test.

use std::sync::Arc;

use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

use nightshift_gateway::GatewayState;
use nightshift_spec::Config;
use nightshift_store::{LedgerRow, LedgerStore, SqliteStore, Store};
use nightshift_testkit::{Script, ScriptedProvider};

/// Prices used by every test model, per million tokens.
pub const INPUT: i64 = 2_000; // nanodollars per token ($2.00/Mtok)
pub const OUTPUT: i64 = 8_000; // $8.00/Mtok
pub const CACHED: i64 = 500; // $0.50/Mtok
pub const CACHE_WRITE: i64 = 2_500; // $2.50/Mtok
pub const REASONING: i64 = 10_000; // $10.00/Mtok

pub const DEFAULT_GATEWAY: &str =
    "max_retries = 2\nretry_base_ms = 5\nrequest_timeout_ms = 3000\nstream_idle_timeout_ms = 3000";

pub struct Harness {
    pub provider: ScriptedProvider,
    pub base: String,
    pub state: Arc<GatewayState>,
    pub store: Arc<SqliteStore>,
    pub http: reqwest::Client,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn config_text(provider_url: &str, db: &str, gateway: &str) -> String {
    let prices = r#"
input_usd_per_mtok = "2.00"
output_usd_per_mtok = "8.00"
cached_input_usd_per_mtok = "0.50"
cache_write_usd_per_mtok = "2.50"
reasoning_usd_per_mtok = "10.00""#;
    format!(
        r#"
[store]
url = "sqlite://{db}"

[gateway]
{gateway}

[[provider]]
name = "scripted"
kind = "scripted"
base_url = "{provider_url}"

[[provider]]
name = "compat"
kind = "openai-compatible"
base_url = "{provider_url}"

[[provider]]
name = "claude"
kind = "anthropic"
base_url = "{provider_url}"

[[model]]
name = "gpt"
provider = "scripted"
upstream = "gpt-upstream"
{prices}

[[model]]
name = "compat-model"
provider = "compat"
{prices}

[[model]]
name = "claude-model"
provider = "claude"
{prices}

[[model]]
name = "with-fallback"
provider = "compat"
fallback = ["gpt"]
{prices}

[[provider]]
name = "keyed"
kind = "openai-compatible"
base_url = "{provider_url}"
api_key_env = "CARGO_MANIFEST_DIR"

[[model]]
name = "keyed-model"
provider = "keyed"
{prices}

[[model]]
name = "unpriced"
provider = "scripted"
"#
    )
}

impl Harness {
    pub async fn start(script: Script) -> Self {
        Self::start_with(script, "").await
    }

    /// `gateway` replaces the lines of the `[gateway]` table ([`DEFAULT_GATEWAY`]).
    pub async fn start_with(script: Script, gateway: &str) -> Self {
        let provider = ScriptedProvider::start(script)
            .await
            .expect("scripted provider starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("ledger.db");
        let gateway = if gateway.is_empty() {
            DEFAULT_GATEWAY
        } else {
            gateway
        };
        let text = config_text(&provider.base_url(), &db.to_string_lossy(), gateway);
        let path = dir.path().join("nightshift.toml");
        std::fs::write(&path, &text).expect("write config");
        let config = Config::parse(&path, &text).expect("valid config");
        let store = Arc::new(
            SqliteStore::open(&config.store.url)
                .await
                .expect("store opens"),
        );
        let mut h = Self {
            provider,
            base: String::new(),
            state: nightshift_gateway::build(&config, store.clone() as Arc<dyn Store>)
                .await
                .expect("gateway builds"),
            store,
            http: reqwest::Client::new(),
            dir,
            stop: None,
            served: None,
        };
        h.serve().await;
        h
    }

    async fn serve(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        let state = self.state.clone();
        self.served = Some(tokio::spawn(nightshift_gateway::serve(
            state,
            listener,
            async {
                let _ = rx.await;
            },
        )));
    }

    /// Stop serving and wait until the ledger writer has flushed.
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.served.take() {
            j.await.expect("serve task").expect("serve ok");
        }
    }

    /// Stop serving and let go of the gateway (its journal and the journal's lock), keeping
    /// the provider, the folder and the store.
    pub async fn into_parts(mut self) -> (ScriptedProvider, TempDir, Arc<SqliteStore>) {
        self.stop().await;
        let Self {
            provider,
            dir,
            store,
            ..
        } = self;
        (provider, dir, store)
    }

    pub async fn token(&self, budget_usd: &str, parent: Option<&str>) -> (String, String) {
        self.labelled_token("test", budget_usd, parent).await
    }

    pub async fn labelled_token(
        &self,
        label: &str,
        budget_usd: &str,
        parent: Option<&str>,
    ) -> (String, String) {
        let nanos = nightshift_meter::parse_usd(budget_usd).expect("amount");
        let m = nightshift_gateway::mint(
            self.store.as_ref(),
            label,
            nanos,
            parent,
            None,
            nightshift_clock::now_ms(),
        )
        .await
        .expect("mint");
        (m.token, m.record.id)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request reaches the gateway")
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self.post(path, token, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text)),
        )
    }

    /// Post and read the whole SSE body as text.
    pub async fn post_stream(&self, path: &str, token: &str, body: &Value) -> (u16, String) {
        let r = self.post(path, token, body).await;
        (r.status().as_u16(), r.text().await.expect("stream body"))
    }

    pub async fn ledger(&self) -> Vec<LedgerRow> {
        // No flush: the store's reads count what the gateway has so far only journalled.
        self.store.ledger_rows().await.expect("ledger")
    }
}

/// Cost in nanodollars of a usage at the test prices (rounded up once).
pub fn cost(input: i64, cached: i64, written: i64, output: i64, reasoning: i64) -> i64 {
    let total = (input - cached - written) * INPUT * 1_000_000
        + cached * CACHED * 1_000_000
        + written * CACHE_WRITE * 1_000_000
        + (output - reasoning) * OUTPUT * 1_000_000
        + reasoning * REASONING * 1_000_000;
    (total + 999_999) / 1_000_000
}

/// The `data:` payloads of an SSE body, parsed (the `[DONE]` sentinel as a string).
pub fn sse_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|ev| {
            let data: Vec<&str> = ev
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if data.is_empty() {
                return None;
            }
            let d = data.join("\n");
            Some(serde_json::from_str(&d).unwrap_or(Value::String(d)))
        })
        .collect()
}

/// The `event:` names of an SSE body.
pub fn sse_names(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_string)
        .collect()
}
