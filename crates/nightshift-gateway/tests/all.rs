//! The gateway's integration tests: a real gateway on 127.0.0.1 in front of the scripted
//! provider, with a real SQLite ledger in a temporary folder.

mod suite;
