//! Persistence for nightshift, one trait per domain, with the SQLite implementation.
//!
//! The gateway and (later) the factory talk to these traits only, so a PostgreSQL
//! implementation can be added without touching them. Migrations are embedded. Nothing
//! here knows about HTTP, prices or budgets: amounts are plain integer nanodollars.

mod error;
mod model;
mod sqlite;
mod writer;

use std::future::Future;
use std::pin::Pin;

pub use error::StoreError;
pub use model::{GroupBy, InflightRow, LedgerRow, NewToken, TokenRecord, TotalRow, Write};
pub use sqlite::SqliteStore;
pub use writer::LedgerWriter;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Scoped gateway tokens.
pub trait TokenStore: Send + Sync {
    fn create_token(&self, token: NewToken) -> BoxFuture<'_, TokenRecord>;
    fn token_by_secret_hash(&self, sha256_hex: &str) -> BoxFuture<'_, Option<TokenRecord>>;
    fn token(&self, id: &str) -> BoxFuture<'_, Option<TokenRecord>>;
    fn tokens(&self) -> BoxFuture<'_, Vec<TokenRecord>>;
    fn revoke_token(&self, id: &str, at_ms: i64) -> BoxFuture<'_, bool>;
}

/// The append-only ledger of model calls and the write-ahead record of calls in flight.
pub trait LedgerStore: Send + Sync {
    /// Write a batch in one transaction: begun calls into `inflight`, settled calls into
    /// `ledger` (removing their `inflight` row). A settled call already in the ledger is
    /// skipped, so a retry never counts a call twice.
    fn write_batch<'a>(&'a self, batch: &'a [Write]) -> BoxFuture<'a, ()>;
    /// Turn calls left in flight by a crash into ledger rows settled at their reservation.
    fn recover_inflight(&self, now_ms: i64) -> BoxFuture<'_, u64>;
    /// Settled nanodollars per token (own calls only).
    fn spent_by_token(&self) -> BoxFuture<'_, Vec<(String, i64)>>;
    fn totals(&self, by: GroupBy) -> BoxFuture<'_, Vec<TotalRow>>;
    fn ledger_rows(&self) -> BoxFuture<'_, Vec<LedgerRow>>;
}

/// Everything the gateway needs from a store.
pub trait Store: TokenStore + LedgerStore {}
impl<T: TokenStore + LedgerStore> Store for T {}
