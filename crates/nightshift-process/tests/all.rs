//! The supervisor's integration tests: real `sh` processes, real signals, real `/proc`.

#![allow(clippy::unwrap_used)]

mod suite;
