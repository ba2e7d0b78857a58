//! Relaying an upstream's successful response to the client, whole or streamed, and
//! settling it.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use nightshift_wire::sse::{SseDecoder, SseEvent};
use nightshift_wire::translate::{FinishReason, StreamTranslator};
use nightshift_wire::{StreamTracker, Usage, WireFormat, cut_events, stream_error_event};

use crate::client::UpstreamResponse;
use crate::error::ApiError;
use crate::settle::{Ending, Pending};
use crate::translate;
use crate::upstream::passthrough_headers;
use nightshift_store::CallOutcome;

fn with_headers(
    mut resp: Response,
    content_type: &'static str,
    upstream: &http::HeaderMap,
) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (k, v) in passthrough_headers(upstream) {
        h.insert(k, v);
    }
    resp
}

/// A non-streamed response: read it, meter it, translate it if needed, settle, answer.
pub async fn whole(p: Pending, resp: UpstreamResponse, original: &Value) -> Response {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let timeout = Duration::from_millis(p.state.settings.request_timeout_ms);
    let client = p.client_format;
    let up = p.upstream_format;
    let body = match tokio::time::timeout(timeout, resp.bytes()).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return fail_billed(
                p,
                status,
                format!("lost the upstream's response body: {e}"),
                client,
            )
            .await;
        }
        Err(_) => {
            return fail_billed(
                p,
                status,
                "timed out reading the upstream's response body".into(),
                client,
            )
            .await;
        }
    };
    // Pass-through needs only the usage: read the body for that alone (the rest is checked
    // as JSON and skipped, not built into a tree). Translation needs the whole of it.
    let (usage, out) = if client == up {
        #[derive(serde::Deserialize)]
        struct UsageOnly {
            usage: Option<Value>,
        }
        match serde_json::from_slice::<UsageOnly>(&body) {
            Ok(u) => (u.usage.and_then(|u| Usage::from_usage(up, &u)), body),
            Err(e) => {
                let what =
                    format!("the upstream answered {status} with a body that is not JSON ({e})");
                return fail_billed(p, status, what, client).await;
            }
        }
    } else {
        let parsed: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let what =
                    format!("the upstream answered {status} with a body that is not JSON ({e})");
                return fail_billed(p, status, what, client).await;
            }
        };
        match translate::response(client, up, &parsed, original) {
            Ok(v) => (Usage::from_body(up, &parsed), Bytes::from(v.to_string())),
            Err(e) => {
                return fail_billed(
                    p,
                    status,
                    format!("cannot translate the upstream's response: {e}"),
                    client,
                )
                .await;
            }
        }
    };
    let detail = usage
        .is_none()
        .then(|| "the upstream reported no usage: billed at the reservation".to_string());
    let mut end = Ending::ok(usage, status);
    end.detail = detail;
    if let Err(e) = p.settle(end).await {
        return ApiError::Internal(format!("ledger write failed: {e}")).into_format(client);
    }
    with_headers(Response::new(Body::from(out)), "application/json", &headers)
}

/// The upstream produced something we could not use after it may have billed us: bill
/// the reservation, tell the client 502.
async fn fail_billed(p: Pending, status: u16, what: String, client: WireFormat) -> Response {
    let end = Ending {
        outcome: CallOutcome::UpstreamError,
        usage: None,
        billable: true,
        upstream_status: Some(status),
        detail: Some(what.clone()),
    };
    let _ = p.settle(end).await;
    ApiError::BadGateway(what).into_format(client)
}

/// A streamed response: answer 200 at once and relay events from a task that keeps
/// running (and settles) even if the client goes away.
pub fn stream(
    p: Pending,
    resp: UpstreamResponse,
    original: &Value,
    client_include_usage: bool,
) -> Response {
    let headers = resp.headers().clone();
    let translator = translate::stream(
        p.client_format,
        p.upstream_format,
        &p.model,
        client_include_usage,
        original,
    );
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    #[expect(
        clippy::disallowed_methods,
        reason = "the relay must outlive a client that disconnects, to settle the call"
    )]
    tokio::spawn(run_stream(p, resp, translator, client_include_usage, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = with_headers(
        Response::new(Body::from_stream(body)),
        "text/event-stream",
        &headers,
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    *r.status_mut() = StatusCode::OK;
    r
}

struct Sink {
    tx: mpsc::Sender<Bytes>,
    gone: bool,
}

impl Sink {
    async fn send(&mut self, events: &[SseEvent]) {
        for ev in events {
            if self.gone {
                return;
            }
            if self.tx.send(ev.raw.clone()).await.is_err() {
                self.gone = true;
            }
        }
    }
}

/// `true` for the usage-only chunk we asked a Chat upstream for and the client did not.
fn is_unasked_usage_chunk(v: &Value) -> bool {
    v.get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && v.get("usage").is_some_and(|u| !u.is_null())
}

async fn run_stream(
    p: Pending,
    mut resp: UpstreamResponse,
    mut translator: Option<Box<dyn StreamTranslator>>,
    client_include_usage: bool,
    tx: mpsc::Sender<Bytes>,
) {
    let status = resp.status().as_u16();
    let client = p.client_format;
    let up = p.upstream_format;
    let idle = Duration::from_millis(p.state.settings.stream_idle_timeout_ms);
    let cap = p.reservation.output_cap;
    let mut sink = Sink { tx, gone: false };
    let mut tracker = StreamTracker::new(up);
    // The client-side view, for terminal events of a passthrough stream.
    let mut client_view = StreamTracker::new(client);
    let mut decoder = SseDecoder::new();
    let mut held: Vec<SseEvent> = Vec::new();
    let mut cut = false;
    let mut broken: Option<String> = None;

    'read: loop {
        let chunk = match tokio::time::timeout(idle, resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                broken = Some(format!("the upstream stream broke: {e}"));
                break;
            }
            Err(_) => {
                broken = Some(format!(
                    "the upstream stream was silent for {} ms",
                    idle.as_millis()
                ));
                break;
            }
        };
        for ev in decoder.push(&chunk) {
            let parsed = tracker.observe(&ev);
            if sink.gone {
                continue; // keep reading: the upstream's usage is still to come
            }
            if tracker.content_events > cap {
                cut = true;
                break 'read;
            }
            let out: Vec<SseEvent> = match &mut translator {
                Some(t) => t.push(&ev),
                None => {
                    let strip = up == WireFormat::Chat
                        && !client_include_usage
                        && parsed.as_ref().is_some_and(is_unasked_usage_chunk);
                    if strip { Vec::new() } else { vec![ev] }
                }
            };
            for o in &out {
                client_view.observe(o);
            }
            if tracker.finished || client_view.finished {
                held.extend(out);
            } else {
                sink.send(&out).await;
            }
        }
    }
    if let Some(ev) = decoder.finish() {
        tracker.observe(&ev);
    }
    drop(resp); // a cut stream stops the upstream here

    let usage = tracker.usage().filter(|_| tracker.finished);
    let (outcome, detail) = if cut {
        (
            CallOutcome::Cut,
            Some(format!(
                "cut after {cap} output events: the upstream did not honour the output cap"
            )),
        )
    } else if let Some(b) = &broken {
        (CallOutcome::UpstreamError, Some(b.clone()))
    } else if !tracker.finished {
        (
            CallOutcome::UpstreamError,
            Some("the upstream stream ended without its terminal event".to_string()),
        )
    } else if sink.gone {
        (
            CallOutcome::ClientAbort,
            Some("the client disconnected; settled for what the upstream produced".to_string()),
        )
    } else if tracker.errored {
        (
            CallOutcome::UpstreamError,
            Some("the upstream reported an error inside the stream".to_string()),
        )
    } else {
        (
            CallOutcome::Ok,
            usage
                .is_none()
                .then(|| "the upstream reported no usage: billed at the reservation".to_string()),
        )
    };
    let ending = match outcome {
        // A cut stream is billed at its reservation: the upstream ignored the cap, so we
        // cannot trust it to report what it generated after we stopped reading.
        CallOutcome::Cut => Ending {
            outcome,
            usage: None,
            billable: true,
            upstream_status: Some(status),
            detail,
        },
        _ => Ending {
            outcome,
            usage,
            billable: true,
            upstream_status: Some(status),
            detail,
        },
    };

    // Terminal events for the client, if the upstream did not give them.
    if !sink.gone {
        if cut {
            held = match &mut translator {
                Some(t) => t.finish(Some(FinishReason::Length)),
                None => cut_events(client, &client_view, &p.model),
            };
        } else if !tracker.finished {
            let msg = broken
                .clone()
                .unwrap_or_else(|| "the upstream stream ended early".into());
            held.push(stream_error_event(client, &client_view, &msg));
            if client == WireFormat::Chat {
                held.push(SseEvent::new(None, "[DONE]"));
            }
        } else if let Some(t) = &mut translator {
            held.extend(t.finish(None));
        }
    }
    match p.settle(ending).await {
        Ok(_) => sink.send(&held).await,
        Err(e) => {
            tracing::error!(error = %e, "Ledger write failed for a streamed call.");
            let ev = stream_error_event(
                client,
                &client_view,
                "the gateway could not record this call",
            );
            sink.send(&[ev]).await;
        }
    }
}
