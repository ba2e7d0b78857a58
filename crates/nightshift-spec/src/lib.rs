//! The configuration file (`nightshift.toml`) and, later, the shift spec.
//!
//! Everything here is parsing and validation of what a person wrote: types with the
//! positions needed to point at a mistake (file, line, column, key), and exact decimal
//! money parsing. Nothing here opens sockets or databases.

mod config;
mod error;
pub mod money;

pub use config::{
    Config, GatewaySettings, ModelConfig, PriceOverrides, ProviderConfig, ProviderKind, StoreConfig,
};
pub use error::{Located, SpecError};
