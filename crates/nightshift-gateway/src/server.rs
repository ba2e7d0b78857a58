//! Serving the routes: HTTP/1.1 connections on hyper's own connection builder.
//!
//! `axum::serve` has no header read timeout, so a client trickling its headers held a
//! connection (and its task) for as long as it liked. Here each connection gets
//! `header_read_timeout_ms` to send a request's headers; hyper starts that clock whenever
//! it waits for a request, so a kept-alive connection idle for as long is closed too, and
//! clients reconnect. The body's own deadline is the handler's (`read_body`).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Serve `router` on `listener` until `shutdown` resolves, then wait for the connections
/// open then to finish what they are doing.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY, small SSE writes wait on the peer's delayed ACK (~40 ms each).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "Could not set TCP_NODELAY on an accepted connection.");
        }
        let conn =
            builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(router.clone()));
        let conn = graceful.watch(conn);
        #[expect(
            clippy::disallowed_methods,
            reason = "one task per connection; the graceful shutdown below waits for them all"
        )]
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "A client connection ended with an error.");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A failed accept: a connection that went away before it was accepted is nothing; any
/// other error (out of file descriptors) is logged and waited out, as `axum::serve` does.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "Could not accept a connection; trying again in 1 s.");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
