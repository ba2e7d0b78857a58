//! The gateway's HTTP client for upstream providers.
//!
//! Calls go out on hyper's pooled client directly (HTTP/1.1, or HTTP/2 where TLS
//! negotiates it). reqwest, which wraps the same client, cost about a tenth of the
//! gateway's CPU per call on top of it (it re-parses the URL twice per call for its
//! redirect handling, copies the headers twice, and wraps every future). Where the
//! environment names an outbound proxy (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, in
//! either case) the calls go through reqwest instead, which honours those variables and
//! `NO_PROXY`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: the upstream's bytes as they arrive.
pub type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

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
pub struct UpstreamResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: UpstreamBody,
}

impl UpstreamResponse {
    pub fn new(status: StatusCode, headers: HeaderMap, body: UpstreamBody) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, BoxError> {
        Ok(self.body.collect().await?.to_bytes())
    }

    /// The next piece of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BoxError> {
        while let Some(frame) = self.body.frame().await {
            if let Ok(data) = frame?.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
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
#[expect(
    clippy::large_enum_variant,
    reason = "one per gateway, never moved after start"
)]
pub enum UpstreamClient {
    Direct(Client<ConnectWithin<HttpsConnector<HttpConnector>>, Full<Bytes>>),
    Proxied(reqwest::Client),
}

impl UpstreamClient {
    /// A pooled client; through reqwest only if the environment names a proxy.
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let proxied = PROXY_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        if proxied {
            tracing::info!(
                "An outbound proxy is set in the environment; upstream calls go through it."
            );
            return Ok(Self::Proxied(
                reqwest::Client::builder()
                    .connect_timeout(connect_timeout)
                    .pool_idle_timeout(Duration::from_secs(90))
                    .pool_max_idle_per_host(256)
                    .tcp_nodelay(true)
                    .redirect(reqwest::redirect::Policy::none())
                    // The gateway retries failed sends itself.
                    .retry(reqwest::retry::never().max_retries_per_request(0))
                    .build()?,
            ));
        }
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(ConnectWithin {
                inner: https,
                limit: connect_timeout,
            });
        Ok(Self::Direct(client))
    }

    /// `POST` `body` to `uri` with `headers`.
    pub async fn post(
        &self,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, SendError> {
        match self {
            Self::Direct(client) => {
                let mut req = Request::new(Full::new(body));
                *req.method_mut() = Method::POST;
                *req.uri_mut() = uri.clone();
                *req.headers_mut() = headers;
                let resp = client.request(req).await.map_err(|e| SendError {
                    connect: e.is_connect(),
                    timed_out: timed_out(&e),
                    message: chain(&e),
                })?;
                let (parts, body) = resp.into_parts();
                Ok(UpstreamResponse::new(
                    parts.status,
                    parts.headers,
                    body.map_err(BoxError::from).boxed_unsync(),
                ))
            }
            Self::Proxied(client) => {
                let resp = client
                    .post(uri.to_string())
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| SendError {
                        connect: e.is_connect(),
                        timed_out: e.is_timeout(),
                        message: chain(&e.without_url()),
                    })?;
                let (parts, body) = http::Response::<reqwest::Body>::from(resp).into_parts();
                Ok(UpstreamResponse::new(
                    parts.status,
                    parts.headers,
                    body.map_err(BoxError::from).boxed_unsync(),
                ))
            }
        }
    }
}

/// A connector whose whole connection — name lookup, TCP and TLS handshake — must be
/// made within `limit` (hyper's own connect timeout covers the TCP connect alone).
#[derive(Clone)]
pub struct ConnectWithin<C> {
    inner: C,
    limit: Duration,
}

impl<C> tower::Service<Uri> for ConnectWithin<C>
where
    C: tower::Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(made) => made.map_err(Into::into),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {} ms", limit.as_millis()),
                )
                .into()),
            }
        })
    }
}

/// Whether an I/O timeout is among an error's sources.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src = Some(e);
    while let Some(inner) = src {
        if inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        src = inner.source();
    }
    false
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
        let uri = format!("https://{addr}/v1/chat/completions")
            .parse()
            .expect("uri");
        let started = Instant::now();
        let sent = tokio::time::timeout(
            Duration::from_secs(5),
            client.post(&uri, HeaderMap::new(), Bytes::from_static(b"{}")),
        )
        .await
        .expect("gave up within the connect timeout, not after 5 s");
        let Err(e) = sent else {
            panic!("a silent TLS endpoint answered");
        };
        assert!(e.connect && e.timed_out, "{e:?}");
        assert!(e.message.contains("no connection within 200 ms"), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
