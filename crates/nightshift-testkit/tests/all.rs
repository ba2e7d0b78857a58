//! Integration tests of the scripted provider, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
