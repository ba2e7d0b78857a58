//! `nightshift run` and `nightshift resume`: run a shift with live progress, then its report.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use nightshift_factory::{Layout, Options, Phase, Progress, ShiftReport};
use nightshift_meter::format_usd;
use nightshift_spec::{Config, SandboxMode, ShiftSpec};
use nightshift_store::{FactoryStore, StopReason};

use crate::cli::{ResumeArgs, RunArgs, WorkArgs};
use crate::{BadInput, ExitStatus};

pub fn layout(config: &Config, work: &WorkArgs) -> Layout {
    let dir = work.work_dir.clone().unwrap_or_else(|| {
        config
            .file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from(".nightshift"), |p| p.join(".nightshift"))
    });
    Layout::new(dir)
}

pub async fn run(a: RunArgs) -> anyhow::Result<ExitStatus> {
    let config = super::load_config(&a.work.config.config)?;
    if !a.spec.exists() {
        return Err(BadInput(format!(
            "shift spec {} does not exist (`nightshift init` writes one)",
            a.spec.display()
        ))
        .into());
    }
    let spec = ShiftSpec::load(&a.spec)?;
    let _floor = match &a.floor {
        Some(listen) => {
            let listen = super::floor::listen_address(&config, Some(listen))?;
            let store = super::open_store(&config).await?;
            let floor = super::floor::floor(&config, store, layout(&config, &a.work), listen);
            let (addr, task) = super::floor::spawn(floor, listen).await?;
            eprintln!("the floor is at http://{addr}/");
            Some(AbortOnDrop(task))
        }
        None => None,
    };
    go(config, spec, &a.work).await
}

/// Ends the in-process floor with the run.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn resume(a: ResumeArgs) -> anyhow::Result<ExitStatus> {
    let config = super::load_config(&a.work.config.config)?;
    let store = super::open_store(&config).await?;
    let Some(row) = store.shift(&a.shift).await? else {
        return Err(BadInput(format!(
            "no shift named `{}` in this store (see `nightshift status`)",
            a.shift
        ))
        .into());
    };
    // A paused shift or job is resumed, nothing more: the run that holds it (or the next)
    // obeys.
    let controls = nightshift_store::Controls::fold(&store.events_of(&a.shift, "control").await?);
    if a.job.is_some() || controls.paused.is_some() {
        super::floor::resume(crate::cli::ControlArgs {
            shift: a.shift.clone(),
            job: a.job.clone(),
            config: crate::cli::ConfigArg {
                config: a.work.config.config.clone(),
            },
            json: a.work.json,
        })
        .await?;
        return Ok(ExitStatus::Success);
    }
    let spec = ShiftSpec::load(std::path::Path::new(&row.spec_path))
        .with_context(|| format!("reading the spec shift `{}` was started with", a.shift))?;
    go(config, spec, &a.work).await
}

async fn go(config: Config, spec: ShiftSpec, work: &WorkArgs) -> anyhow::Result<ExitStatus> {
    let store = super::open_store(&config).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let display = tokio::task::spawn_blocking({
        let jobs: Vec<(String, u32)> = spec
            .jobs
            .iter()
            .map(|j| (j.name.clone(), j.max_iterations))
            .collect();
        let unconfined = spec.sandbox.mode == SandboxMode::Off;
        move || watch(rx, jobs, unconfined)
    });
    let layout = layout(&config, work);
    let options = Options {
        layout: layout.clone(),
        progress: Some(tx),
        gateway_url: work.gateway.clone(),
        sandbox_init: std::env::current_exe()
            .context("cannot find this binary (the sandbox's init)")?,
    };
    let (name, jobs) = (
        spec.name.clone(),
        spec.jobs.iter().map(|j| j.name.clone()).collect::<Vec<_>>(),
    );
    let run = nightshift_factory::run_shift(
        &config,
        spec,
        store as Arc<dyn nightshift_store::Backend>,
        options,
    );
    let result = tokio::select! {
        r = run => r,
        () = super::shutdown_signal() => {
            // The jobs' tasks go with the run (their processes' guards kill what they can
            // at once); what is left is found by the jobs' tags. The store holds where each
            // job stood: `resume` continues it.
            let ended = nightshift_factory::end_processes(&layout, &name, &jobs).await;
            let _ = display.await;
            eprintln!(
                "interrupted: shift `{name}` stopped ({ended} process{} ended); `nightshift resume {name}` continues it",
                if ended == 1 { "" } else { "es" }
            );
            return Ok(ExitStatus::Interrupted);
        }
    };
    let _ = display.await;
    let report = result?;
    print_report(&report, work.json)?;
    let failed = report
        .jobs
        .iter()
        .filter(|j| j.stop_reason == Some(StopReason::Failed))
        .count();
    if failed > 0 && failed == report.jobs.len() {
        eprintln!(
            "error: every job of shift `{}` failed ({failed} of {}); the report above says why",
            report.shift,
            report.jobs.len()
        );
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

pub fn print_report(report: &ShiftReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// Progress bars on a terminal; one line per change of phase otherwise.
fn watch(mut rx: mpsc::UnboundedReceiver<Progress>, jobs: Vec<(String, u32)>, unconfined: bool) {
    // Every line says it when nothing is confined.
    let warn = if unconfined { "[NO SANDBOX] " } else { "" };
    let tty = std::io::stderr().is_terminal();
    let multi = MultiProgress::with_draw_target(if tty {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{prefix:<20} [{bar:20}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    for (name, max) in jobs {
        let bar = multi.add(ProgressBar::new(u64::from(max)));
        bar.set_style(style.clone());
        bar.set_prefix(format!("{warn}{name}"));
        bar.set_message("waiting");
        bars.insert(name, bar);
    }
    while let Some(p) = rx.blocking_recv() {
        let phase = match &p.phase {
            Phase::Waiting => "waiting".to_string(),
            Phase::Working => "agent working".to_string(),
            Phase::Gating => "gating".to_string(),
            Phase::Paused => "paused".to_string(),
            Phase::Accepted => "accepted".to_string(),
            Phase::Rejected => "defect".to_string(),
            Phase::Finished { reason } => format!("stopped: {reason}"),
        };
        let msg = format!(
            "{phase} · {} accepted · {} defects · {}",
            p.accepted,
            p.defects,
            format_usd(p.spent_nanos)
        );
        if let Some(bar) = bars.get(&p.job) {
            bar.set_position(u64::from(p.iteration));
            bar.set_message(msg.clone());
            if matches!(p.phase, Phase::Finished { .. }) {
                bar.finish();
            }
        }
        if !tty {
            eprintln!(
                "{warn}{} iteration {}/{}: {msg}",
                p.job, p.iteration, p.max_iterations
            );
        }
    }
}
