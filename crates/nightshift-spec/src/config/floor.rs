//! `[floor]`: where `nightshift serve` listens, and whether it asks for a token.

use std::net::SocketAddr;

use super::raw::RawFloor;
use crate::error::{Source, SpecError};

/// The floor's settings, after defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloorSettings {
    pub listen: SocketAddr,
    /// Ask every request for a floor token even on a loopback address (on any other
    /// address a token is always needed).
    pub require_token: bool,
}

impl FloorSettings {
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8788";

    /// Whether a request needs a token on `listen`.
    pub fn needs_token(&self, listen: SocketAddr) -> bool {
        self.require_token || !listen.ip().is_loopback()
    }
}

impl Default for FloorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8788)),
            require_token: false,
        }
    }
}

pub(super) fn resolve(
    src: &Source<'_>,
    raw: Option<&RawFloor>,
) -> Result<FloorSettings, SpecError> {
    let mut f = FloorSettings::default();
    let Some(raw) = raw else { return Ok(f) };
    if let Some(listen) = &raw.listen {
        f.listen = listen.get_ref().parse().map_err(|_| {
            src.invalid_at(
                listen,
                "floor.listen",
                format!(
                    "`{}` is not an address to listen on: write IP:PORT, such as {} (any address but loopback needs floor tokens)",
                    listen.get_ref(),
                    FloorSettings::DEFAULT_LISTEN
                ),
            )
        })?;
    }
    if let Some(r) = &raw.require_token {
        f.require_token = *r.get_ref();
    }
    Ok(f)
}
