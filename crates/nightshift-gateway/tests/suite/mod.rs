mod auth;
mod budget;
mod concurrency;
mod faults;
mod formats;
mod harness;
mod input;
// Real inference: only with the `local` feature (the workspace build enables it).
#[cfg(feature = "local")]
mod local;
mod recovery;
mod slow_clients;
