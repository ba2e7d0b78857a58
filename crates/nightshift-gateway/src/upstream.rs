//! Calling a provider: its headers, its key, and retries before the first byte.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use reqwest::Url;

#[cfg(feature = "local")]
use nightshift_local::LocalModel;
use nightshift_spec::{GatewaySettings, ProviderConfig, ProviderKind};
use nightshift_wire::WireFormat;

use crate::client::{UpstreamClient, UpstreamResponse};

/// A provider ready to call: its config and its key (read once, at start, from the
/// environment variable the config names; never logged), or for kind `local` its model,
/// loaded once.
pub struct Provider {
    pub config: ProviderConfig,
    key: Option<String>,
    #[cfg(feature = "local")]
    local: Option<LocalModel>,
    /// The upstream's endpoint for each wire format (chat, responses, messages), parsed
    /// once: parsing a URL for every call was about 1 % of the gateway's CPU.
    endpoints: [Result<Url, String>; 3],
}

/// `base_url` + each format's path, parsed, or why it is not an `http(s)://` URL.
fn endpoints(base_url: &str) -> [Result<Url, String>; 3] {
    [
        WireFormat::Chat,
        WireFormat::Responses,
        WireFormat::Messages,
    ]
    .map(|f| endpoint(&format!("{base_url}{}", f.path())))
}

fn endpoint(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    match (parsed.scheme(), parsed.host_str()) {
        ("http" | "https", Some(_)) => Ok(parsed),
        _ => Err(format!(
            "`{url}` is not an http:// or https:// URL with a host"
        )),
    }
}

fn slot(format: WireFormat) -> usize {
    match format {
        WireFormat::Chat => 0,
        WireFormat::Responses => 1,
        WireFormat::Messages => 2,
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.config.name)
            .field("has_key", &self.key.is_some())
            .finish()
    }
}

impl Provider {
    pub fn from_env(config: ProviderConfig) -> Self {
        let key = config
            .api_key_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|k| !k.is_empty());
        if let (Some(var), None) = (&config.api_key_env, &key) {
            tracing::warn!(provider = %config.name, variable = %var, "Provider key variable is not set; calls to this provider will fail.");
        }
        Self {
            endpoints: endpoints(&config.base_url),
            config,
            key,
            #[cfg(feature = "local")]
            local: None,
        }
    }

    /// A provider of kind `local`, with its loaded model.
    #[cfg(feature = "local")]
    pub fn local(config: ProviderConfig, model: LocalModel) -> Self {
        Self {
            // Never called at a URL; `send` answers from the model before looking.
            endpoints: endpoints(&config.base_url),
            config,
            key: None,
            local: Some(model),
        }
    }

    /// The most tokens this provider generates in one answer, when it sets a limit itself.
    pub fn output_limit(&self) -> Option<u64> {
        self.config
            .local
            .as_ref()
            .map(|l| u64::from(l.max_output_tokens))
    }

    /// Remove this provider's key from text that came back from it (an upstream error may
    /// echo the key it was sent), before the text reaches a client, a log or the ledger.
    pub fn redact(&self, body: &[u8]) -> Bytes {
        match &self.key {
            Some(k) if k.len() >= 4 => {
                let text = String::from_utf8_lossy(body);
                if text.contains(k.as_str()) {
                    return Bytes::from(text.replace(k.as_str(), "[redacted]"));
                }
                Bytes::copy_from_slice(body)
            }
            _ => Bytes::copy_from_slice(body),
        }
    }

    /// The format this provider is called in for a client speaking `client`.
    pub fn upstream_format(&self, client: WireFormat) -> Option<WireFormat> {
        use WireFormat::*;
        match (self.config.kind, client) {
            (ProviderKind::Scripted, f) => Some(f),
            (ProviderKind::Openai, Chat | Responses) => Some(client),
            (ProviderKind::Openai, Messages) => Some(Chat),
            (ProviderKind::Anthropic, Messages | Chat) => Some(Messages),
            (ProviderKind::Anthropic, Responses) => None,
            (ProviderKind::OpenaiCompatible | ProviderKind::Local, _) => Some(Chat),
        }
    }

    /// Chat servers other than OpenAI's read `max_tokens`, not `max_completion_tokens`.
    pub fn legacy_max_tokens(&self) -> bool {
        !matches!(self.config.kind, ProviderKind::Openai)
    }

    fn headers(&self, format: WireFormat, client_headers: &HeaderMap) -> Result<HeaderMap, String> {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let key = match (&self.key, &self.config.api_key_env) {
            (Some(k), _) => Some(k.as_str()),
            (None, Some(var)) => {
                return Err(format!(
                    "provider `{}` has no key: set the environment variable {var} where the gateway runs",
                    self.config.name
                ));
            }
            (None, None) => None,
        };
        if format == WireFormat::Messages {
            if let Some(k) = key {
                h.insert(
                    "x-api-key",
                    HeaderValue::from_str(k)
                        .map_err(|_| "provider key is not a valid header value")?,
                );
            }
            let version = client_headers
                .get("anthropic-version")
                .cloned()
                .unwrap_or(HeaderValue::from_static("2023-06-01"));
            h.insert("anthropic-version", version);
            if let Some(beta) = client_headers.get("anthropic-beta") {
                h.insert("anthropic-beta", beta.clone());
            }
        } else if let Some(k) = key {
            let v = HeaderValue::from_str(&format!("Bearer {k}"))
                .map_err(|_| "provider key is not a valid header value")?;
            h.insert(http::header::AUTHORIZATION, v);
        }
        Ok(h)
    }
}

/// How one upstream call ended before any byte reached the client.
pub enum Attempt {
    /// A response with a success status: headers received, body not yet read.
    Ok(UpstreamResponse),
    /// A final error status from the upstream (not worth retrying), with its body.
    Status(u16, Bytes),
    /// Retries exhausted on a retryable failure; the message says what happened last.
    Failed {
        status: Option<u16>,
        message: String,
        timed_out: bool,
    },
    /// The gateway could not build the call (missing key).
    Config(String),
}

fn retryable(status: u16) -> bool {
    status == 408 || status == 409 || status == 429 || status >= 500
}

/// `Retry-After` as seconds or an HTTP date; only the seconds form is honoured exactly,
/// a date is treated as one second.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = v.trim().parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_millis((secs * 1000.0) as u64));
    }
    Some(Duration::from_secs(1))
}

/// Send `body` to the provider, retrying 408/409/429/5xx and connection errors with
/// exponential backoff (or `Retry-After`), up to `settings.max_retries` more times.
pub async fn send(
    client: &UpstreamClient,
    provider: &Provider,
    format: WireFormat,
    body: Bytes,
    client_headers: &HeaderMap,
    settings: &GatewaySettings,
    attempts: &mut u32,
) -> Attempt {
    #[cfg(feature = "local")]
    if let Some(model) = &provider.local {
        return crate::local::send(model, &provider.config.name, body, settings, attempts).await;
    }
    let headers = match provider.headers(format, client_headers) {
        Ok(h) => h,
        Err(e) => return Attempt::Config(e),
    };
    let url = match &provider.endpoints[slot(format)] {
        Ok(u) => u,
        Err(e) => {
            return Attempt::Config(format!(
                "provider `{}` cannot be called: its base_url {e}",
                provider.config.name
            ));
        }
    };
    let mut backoff = Duration::from_millis(settings.retry_base_ms);
    let mut last: Option<(Option<u16>, String, bool)> = None;
    for attempt in 0..=settings.max_retries {
        *attempts += 1;
        let wait = match tokio::time::timeout(
            Duration::from_millis(settings.request_timeout_ms),
            client.post(url, headers.clone(), body.clone()),
        )
        .await
        {
            Err(_) => {
                last = Some((
                    None,
                    format!(
                        "no response from `{}` within {} ms",
                        provider.config.name, settings.request_timeout_ms
                    ),
                    true,
                ));
                backoff
            }
            Ok(Err(e)) => {
                let what = if e.connect {
                    "cannot connect to"
                } else {
                    "request failed to"
                };
                last = Some((
                    None,
                    format!("{what} `{}`: {}", provider.config.name, e.message),
                    e.timed_out,
                ));
                backoff
            }
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                if resp.status().is_success() {
                    return Attempt::Ok(resp);
                }
                let after = retry_after(resp.headers());
                let body = provider.redact(&resp.bytes().await.unwrap_or_default());
                if !retryable(status) {
                    return Attempt::Status(status, body);
                }
                tracing::debug!(provider = %provider.config.name, status, attempt, "Upstream answered a retryable status.");
                last = Some((
                    Some(status),
                    format!(
                        "`{}` answered {status}: {}",
                        provider.config.name,
                        excerpt(&body)
                    ),
                    false,
                ));
                match after {
                    Some(a) if a.as_millis() as u64 > settings.retry_after_cap_ms => break,
                    Some(a) => a,
                    None => backoff,
                }
            }
        };
        if attempt < settings.max_retries {
            tokio::time::sleep(wait).await;
            backoff *= 2;
        }
    }
    let (status, message, timed_out) = last.unwrap_or((None, "no attempt was made".into(), false));
    Attempt::Failed {
        status,
        message,
        timed_out,
    }
}

pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t = text.trim();
    if t.len() > 300 {
        let mut end = 300;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &t[..end])
    } else {
        t.to_string()
    }
}

/// Headers from the upstream response worth passing to the client.
pub fn passthrough_headers(from: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    const KEEP: [&str; 3] = ["x-request-id", "request-id", "openai-processing-ms"];
    from.iter()
        .filter(|(k, _)| {
            KEEP.contains(&k.as_str())
                || k.as_str().starts_with("anthropic-ratelimit")
                || k.as_str().starts_with("x-ratelimit")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
