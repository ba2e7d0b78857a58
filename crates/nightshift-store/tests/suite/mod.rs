//! The factory's side of the store: the event log with its projection, the states' CHECKs,
//! and the migration from the previous version's store.

mod factory;
mod migrate;
