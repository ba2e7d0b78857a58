//! Rows as the store keeps them.

use serde::Serialize;

use crate::states::{CallOutcome, FloorRole, UsageSource};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub label: String,
    pub parent_id: Option<String>,
    pub budget_nanos: i64,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// A token that opens the floor (never the gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FloorToken {
    pub id: String,
    pub label: String,
    pub role: FloorRole,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewFloorToken {
    pub id: String,
    pub secret_sha256: String,
    pub label: String,
    pub role: FloorRole,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub secret_sha256: String,
    pub label: String,
    pub parent_id: Option<String>,
    pub budget_nanos: i64,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
}

/// One settled model call. `Default` is a refusal's row: zeros and empty names, outcome
/// `refused`, usage source `none` (a call that never reached an upstream).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LedgerRow {
    pub call_id: String,
    pub ts_ms: i64,
    pub token_id: String,
    /// Labels from the root budget down to the calling token, joined by `/`.
    pub label_chain: String,
    pub provider: String,
    pub model: String,
    pub upstream_model: String,
    pub client_format: String,
    pub upstream_format: String,
    pub streamed: bool,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub reserved_nanos: i64,
    pub settled_nanos: i64,
    pub price_version: String,
    pub upstream_status: Option<i64>,
    pub latency_ms: i64,
    pub outcome: CallOutcome,
    pub usage_source: UsageSource,
    pub attempts: i64,
    pub detail: Option<String>,
}

/// A call that has reserved and not yet settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InflightRow {
    pub call_id: String,
    pub ts_ms: i64,
    pub token_id: String,
    pub label_chain: String,
    pub provider: String,
    pub model: String,
    pub upstream_model: String,
    pub client_format: String,
    pub upstream_format: String,
    pub streamed: bool,
    pub reserved_nanos: i64,
    pub price_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Write {
    Begin(InflightRow),
    Settle(LedgerRow),
    /// Writes nothing; waiting on it waits for everything queued before it.
    Flush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Token,
    Model,
    Label,
    Outcome,
}

/// Totals for one group of ledger rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TotalRow {
    pub key: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub settled_nanos: i64,
}

impl TotalRow {
    /// Nothing yet, under `key`.
    pub fn zero(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            calls: 0,
            input_tokens: 0,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 0,
            reasoning_tokens: 0,
            settled_nanos: 0,
        }
    }

    /// Add another group's totals to these.
    pub fn add(&mut self, other: &TotalRow) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.settled_nanos += other.settled_nanos;
    }
}
