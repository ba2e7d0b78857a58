//! `[gateway]`: the metering gateway's address, limits, retries and timeouts.

use std::net::SocketAddr;

use toml::Spanned;

use super::GatewaySettings;
use super::raw::RawGateway;
use crate::error::{Source, SpecError};

/// The settings, each unset one at its default (`GatewaySettings::default()`).
///
/// Zero is refused where it cannot mean anything: a body limit of 0 bytes refuses every
/// call, and a timeout of 0 ms fails every call at once. It stays allowed where it is a
/// choice: no retries, no backoff, no `Retry-After` waits, no added input tokens.
pub(super) fn resolve(
    src: &Source<'_>,
    raw: Option<&RawGateway>,
) -> Result<GatewaySettings, SpecError> {
    let mut g = GatewaySettings::default();
    let Some(raw) = raw else { return Ok(g) };
    if let Some(listen) = &raw.listen {
        g.listen = listen_address(src, listen)?;
    }
    let set = |target: &mut u64, value: Option<&Spanned<u64>>, min: u64, key: &str| {
        if let Some(v) = src.at_least(value, min, key)? {
            *target = v;
        }
        Ok::<(), SpecError>(())
    };
    set(
        &mut g.retry_base_ms,
        raw.retry_base_ms.as_ref(),
        0,
        "gateway.retry_base_ms",
    )?;
    set(
        &mut g.retry_after_cap_ms,
        raw.retry_after_cap_ms.as_ref(),
        0,
        "gateway.retry_after_cap_ms",
    )?;
    set(
        &mut g.connect_timeout_ms,
        raw.connect_timeout_ms.as_ref(),
        1,
        "gateway.connect_timeout_ms",
    )?;
    set(
        &mut g.request_timeout_ms,
        raw.request_timeout_ms.as_ref(),
        1,
        "gateway.request_timeout_ms",
    )?;
    set(
        &mut g.stream_idle_timeout_ms,
        raw.stream_idle_timeout_ms.as_ref(),
        1,
        "gateway.stream_idle_timeout_ms",
    )?;
    set(
        &mut g.header_read_timeout_ms,
        raw.header_read_timeout_ms.as_ref(),
        1,
        "gateway.header_read_timeout_ms",
    )?;
    set(
        &mut g.body_read_timeout_ms,
        raw.body_read_timeout_ms.as_ref(),
        1,
        "gateway.body_read_timeout_ms",
    )?;
    if let Some(v) = src.at_least(raw.max_body_bytes.as_ref(), 1, "gateway.max_body_bytes")? {
        g.max_body_bytes = v;
    }
    if let Some(v) = raw.max_retries.as_ref() {
        g.max_retries = *v.get_ref();
    }
    if let Some(v) = src.at_least(
        raw.input_bytes_per_token.as_ref(),
        1,
        "gateway.input_bytes_per_token",
    )? {
        g.input_bytes_per_token = v;
    }
    if let Some(v) = raw.input_overhead_tokens.as_ref() {
        g.input_overhead_tokens = *v.get_ref();
    }
    Ok(g)
}

/// `listen` as `HOST:PORT`: an IP address (`127.0.0.1:8787`, `[::1]:8787`) or a host name
/// (`localhost:8787`), which the gateway resolves when it binds.
fn listen_address(src: &Source<'_>, listen: &Spanned<String>) -> Result<String, SpecError> {
    let text = listen.get_ref();
    let valid = text.parse::<SocketAddr>().is_ok()
        || text
            .rsplit_once(':')
            .is_some_and(|(host, port)| port.parse::<u16>().is_ok() && is_host_name(host));
    if !valid {
        return Err(src.invalid_at(
            listen,
            "gateway.listen",
            format!(
                "`{text}` is not an address to listen on: write HOST:PORT, such as 127.0.0.1:8787 or localhost:8787"
            ),
        ));
    }
    Ok(text.clone())
}

/// A DNS name: dot-separated labels of letters, digits and inner `-`. All digits is an IP
/// address that did not parse (`999.1.1.1`), not a name.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && !host.chars().all(|c| c.is_ascii_digit() || c == '.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
