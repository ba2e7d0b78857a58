//! One module per command.

mod diff;
mod doctor;
mod floor;
mod gateway;
mod init;
mod ledger;
mod run;
mod status;
mod token;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use nightshift_spec::Config;
use nightshift_store::SqliteStore;

use crate::ExitStatus;
use crate::cli::{Cli, Command, TokenCommand};

/// Run the command; an error is reported by the caller (`crate::exit`).
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitStatus::Success);
    match cli.command {
        Command::Init(a) => done(init::run(a)),
        Command::Run(a) => run::run(a).await,
        Command::Resume(a) => run::resume(a).await,
        Command::Status(a) => done(status::run(a).await),
        Command::Diff(a) => done(diff::run(a).await),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&nightshift_spec::shift_schema())?
            );
            Ok(ExitStatus::Success)
        }
        Command::Gateway(a) => done(gateway::run(a).await),
        Command::Token(TokenCommand::Create(a)) => done(token::create(a).await),
        Command::Token(TokenCommand::List(a)) => done(token::list(a).await),
        Command::Token(TokenCommand::Revoke(a)) => done(token::revoke(a).await),
        Command::Ledger(a) => done(ledger::run(a).await),
        Command::Doctor(a) => doctor::run(a).await,
        Command::Serve(a) => done(floor::serve(a).await),
        Command::Pause(a) => done(floor::pause(a).await),
        Command::Kill(a) => done(floor::kill(a).await),
        Command::Steer(a) => done(floor::steer(a).await),
        Command::Requeue(a) => done(floor::requeue(a).await),
        Command::Mcp(a) => done(floor::mcp(a).await),
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Read and validate the configuration file (a mistake in it is bad input: exit 2).
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    if !path.exists() {
        return Err(crate::BadInput(format!(
            "configuration file {} does not exist; pass --config FILE or set NIGHTSHIFT_CONFIG (the README shows one)",
            path.display()
        ))
        .into());
    }
    Ok(Config::load(path)?)
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqliteStore>> {
    let store = SqliteStore::open(&config.store.url)
        .await
        .with_context(|| format!("opening the store named in {}", config.file.display()))?;
    Ok(Arc::new(store))
}
