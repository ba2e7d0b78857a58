mod auth;
mod budget;
mod concurrency;
mod faults;
mod formats;
mod harness;
mod input;
mod recovery;
