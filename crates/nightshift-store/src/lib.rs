//! Persistence for nightshift, one trait per domain, with the SQLite implementation.
//!
//! The gateway and (later) the factory talk to these traits only, so a PostgreSQL
//! implementation can be added without touching them. Migrations are embedded. Nothing
//! here knows about HTTP, prices or budgets: amounts are plain integer nanodollars.

mod commit;
mod control;
mod error;
mod event;
mod factory_model;
mod factory_sqlite;
mod floor_sqlite;
mod journal;
mod model;
mod sqlite;
mod states;
mod tail;
mod writer;

use std::future::Future;
use std::pin::Pin;

pub use control::{Asked, Controls, JobControls, SteerNote};
pub use error::StoreError;
pub use event::{
    BlockedAttempt, BlockedKind, CheckOutcome, CheckSeen, Control, Event, FeedbackSource,
};
pub use factory_model::{
    EventRow, GateRow, GateTally, IterationRow, JobRow, JobSpend, PullRef, ShiftRow,
};
pub use journal::Journal;
pub use model::{
    FloorToken, GroupBy, InflightRow, LedgerRow, NewFloorToken, NewToken, TokenRecord, TotalRow,
    Write,
};
pub use sqlite::SqliteStore;
pub use states::{
    CallOutcome, FloorRole, IterationState, JobState, Landing, LandingKind, PullState, ShiftState,
    StopReason, UnknownState, UsageSource, WorkerStop,
};
pub use writer::LedgerWriter;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Scoped gateway tokens.
pub trait TokenStore: Send + Sync {
    fn create_token(&self, token: NewToken) -> BoxFuture<'_, TokenRecord>;
    fn token_by_secret_hash(&self, sha256_hex: &str) -> BoxFuture<'_, Option<TokenRecord>>;
    fn token(&self, id: &str) -> BoxFuture<'_, Option<TokenRecord>>;
    fn tokens(&self) -> BoxFuture<'_, Vec<TokenRecord>>;
    fn revoke_token(&self, id: &str, at_ms: i64) -> BoxFuture<'_, bool>;
    /// The ids of revoked tokens (polled by a running gateway).
    fn revoked_token_ids(&self) -> BoxFuture<'_, Vec<String>>;
}

/// The append-only ledger of model calls and the write-ahead record of calls in flight.
///
/// Every read counts every call whose ledger row is durable, including rows a gateway has
/// so far only appended to the store's journal (the SQLite store copies them in first), so
/// no reader, in the gateway's process or another, needs to catch up by hand.
pub trait LedgerStore: Send + Sync {
    /// Write a batch in one transaction: begun calls into `inflight`, settled calls into
    /// `ledger` (removing their `inflight` row). A settled call already in the ledger is
    /// skipped, so a retry never counts a call twice.
    fn write_batch<'a>(&'a self, batch: &'a [Write]) -> BoxFuture<'a, ()>;
    /// Turn calls left in flight by a crash into ledger rows settled at their reservation.
    fn recover_inflight(&self, now_ms: i64) -> BoxFuture<'_, u64>;
    /// Settled nanodollars of the calls since `since_ms` whose label chain is `label_root`
    /// or starts with it (a shift's token and every job token under it).
    fn spent_since<'a>(&'a self, label_root: &'a str, since_ms: i64) -> BoxFuture<'a, i64>;
    /// The same calls' settled nanodollars per `bucket_ms` of time (each bucket's start,
    /// oldest first; empty buckets left out).
    fn spend_over_time<'a>(
        &'a self,
        label_root: &'a str,
        bucket_ms: i64,
    ) -> BoxFuture<'a, Vec<(i64, i64)>>;
    /// Settled nanodollars per token (own calls only).
    fn spent_by_token(&self) -> BoxFuture<'_, Vec<(String, i64)>>;
    fn totals(&self, by: GroupBy) -> BoxFuture<'_, Vec<TotalRow>>;
    fn ledger_rows(&self) -> BoxFuture<'_, Vec<LedgerRow>>;
    /// A factory job's rows (every token its runs were given), in the order written.
    fn ledger_rows_of_job<'a>(
        &'a self,
        shift: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Vec<LedgerRow>>;
    /// The rows of one token from `since_ms` on, in the order they were written.
    fn ledger_rows_of_token<'a>(
        &'a self,
        token_id: &'a str,
        since_ms: i64,
    ) -> BoxFuture<'a, Vec<LedgerRow>>;
}

/// A change to the factory's current state, recorded with the event that caused it.
#[derive(Debug, Clone)]
pub enum StateChange {
    Shift(ShiftRow),
    Job(JobRow),
    JobToken {
        shift: String,
        job: String,
        token_id: String,
    },
    Iteration(IterationRow),
    Gates {
        shift: String,
        job: String,
        n: i64,
        results: Vec<GateRow>,
    },
}

/// The factory's shifts, jobs, iterations and event log.
pub trait FactoryStore: Send + Sync {
    /// Append one event and apply the state changes it causes, in one transaction.
    /// Returns the event's sequence number.
    fn record<'a>(
        &'a self,
        shift: &'a str,
        job: Option<&'a str>,
        event: &'a Event,
        ts_ms: i64,
        changes: &'a [StateChange],
    ) -> BoxFuture<'a, i64>;
    fn shift(&self, name: &str) -> BoxFuture<'_, Option<ShiftRow>>;
    fn shifts(&self) -> BoxFuture<'_, Vec<ShiftRow>>;
    fn jobs(&self, shift: &str) -> BoxFuture<'_, Vec<JobRow>>;
    fn iterations(&self, shift: &str, job: &str) -> BoxFuture<'_, Vec<IterationRow>>;
    fn gate_results(&self, shift: &str, job: &str, n: i64) -> BoxFuture<'_, Vec<GateRow>>;
    /// Every iteration of every job of a shift, by job and number.
    fn shift_iterations(&self, shift: &str) -> BoxFuture<'_, Vec<IterationRow>>;
    /// Per gate of a shift: how many times it passed and how many it failed.
    fn gate_tallies(&self, shift: &str) -> BoxFuture<'_, Vec<GateTally>>;
    fn events(&self, shift: &str, after_seq: i64) -> BoxFuture<'_, Vec<EventRow>>;
    /// Every shift's events after `after_seq`, at most `limit` of them, in order (the
    /// floor's live stream).
    fn log(&self, after_seq: i64, limit: i64) -> BoxFuture<'_, Vec<EventRow>>;
    /// The sequence number of the latest event of any shift (0 for an empty log).
    fn last_seq(&self) -> BoxFuture<'_, i64>;
    /// One job's events, in order (its history on the floor).
    fn job_events<'a>(&'a self, shift: &'a str, job: &'a str) -> BoxFuture<'a, Vec<EventRow>>;
    /// The shift's events of one type (`Event::kind`), in order.
    fn events_of<'a>(&'a self, shift: &'a str, kind: &'a str) -> BoxFuture<'a, Vec<EventRow>>;
    /// Calls, tokens and dollars per job of a shift, from the ledger.
    fn spend_by_job(&self, shift: &str) -> BoxFuture<'_, Vec<JobSpend>>;
}

/// The floor's tokens (viewers and operators), apart from the gateway's.
pub trait FloorTokenStore: Send + Sync {
    fn create_floor_token(&self, token: NewFloorToken) -> BoxFuture<'_, FloorToken>;
    fn floor_token_by_secret_hash(&self, sha256_hex: &str) -> BoxFuture<'_, Option<FloorToken>>;
    fn floor_tokens(&self) -> BoxFuture<'_, Vec<FloorToken>>;
    fn revoke_floor_token(&self, id: &str, at_ms: i64) -> BoxFuture<'_, bool>;
}

/// Everything the gateway needs from a store.
pub trait Store: TokenStore + LedgerStore {}
impl<T: TokenStore + LedgerStore> Store for T {}

/// A whole store, every domain: what the factory (and whatever reads its state) needs.
pub trait Backend: Store + FactoryStore + FloorTokenStore {}
impl<T: Store + FactoryStore + FloorTokenStore> Backend for T {}
