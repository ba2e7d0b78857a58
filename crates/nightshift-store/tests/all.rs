//! The SQLite store: what the ledger guarantees.

#![expect(
    clippy::disallowed_methods,
    reason = "tests own every task they spawn and await it"
)]

mod suite;
