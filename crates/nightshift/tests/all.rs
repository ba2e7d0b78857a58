//! The `nightshift` binary, run as a user runs it.

mod suite;
