//! `nightshift gateway`: serve the metering gateway until interrupted.

use anyhow::Context;

use crate::cli::GatewayArgs;

pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(&args.config.config)?;
    if let Some(l) = args.listen {
        config.gateway.listen = l;
    }
    let store = super::open_store(&config).await?;
    let state = nightshift_gateway::build(&config, store)
        .await
        .context("starting the gateway")?;
    let listener = tokio::net::TcpListener::bind(&config.gateway.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (gateway.listen in {}, or --listen)",
                config.gateway.listen,
                config.file.display()
            )
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "Gateway listening.");
    // Scripts wait for this line to know the port (useful with `--listen 127.0.0.1:0`).
    println!("nightshift gateway listening on http://{addr}");
    nightshift_gateway::serve(state, listener, super::shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}
