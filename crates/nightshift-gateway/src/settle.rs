//! Settling a call: the real cost replaces the reservation and the ledger row is made
//! durable before the client sees the end of the response.

use std::sync::Arc;
use std::time::Instant;

use nightshift_meter::{Price, Reservation};
use nightshift_store::{CallOutcome, InflightRow, LedgerRow, StoreError, UsageSource, Write};
use nightshift_wire::{Usage, WireFormat};

use crate::auth::Caller;
use nightshift_clock::now_ms;

use crate::state::GatewayState;

/// Everything known about a call between its reservation and its settlement.
pub struct Pending {
    pub state: Arc<GatewayState>,
    pub call_id: String,
    pub caller: Arc<Caller>,
    pub provider: String,
    pub model: String,
    pub upstream_model: String,
    pub client_format: WireFormat,
    pub upstream_format: WireFormat,
    pub streamed: bool,
    pub price: Price,
    pub price_version: String,
    pub reservation: Reservation,
    pub started: Instant,
    pub ts_ms: i64,
    pub attempts: u32,
}

/// How a call ended, as far as money goes.
pub struct Ending {
    pub outcome: CallOutcome,
    /// The upstream's usage; `None` bills the reservation (we could not see what was used).
    pub usage: Option<Usage>,
    /// `false` when no upstream call produced anything billable (a refused or failed call).
    pub billable: bool,
    pub upstream_status: Option<u16>,
    pub detail: Option<String>,
}

impl Pending {
    /// Write the write-ahead record and wait until it is durable: a call the upstream has
    /// received must survive a `kill -9` of the gateway, so it is recorded before it is sent.
    pub async fn begin(&self) -> Result<(), StoreError> {
        self.state
            .writer
            .write(Write::Begin(InflightRow {
                call_id: self.call_id.clone(),
                ts_ms: self.ts_ms,
                token_id: self.caller.id.to_string(),
                label_chain: self.caller.label_chain.clone(),
                provider: self.provider.clone(),
                model: self.model.clone(),
                upstream_model: self.upstream_model.clone(),
                client_format: self.client_format.as_str().into(),
                upstream_format: self.upstream_format.as_str().into(),
                streamed: self.streamed,
                reserved_nanos: self.reservation.amount,
                price_version: self.price_version.clone(),
            }))
            .await
    }

    /// Settle the budgets and write the ledger row; returns once the row is durable.
    pub async fn settle(self, end: Ending) -> Result<(), StoreError> {
        let (cost, usage, source) = match (end.billable, end.usage) {
            (false, _) => (0, Usage::default(), UsageSource::None),
            (true, Some(u)) => (self.price.cost(&u), u, UsageSource::Upstream),
            (true, None) => (
                self.reservation.amount,
                Usage::default(),
                UsageSource::Reserved,
            ),
        };
        let reserved = self.reservation.amount;
        self.reservation.settle(cost);
        if cost > reserved {
            tracing::warn!(
                call_id = %self.call_id,
                reserved,
                settled = cost,
                "Upstream reported more usage than was reserved; the budget is overshot by the difference."
            );
        }
        let row = LedgerRow {
            call_id: self.call_id,
            ts_ms: self.ts_ms,
            token_id: self.caller.id.to_string(),
            label_chain: self.caller.label_chain.clone(),
            provider: self.provider,
            model: self.model,
            upstream_model: self.upstream_model,
            client_format: self.client_format.as_str().into(),
            upstream_format: self.upstream_format.as_str().into(),
            streamed: self.streamed,
            input_tokens: usage.input_tokens as i64,
            cached_input_tokens: usage.cached_input_tokens as i64,
            cache_write_tokens: usage.cache_write_tokens as i64,
            output_tokens: usage.output_tokens as i64,
            reasoning_tokens: usage.reasoning_tokens as i64,
            reserved_nanos: reserved,
            settled_nanos: cost,
            price_version: self.price_version,
            upstream_status: end.upstream_status.map(i64::from),
            latency_ms: self.started.elapsed().as_millis() as i64,
            outcome: end.outcome,
            usage_source: source,
            attempts: i64::from(self.attempts),
            detail: end.detail,
        };
        self.state.writer.write(Write::Settle(row)).await
    }
}

/// A refused call still gets its ledger row (nothing reserved, nothing spent).
pub async fn record_refusal(
    state: &GatewayState,
    caller: &Caller,
    model: &str,
    provider: &str,
    client_format: WireFormat,
    streamed: bool,
    detail: String,
) {
    // Nothing reserved, nothing spent, no upstream: zeros and empty names but for these.
    let row = LedgerRow {
        call_id: new_call_id(),
        ts_ms: now_ms(),
        token_id: caller.id.to_string(),
        label_chain: caller.label_chain.clone(),
        provider: provider.into(),
        model: model.into(),
        client_format: client_format.as_str().into(),
        streamed,
        outcome: CallOutcome::Refused,
        usage_source: UsageSource::None,
        detail: Some(detail),
        ..LedgerRow::default()
    };
    if let Err(e) = state.writer.write(Write::Settle(row)).await {
        tracing::error!(error = %e, "Could not record a refused call.");
    }
}

/// A new call id: `call_` and 24 hex digits, unique, ordered by the time it was made.
pub fn new_call_id() -> String {
    use rand::RngCore;
    // Time first (milliseconds, 48 bits), then 48 random bits: ids sort by time, so the
    // ledger's unique index on them grows at its end instead of taking each insert at a
    // random page (a random id dirtied one index page per row, and every dirty page is a
    // 4 KiB WAL frame at each commit).
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut b = [0u8; 12];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    rand::rng().fill_bytes(&mut b[6..]);
    format!("call_{}", hex::encode(b))
}

/// Convenience for Ending.
impl Ending {
    pub fn ok(usage: Option<Usage>, status: u16) -> Self {
        Self {
            outcome: CallOutcome::Ok,
            usage,
            billable: true,
            upstream_status: Some(status),
            detail: None,
        }
    }

    pub fn nothing(outcome: CallOutcome, status: Option<u16>, detail: String) -> Self {
        Self {
            outcome,
            usage: None,
            billable: false,
            upstream_status: status,
            detail: Some(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_unique_and_ordered_by_time() {
        let first = new_call_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let ids: Vec<String> = (0..1000).map(|_| new_call_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 5 + 24, "{id}");
            assert!(id.starts_with("call_"), "{id}");
            assert!(id[5..].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            // Made later, so it sorts after (the time prefix differs).
            assert!(id.as_str() > first.as_str(), "{id} after {first}");
        }
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
