//! `nightshift serve` (the floor), and the supervisor's actions from the command line:
//! `pause`, `resume`, `kill`, `steer`, `requeue`. Each action is appended to the event log
//! (the running shift obeys it within a poll), as the floor's buttons are.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;

use nightshift_factory::Layout;
use nightshift_floor::{Access, ActError, Floor};
use nightshift_spec::Config;
use nightshift_store::{Backend, Control};

use crate::BadInput;
use crate::cli::{ControlArgs, KillArgs, RequeueArgs, ServeArgs, SteerArgs};

/// Diffs from the factory's mirrors.
struct Mirrors {
    store: Arc<dyn Backend>,
    layout: Layout,
}

impl nightshift_floor::Diffs for Mirrors {
    fn diff<'a>(
        &'a self,
        shift: &'a str,
        job: &'a str,
        n: i64,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            nightshift_factory::iteration_diff(self.store.as_ref(), &self.layout, shift, job, n)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The floor over `store`, asking for tokens when `listen` or `[floor]` says so.
pub fn floor(
    config: &Config,
    store: Arc<dyn Backend>,
    layout: Layout,
    listen: SocketAddr,
) -> Floor {
    Floor {
        diffs: Some(Arc::new(Mirrors {
            store: store.clone(),
            layout,
        })),
        store,
        access: if config.floor.needs_token(listen) {
            Access::Tokens
        } else {
            Access::Open
        },
    }
}

pub fn listen_address(config: &Config, flag: Option<&str>) -> anyhow::Result<SocketAddr> {
    match flag {
        None => Ok(config.floor.listen),
        Some(text) => text.parse().map_err(|_| {
            BadInput(format!(
                "--listen `{text}` is not an address to listen on: write IP:PORT, such as 127.0.0.1:8788"
            ))
            .into()
        }),
    }
}

/// Bind the floor's address (a clear error when it is taken) and serve it in the
/// background; returns the bound address.
pub async fn spawn(
    floor: Floor,
    listen: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("the floor cannot listen on {listen} (is another `nightshift serve` there? pass --listen)"))?;
    let addr = listener.local_addr()?;
    #[expect(
        clippy::disallowed_methods,
        reason = "the floor serves until the command ends; its handle is awaited or dropped with it"
    )]
    let task = tokio::spawn(nightshift_floor::serve(
        Arc::new(floor),
        listener,
        super::shutdown_signal(),
    ));
    Ok((addr, task))
}

pub async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.work.config.config)?;
    let store: Arc<dyn Backend> = super::open_store(&config).await?;
    let listen = listen_address(&config, a.listen.as_deref())?;
    let layout = super::run::layout(&config, &a.work);
    let floor = floor(&config, store, layout, listen);
    let tokens = floor.access == Access::Tokens;
    let (addr, task) = spawn(floor, listen).await?;
    // The address goes to stdout (scripts and tests read it); the rest to stderr.
    println!("http://{addr}/");
    eprintln!(
        "the floor is at http://{addr}/ ({}); Ctrl-C stops it",
        if tokens {
            "every request needs a floor token: `nightshift token create --floor viewer|operator`"
        } else {
            "loopback, no token needed"
        }
    );
    task.await
        .context("the floor's task failed")?
        .context("the floor stopped with an error")
}

/// Who the command line acts as, in the event log.
fn by() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli ({user})")
}

async fn act(
    config: &crate::cli::ConfigArg,
    json: bool,
    shift: &str,
    job: Option<&str>,
    action: Control,
) -> anyhow::Result<()> {
    let config = super::load_config(&config.config)?;
    let store = super::open_store(&config).await?;
    let acted = nightshift_floor::act(store.as_ref(), shift, job, action, &by())
        .await
        .map_err(|e| match e {
            ActError::Store(s) => anyhow::Error::new(s),
            other => BadInput(other.to_string()).into(),
        })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&acted)?);
    } else {
        let target = match job {
            Some(j) => format!("job `{j}` of shift `{shift}`"),
            None => format!("shift `{shift}`"),
        };
        println!(
            "{} {target}: recorded as event {}; a running shift obeys it within a second",
            acted.action.as_str(),
            acted.seq
        );
    }
    Ok(())
}

pub async fn pause(a: ControlArgs) -> anyhow::Result<()> {
    act(
        &a.config,
        a.json,
        &a.shift,
        a.job.as_deref(),
        Control::Pause,
    )
    .await
}

pub async fn resume(a: ControlArgs) -> anyhow::Result<()> {
    act(
        &a.config,
        a.json,
        &a.shift,
        a.job.as_deref(),
        Control::Resume,
    )
    .await
}

pub async fn kill(a: KillArgs) -> anyhow::Result<()> {
    act(&a.config, a.json, &a.shift, Some(&a.job), Control::Kill).await
}

pub async fn steer(a: SteerArgs) -> anyhow::Result<()> {
    let note = a.note.clone();
    act(
        &a.config,
        a.json,
        &a.shift,
        Some(&a.job),
        Control::Steer { note },
    )
    .await
}

pub async fn requeue(a: RequeueArgs) -> anyhow::Result<()> {
    let usd_nanos = match &a.usd {
        Some(text) => {
            nightshift_meter::parse_usd(text).map_err(|e| BadInput(format!("--usd: {e}")))?
        }
        None => 0,
    };
    let action = Control::Requeue {
        iterations: a.iterations.unwrap_or(0),
        usd_nanos,
    };
    act(&a.config, a.json, &a.shift, Some(&a.job), action).await
}

/// Starts a shift for an MCP client: `nightshift run SPEC` in the background, its output
/// in a log beside the factory's working folder.
struct Runner {
    config: std::path::PathBuf,
    logs: std::path::PathBuf,
}

impl nightshift_floor::Launch for Runner {
    fn start<'a>(
        &'a self,
        spec: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            let path = std::path::Path::new(spec);
            nightshift_spec::ShiftSpec::load(path).map_err(|e| e.to_string())?;
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            std::fs::create_dir_all(&self.logs).map_err(|e| e.to_string())?;
            let log_path = self
                .logs
                .join(format!("run-{}.log", nightshift_clock::now_ms()));
            let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
            let err = log.try_clone().map_err(|e| e.to_string())?;
            let child = std::process::Command::new(exe)
                .arg("run")
                .arg(path)
                .arg("--config")
                .arg(&self.config)
                .stdin(std::process::Stdio::null())
                .stdout(log)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot start `nightshift run {spec}`: {e}"))?;
            Ok(format!(
                "`nightshift run {spec}` started (pid {}); its output goes to {}",
                child.id(),
                log_path.display()
            ))
        })
    }
}

pub async fn mcp(a: crate::cli::McpArgs) -> anyhow::Result<()> {
    let config = super::load_config(&a.work.config.config)?;
    let store: Arc<dyn Backend> = super::open_store(&config).await?;
    let layout = super::run::layout(&config, &a.work);
    let logs = layout.root().join("runs");
    let mcp = nightshift_floor::Mcp {
        diffs: Some(Arc::new(Mirrors {
            store: store.clone(),
            layout,
        })),
        store,
        launch: Some(Arc::new(Runner {
            config: std::path::absolute(&a.work.config.config)?,
            logs,
        })),
    };
    nightshift_floor::serve_mcp(mcp)
        .await
        .context("the MCP server stopped with an error")
}
