//! The host's end of the sandbox's one way out: a Unix socket whose every connection is
//! relayed to one TCP address (the gateway). The sandbox's init relays the gateway's
//! loopback port inside to this socket, so a program inside reaches that address and
//! nothing else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::net::{TcpStream, UnixListener};
use tokio::task::JoinHandle;

/// A running bridge; dropping it stops it and removes its socket.
#[derive(Debug)]
pub struct Bridge {
    socket: PathBuf,
    task: JoinHandle<()>,
}

impl Bridge {
    /// Listen on `socket` (replacing a stale one) and relay each connection to `target`.
    pub fn start(socket: &Path, target: SocketAddr) -> std::io::Result<Self> {
        match std::fs::remove_file(socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(socket)?;
        #[expect(
            clippy::disallowed_methods,
            reason = "owned by the Bridge, aborted when it is dropped; its connections live in its JoinSet and go with it"
        )]
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inside, _)) = listener.accept().await else {
                    continue;
                };
                while conns.try_join_next().is_some() {}
                conns.spawn(async move {
                    match TcpStream::connect(target).await {
                        Ok(mut out) => {
                            let _ = out.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut inside, &mut out).await;
                        }
                        Err(e) => {
                            tracing::warn!(%target, error = %e, "The sandbox bridge cannot reach the gateway.");
                        }
                    }
                });
            }
        });
        Ok(Self {
            socket: socket.to_path_buf(),
            task,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}
