//! `[sandbox]`: how the factory confines every worker and gate of the shift.

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::defaults;
use crate::error::{Source, SpecError};

/// Whether jobs run sandboxed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// Every worker and gate runs in the sandbox; a host where it cannot be had refuses
    /// the shift.
    #[default]
    On,
    /// Nothing is confined: the report and every progress line say so.
    Off,
}

/// Where a sandboxed process may connect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxNetwork {
    /// The job's gateway endpoint, nothing else.
    #[default]
    Gateway,
    /// Nothing at all (gates then cannot reach the gateway either).
    None,
}

/// The sandbox of a shift, after defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SandboxSpec {
    pub mode: SandboxMode,
    pub network: SandboxNetwork,
    pub processes: u32,
    pub memory_mb: u64,
    pub file_mb: u64,
    pub tmp_mb: u64,
    pub disk_mb: u64,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        Self {
            mode: SandboxMode::On,
            network: SandboxNetwork::Gateway,
            processes: defaults::SANDBOX_PROCESSES,
            memory_mb: defaults::SANDBOX_MEMORY_MB,
            file_mb: defaults::SANDBOX_FILE_MB,
            tmp_mb: defaults::SANDBOX_TMP_MB,
            disk_mb: defaults::SANDBOX_DISK_MB,
        }
    }
}

impl SandboxSpec {
    /// Serialized only when a key is off its default (a spec stored before `[sandbox]`
    /// existed compares equal to one that leaves it out).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[sandbox]` as written.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSandbox {
    /// `"on"` (every worker and gate sandboxed) or `"off"` (nothing confined, said loudly).
    #[schemars(with = "Option<SandboxMode>", extend("default" = "on"))]
    pub mode: Option<Spanned<SandboxMode>>,
    /// `"gateway"` (only the job's gateway endpoint) or `"none"`. An allowlist of
    /// `host:port` entries is not enforced by this version and is refused.
    #[schemars(with = "Option<String>", extend("default" = "gateway"))]
    pub network: Option<Spanned<toml::Value>>,
    /// Processes and threads alive at once in one sandboxed run (a fork bomb stops here).
    #[schemars(with = "Option<u32>", range(min = 1), extend("default" = defaults::SANDBOX_PROCESSES))]
    pub processes: Option<Spanned<u32>>,
    /// Memory of one sandboxed run, in MiB.
    #[schemars(with = "Option<u64>", range(min = 16), extend("default" = defaults::SANDBOX_MEMORY_MB))]
    pub memory_mb: Option<Spanned<u64>>,
    /// The largest file a sandboxed process may write, in MiB.
    #[schemars(with = "Option<u64>", range(min = 1), extend("default" = defaults::SANDBOX_FILE_MB))]
    pub file_mb: Option<Spanned<u64>>,
    /// The size of each run's private `/tmp`, in MiB.
    #[schemars(with = "Option<u64>", range(min = 1), extend("default" = defaults::SANDBOX_TMP_MB))]
    pub tmp_mb: Option<Spanned<u64>>,
    /// The most a job's worktree may hold, in MiB; past it the iteration is a defect.
    #[schemars(with = "Option<u64>", range(min = 1), extend("default" = defaults::SANDBOX_DISK_MB))]
    pub disk_mb: Option<Spanned<u64>>,
}

pub(super) fn resolve(
    src: &Source<'_>,
    raw: Option<&RawSandbox>,
) -> Result<SandboxSpec, SpecError> {
    let d = SandboxSpec::default();
    let Some(raw) = raw else {
        return Ok(d);
    };
    let network = match &raw.network {
        None => d.network,
        Some(v) => match v.get_ref() {
            toml::Value::String(s) if s == "gateway" => SandboxNetwork::Gateway,
            toml::Value::String(s) if s == "none" => SandboxNetwork::None,
            toml::Value::Array(_) => {
                return Err(src.invalid_at(
                    v,
                    "sandbox.network",
                    "an allowlist of host:port entries is not enforced by this version of nightshift, so it is refused rather than ignored: use \"gateway\" (only the job's gateway endpoint) or \"none\", and fetch what a gate needs before the shift (e.g. `cargo fetch`, a vendored folder)".to_string(),
                ));
            }
            other => {
                return Err(src.invalid_at(
                    v,
                    "sandbox.network",
                    format!("must be \"gateway\" or \"none\", not {other}"),
                ));
            }
        },
    };
    let mb = |v: &Option<Spanned<u64>>, min: u64, key: &str, default: u64| {
        Ok::<_, SpecError>(src.at_least(v.as_ref(), min, key)?.unwrap_or(default))
    };
    Ok(SandboxSpec {
        mode: raw.mode.as_ref().map_or(d.mode, |m| *m.get_ref()),
        network,
        processes: src
            .at_least(raw.processes.as_ref(), 1, "sandbox.processes")?
            .unwrap_or(d.processes),
        memory_mb: mb(&raw.memory_mb, 16, "sandbox.memory_mb", d.memory_mb)?,
        file_mb: mb(&raw.file_mb, 1, "sandbox.file_mb", d.file_mb)?,
        tmp_mb: mb(&raw.tmp_mb, 1, "sandbox.tmp_mb", d.tmp_mb)?,
        disk_mb: mb(&raw.disk_mb, 1, "sandbox.disk_mb", d.disk_mb)?,
    })
}
