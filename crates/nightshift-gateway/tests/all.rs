//! The gateway's integration tests: a real gateway on 127.0.0.1 in front of the scripted
//! provider, with a real SQLite ledger in a temporary folder.

#![expect(
    clippy::disallowed_methods,
    reason = "tests own every task they spawn and await it"
)]

mod suite;
