//! What a person writes: the configuration file (`nightshift.toml`) and the shift spec
//! (`shift.toml`).
//!
//! Everything here is parsing and validation: types with the positions needed to point at
//! a mistake (file, line, column, key), exact decimal money, the shift spec's defaults
//! (declared once, in [`defaults`]) and its JSON Schema. Nothing here opens sockets,
//! databases or repositories (it only checks that the fleet's local paths exist and are git
//! repositories, that a prompt file is readable, and that the store's folder exists).

mod config;
pub mod defaults;
mod error;
mod locate;
pub mod money;
mod shift;

pub use config::{
    Config, DEFAULT_LOCAL_MODEL, FloorSettings, ForgeApi, ForgeConfig, GatewaySettings,
    LocalProvider, LocalThreads, ModelConfig, PriceOverrides, ProviderConfig, ProviderKind,
    StoreConfig,
};
pub use error::{Located, SpecError};
pub use shift::{
    ApiSpec, GateCommand, Gates, HealthSpec, JobSpec, LandingMode, LandingSpec, LineSpec, Linter,
    Origin, PolicySpec, ReviewSpec, SandboxMode, SandboxNetwork, SandboxSpec, SecretsSpec,
    ShiftSpec, StopRules, WorkerKind, scaffold, shift_schema,
};
