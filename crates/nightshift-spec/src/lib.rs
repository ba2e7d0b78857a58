//! What a person writes: the configuration file (`nightshift.toml`) and the shift spec
//! (`shift.toml`).
//!
//! Everything here is parsing and validation: types with the positions needed to point at
//! a mistake (file, line, column, key), exact decimal money, and the JSON Schema of the
//! shift spec. Nothing here opens sockets, databases or repositories (it only checks that
//! the fleet's local paths exist and are git repositories).

mod config;
mod error;
pub mod money;
mod shift;

pub use config::{
    Config, DEFAULT_LOCAL_MODEL, GatewaySettings, LocalProvider, LocalThreads, ModelConfig,
    PriceOverrides, ProviderConfig, ProviderKind, StoreConfig,
};
pub use error::{Located, SpecError};
pub use shift::{
    GateCommand, Gates, JobSpec, PolicySpec, ShiftSpec, StopRules, WorkerKind, scaffold,
    shift_schema,
};
