//! The wire crate's integration tests: golden captures of what providers send, and
//! translation between the formats.

#![allow(clippy::unwrap_used)]

mod suite;
