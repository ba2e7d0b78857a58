//! The `local` provider: a model in this process, called as if it were an OpenAI Chat
//! server. Its answer is made into an HTTP response (a JSON body or an SSE byte stream)
//! so that the relay, the caps, the settlement and the ledger treat it like any upstream's.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use nightshift_local::{LocalModel, Reply, SseStream};
use nightshift_spec::GatewaySettings;

use crate::client::UpstreamResponse;
use crate::upstream::Attempt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn response(content_type: &'static str, body: reqwest::Body) -> Attempt {
    let mut resp = http::Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    Attempt::Ok(UpstreamResponse::new(resp))
}

fn sse_body(stream: SseStream) -> reqwest::Body {
    let events = futures_util::stream::unfold(stream, |mut s| async move {
        s.next().await.map(|b| (Ok::<_, BoxError>(b), s))
    });
    reqwest::Body::wrap_stream(events)
}

/// Ask the local model. A request it refuses (a prompt longer than its context, a
/// malformed body) is a final 400, like an upstream's; it is never retried.
pub async fn send(
    model: &LocalModel,
    provider: &str,
    body: Bytes,
    settings: &GatewaySettings,
    attempts: &mut u32,
) -> Attempt {
    *attempts += 1;
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Attempt::Config(format!("the gateway built a request that is not JSON: {e}"));
        }
    };
    let timeout = Duration::from_millis(settings.request_timeout_ms);
    match tokio::time::timeout(timeout, model.answer(&request)).await {
        Err(_) => Attempt::Failed {
            status: None,
            message: format!(
                "the local model `{provider}` did not answer within {} ms",
                settings.request_timeout_ms
            ),
            timed_out: true,
        },
        Ok(Err(e)) if e.status() < 500 => {
            Attempt::Status(e.status(), Bytes::from(e.openai_body().to_string()))
        }
        Ok(Err(e)) => Attempt::Failed {
            status: Some(e.status()),
            message: format!("local provider `{provider}`: {e}"),
            timed_out: false,
        },
        Ok(Ok(Reply::Whole(v))) => response("application/json", reqwest::Body::from(v.to_string())),
        Ok(Ok(Reply::Stream(s))) => response("text/event-stream", sse_body(s)),
    }
}
