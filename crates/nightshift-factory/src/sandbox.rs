//! What the sandbox of a job holds: the policy made from the shift's layout and spec, the
//! bridge to the gateway, and the evidence of an iteration.
//!
//! [`Host`] is checked once per shift (bubblewrap works here, what the host enforces);
//! [`Kit`] is made once per job and hands a [`Sandbox`] to every process of the job: the
//! worker (an agent CLI, a command worker, the built-in agent's `run` tool) and each gate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nightshift_process::Sandbox;
use nightshift_process::sandbox::{Bridge, Evidence, Limits, Network, Policy, Seen};
use nightshift_spec::{Config, SandboxMode, SandboxNetwork, SandboxSpec, ShiftSpec, WorkerKind};

use crate::error::FactoryError;

const MIB: u64 = 1024 * 1024;

/// Folders of every host that no job may see, beside the ones the shift names. The host's
/// root is bound read-only, and the sandbox's user owns what the factory's owns (as root:
/// root's files), so what holds secrets or other services' data goes.
const SYSTEM_HIDDEN: &[&str] = &[
    "/root",
    "/home",
    "/run",
    "/mnt",
    "/media",
    "/srv",
    "/etc/ssh",
    "/etc/ssl/private",
    "/var/lib/postgresql",
    "/var/lib/mysql",
    "/var/backups",
    "/var/mail",
    "/var/spool",
    "/var/log",
];

/// Files of every host that no job may read.
const SYSTEM_FILES: &[&str] = &["/etc/shadow", "/etc/gshadow", "/etc/sudoers"];

/// Files under the factory user's home that hold credentials, hidden even where the folder
/// around them is bound back (a toolchain in `~/.cargo`).
const CREDENTIAL_FILES: &[&str] = &[
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".git-credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".docker/config.json",
];

/// The sandbox as this host can give it, checked once per shift.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    bwrap: PathBuf,
    init: PathBuf,
    /// The spec, the configuration file and the store's database: their folders are
    /// hidden, and the files themselves covered.
    files: Vec<PathBuf>,
}

impl Host {
    /// `None` when the spec turns the sandbox off; an error, with the reason and the fix,
    /// when it is on and cannot be had here.
    pub async fn check(
        spec: &ShiftSpec,
        config: &Config,
        init: &Path,
    ) -> Result<Option<Self>, FactoryError> {
        if spec.sandbox.network == SandboxNetwork::None
            && let Some(job) = spec.jobs.iter().find(|j| j.worker != WorkerKind::Builtin)
        {
            return Err(FactoryError::Invalid(format!(
                "{}: job `{}` runs worker `{}`, which calls the model from inside the sandbox, and [sandbox] network = \"none\" leaves it no way to the gateway: use network = \"gateway\", or the builtin worker",
                spec.file.display(),
                job.name,
                serde_json::to_value(job.worker)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )));
        }
        if spec.sandbox.mode == SandboxMode::Off {
            tracing::warn!(shift = %spec.name, "SANDBOX OFF: workers and gates run with the factory's own rights ([sandbox] mode = \"off\").");
            return Ok(None);
        }
        let probe = nightshift_process::sandbox::probe(init).await;
        match (probe.works, probe.bwrap) {
            (Ok(()), Some(bwrap)) => {
                if !probe.enforced.memory {
                    tracing::warn!(
                        "No cgroup can be made here: sandbox.memory_mb is not enforced, and sandbox.processes counts the user's processes, not each run's."
                    );
                }
                Ok(Some(Self {
                    bwrap,
                    init: init.to_path_buf(),
                    files: [
                        Some(spec.file.clone()),
                        Some(config.file.clone()),
                        store_file(config),
                    ]
                    .into_iter()
                    .flatten()
                    .filter_map(|f| std::path::absolute(f).ok())
                    .collect(),
                }))
            }
            (Err(why), _) => Err(FactoryError::Invalid(format!(
                "{}: the sandbox cannot run on this host: {why}. Fix that (`nightshift doctor` checks it), or set [sandbox] mode = \"off\" in the spec to run every worker and gate unconfined",
                spec.file.display()
            ))),
            (Ok(()), None) => Err(FactoryError::Internal(
                "the sandbox probe found no bwrap".into(),
            )),
        }
    }
}

/// What a job's processes are sandboxed with.
pub(crate) struct Kit {
    base: Sandbox,
    /// Kept alive for the job: the gateway's one way in.
    _bridge: Option<Bridge>,
    /// The gateway's base URL as the sandbox reaches it.
    pub v1: String,
    scratch: PathBuf,
    /// Whether the factory has a `CARGO_TARGET_DIR` (each job then gets its own).
    cargo_target: bool,
}

/// Where a job's sandbox is made from.
pub(crate) struct Place<'a> {
    pub layout_root: &'a Path,
    pub worktree: &'a Path,
    pub mirror: &'a Path,
    pub scratch: &'a Path,
    pub spec: &'a ShiftSpec,
    /// The gateway's base URL as the factory reaches it (`http://HOST:PORT/v1`).
    pub gateway_v1: &'a str,
    /// Programs a worker needs that may live in a hidden folder (an agent CLI's package).
    pub tools: Vec<PathBuf>,
}

impl Kit {
    pub async fn new(host: &Host, place: Place<'_>) -> Result<Self, FactoryError> {
        let spec = &place.spec.sandbox;
        let (network, bridge, v1) = match spec.network {
            SandboxNetwork::None => (Network::None, None, place.gateway_v1.to_string()),
            SandboxNetwork::Gateway => {
                let (target, rest) = gateway_addr(place.gateway_v1).await?;
                let socket = place.scratch.join("gateway.sock");
                std::fs::create_dir_all(place.scratch).map_err(|source| FactoryError::Io {
                    path: place.scratch.to_path_buf(),
                    source,
                })?;
                let bridge = Bridge::start(&socket, target).map_err(|source| FactoryError::Io {
                    path: socket.clone(),
                    source,
                })?;
                let v1 = format!("http://127.0.0.1:{}{rest}", target.port());
                (
                    Network::Gateway {
                        port: target.port(),
                        socket,
                    },
                    Some(bridge),
                    v1,
                )
            }
        };
        let policy = policy(&place, host, network, spec);
        Ok(Self {
            base: Sandbox::new(host.bwrap.clone(), host.init.clone(), policy),
            _bridge: bridge,
            v1,
            scratch: place.scratch.to_path_buf(),
            cargo_target: std::env::var_os("CARGO_TARGET_DIR").is_some(),
        })
    }

    /// For the worker's commands (the built-in agent's `run`, a command worker): a private
    /// home, emptied when `fresh` (each iteration's start).
    pub fn commands(&self, fresh: bool) -> Result<Sandbox, FactoryError> {
        self.private("sandbox-home", "cargo-target", fresh)
    }

    /// For the gates: a home and a build cache of their own, that no worker command can
    /// write (so that the agent cannot plant what its gates load: a Python `.pth`, a
    /// `~/.cargo/config.toml`, a test binary), emptied when `fresh` (each iteration's
    /// start).
    pub fn gates(&self, fresh: bool) -> Result<Sandbox, FactoryError> {
        self.private("gate-home", "cargo-target-gates", fresh)
    }

    /// A sandbox with the private home `home` and, where the factory has a
    /// `CARGO_TARGET_DIR`, the build cache `target` (a cache shared between jobs would let
    /// one job's build scripts plant what another job's gates run: each job has its own,
    /// kept between its iterations), both folders of the job's scratch space.
    fn private(&self, home: &str, target: &str, fresh: bool) -> Result<Sandbox, FactoryError> {
        let home = self.scratch.join(home);
        if fresh {
            let _ = std::fs::remove_dir_all(&home);
        }
        let mkdir = |dir: &Path| {
            std::fs::create_dir_all(dir).map_err(|source| FactoryError::Io {
                path: dir.to_path_buf(),
                source,
            })
        };
        mkdir(&home)?;
        let mut sandbox = self.with_home(home);
        if self.cargo_target {
            let target = self.scratch.join(target);
            mkdir(&target)?;
            sandbox.policy.writable.push(target.clone());
            sandbox
                .policy
                .env
                .push(("CARGO_TARGET_DIR".into(), target.into_os_string()));
        }
        Ok(sandbox)
    }

    /// For an agent CLI, whose home the factory writes for it.
    pub fn with_home(&self, home: PathBuf) -> Sandbox {
        let mut s = self.base.clone();
        s.policy.home = Some(home);
        s
    }

    /// What was refused since the last call.
    pub fn take_evidence(&self) -> Vec<Seen> {
        self.base.evidence.take()
    }

    pub fn evidence(&self) -> &Evidence {
        &self.base.evidence
    }
}

/// The store's database file, from `sqlite://PATH[?…]` (none in memory).
fn store_file(config: &Config) -> Option<PathBuf> {
    let rest = config.store.url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

fn policy(place: &Place<'_>, host: &Host, network: Network, spec: &SandboxSpec) -> Policy {
    let mut hidden: Vec<PathBuf> = SYSTEM_HIDDEN.iter().map(PathBuf::from).collect();
    hidden.push(place.layout_root.to_path_buf());
    let user_home = std::env::var_os("HOME").map(PathBuf::from);
    hidden.extend(user_home.clone());
    hidden.extend(
        host.files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf)),
    );
    hidden.retain(|d| d != Path::new("/"));
    let mut env = vec![("PYTHONNOUSERSITE".into(), "1".into())];
    // The tools find their homes by `HOME`, which is private inside: name them.
    if let Some(home) = &user_home {
        for (var, dir) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
            if std::env::var_os(var).is_none() && home.join(dir).is_dir() {
                env.push((var.into(), home.join(dir).into_os_string()));
            }
        }
    }
    let mut read_only = vec![place.worktree.join(".git"), place.mirror.to_path_buf()];
    read_only.push(host.init.clone());
    read_only.extend(place.tools.iter().cloned());
    read_only.extend(toolchains(user_home.as_deref()));
    let mut hidden_files: Vec<PathBuf> = user_home
        .iter()
        .flat_map(|h| CREDENTIAL_FILES.iter().map(move |f| h.join(f)))
        .collect();
    hidden_files.extend(host.files.iter().cloned());
    hidden_files.extend(SYSTEM_FILES.iter().map(PathBuf::from));
    Policy {
        writable: vec![place.worktree.to_path_buf()],
        read_only,
        hidden,
        hidden_files,
        home: None,
        env,
        network,
        limits: Limits {
            processes: Some(spec.processes),
            memory_bytes: Some(spec.memory_mb * MIB),
            file_bytes: Some(spec.file_mb * MIB),
            tmp_bytes: Some(spec.tmp_mb * MIB),
        },
    }
}

/// The build tools' homes, bound back read-only where a hidden folder holds them.
fn toolchains(user_home: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = [
        "CARGO_HOME",
        "RUSTUP_HOME",
        "VIRTUAL_ENV",
        "GOPATH",
        "JAVA_HOME",
    ]
    .iter()
    .filter_map(std::env::var_os)
    .map(PathBuf::from)
    .collect();
    if let Some(home) = user_home {
        for d in [".cargo", ".rustup", ".local/bin", ".local/lib"] {
            out.push(home.join(d));
        }
    }
    out
}

/// The gateway's socket address and the path after it, from `http://HOST:PORT/PATH`.
async fn gateway_addr(v1: &str) -> Result<(SocketAddr, String), FactoryError> {
    let bad = || {
        FactoryError::Invalid(format!(
            "the gateway `{v1}` is not http://HOST:PORT/…: the sandbox relays plain HTTP to one address (give --gateway an http:// URL)"
        ))
    };
    let rest = v1.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, String::new()), |(a, p)| (a, format!("/{p}")));
    let addr = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| FactoryError::Gateway(format!("cannot resolve the gateway {authority}: {e}")))?
        .next()
        .ok_or_else(bad)?;
    Ok((addr, path))
}
