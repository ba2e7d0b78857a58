//! Integration tests of the local model: real inference on the small model.

mod suite;
