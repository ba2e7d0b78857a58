//! The floor's integration tests: one binary, the modules under `suite/`.

mod suite;
