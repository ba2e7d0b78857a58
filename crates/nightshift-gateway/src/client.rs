//! The gateway's HTTP client for upstream providers: one pooled reqwest client.
//!
//! What it guarantees, and the tests that hold it: `connect_timeout_ms` bounds the whole
//! connection — name lookup, TCP and the TLS handshake
//! (`the_connect_timeout_covers_the_tls_handshake`); an outbound proxy named in the
//! environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, either case) is used, honouring
//! `NO_PROXY`, read once at start (the binary's proxy test); errors never carry the URL;
//! redirects are not followed; and reqwest retries nothing itself, since the gateway
//! retries a failed send only before any byte reached the client (`upstream::send`).
//! HTTP/1.1, or HTTP/2 where TLS negotiates it; the public web's root certificates are
//! built in, so no system store is read.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// The environment variables that name an outbound proxy.
pub const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// An upstream's answer: status and headers received, the body still to read.
pub struct UpstreamResponse(reqwest::Response);

impl UpstreamResponse {
    /// An answer made in this process (the local model's), read as an upstream's is.
    #[cfg(feature = "local")]
    pub fn new(response: http::Response<reqwest::Body>) -> Self {
        Self(reqwest::Response::from(response))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.0.headers()
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, String> {
        self.0.bytes().await.map_err(|e| chain(&e.without_url()))
    }

    /// The next piece of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        self.0.chunk().await.map_err(|e| chain(&e.without_url()))
    }
}

/// Why a call got no response.
#[derive(Debug)]
pub struct SendError {
    /// The connection could not be made (nothing was sent).
    pub connect: bool,
    /// It gave up waiting (for the connection).
    pub timed_out: bool,
    pub message: String,
}

/// The client all upstream calls go out on.
pub struct UpstreamClient {
    http: reqwest::Client,
    connect_timeout: Duration,
}

impl UpstreamClient {
    /// A pooled client, through the proxy the environment names if any.
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        if PROXY_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        {
            tracing::info!(
                "An outbound proxy is set in the environment; upstream calls go through it."
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            // The gateway retries failed sends itself, and only before any byte reached
            // the client, so nothing is billed twice.
            .retry(reqwest::retry::never())
            .build()?;
        Ok(Self {
            http,
            connect_timeout,
        })
    }

    /// `POST` `body` to `url` with `headers`.
    pub async fn post(
        &self,
        url: &reqwest::Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, SendError> {
        let sent = self
            .http
            .post(url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => Ok(UpstreamResponse(resp)),
            Err(e) => {
                let connect = e.is_connect();
                let timed_out = e.is_timeout();
                // reqwest says "operation timed out" deep in its chain; say what timed out.
                let message = if connect && timed_out {
                    format!(
                        "no connection within {} ms",
                        self.connect_timeout.as_millis()
                    )
                } else {
                    chain(&e.without_url())
                };
                Err(SendError {
                    connect,
                    timed_out,
                    message,
                })
            }
        }
    }
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use http::HeaderMap;

    use super::UpstreamClient;

    /// An endpoint that accepts the TCP connection but never answers the TLS handshake
    /// must fail as a connection timeout, not wait for the request timeout.
    #[tokio::test]
    async fn the_connect_timeout_covers_the_tls_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        #[expect(
            clippy::disallowed_methods,
            reason = "the silent endpoint lives for the test's runtime"
        )]
        let _silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = UpstreamClient::new(Duration::from_millis(200)).expect("client");
        let url = format!("https://{addr}/v1/chat/completions")
            .parse()
            .expect("url");
        let started = Instant::now();
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            client.post(&url, HeaderMap::new(), Bytes::from_static(b"{}")),
        )
        .await
        .expect("gave up within the connect timeout, not after 5 s");
        let Err(e) = sent else {
            panic!("a silent TLS endpoint answered");
        };
        assert!(e.connect && e.timed_out, "{e:?}");
        assert_eq!(e.message, "no connection within 200 ms");
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    /// A connection refused is a connect error whose message names no URL.
    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_without_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let client = UpstreamClient::new(Duration::from_secs(2)).expect("client");
        let url = format!("http://{addr}/v1/secret-path")
            .parse()
            .expect("url");
        let Err(e) = client
            .post(&url, HeaderMap::new(), Bytes::from_static(b"{}"))
            .await
        else {
            panic!("nobody listens there");
        };
        assert!(e.connect && !e.timed_out, "{e:?}");
        assert!(!e.message.contains("secret-path"), "{e:?}");
        assert!(!e.message.contains(&addr.port().to_string()), "{e:?}");
    }
}
