//! Relaying an upstream's successful response to the client, whole or streamed, and
//! settling it.

use std::convert::Infallible;
use std::ops::ControlFlow;
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

/// A streamed call's relay: what it has read from the upstream, what it has sent or holds
/// for the client, and why the reading stopped.
struct Relay {
    sink: Sink,
    translator: Option<Box<dyn StreamTranslator>>,
    client: WireFormat,
    up: WireFormat,
    client_include_usage: bool,
    /// The reserved output cap, in content events.
    cap: u64,
    tracker: StreamTracker,
    // The client-side view, for terminal events of a passthrough stream.
    client_view: StreamTracker,
    decoder: SseDecoder,
    held: Vec<SseEvent>,
    cut: bool,
    broken: Option<String>,
}

/// The relay task: read, meter and forward the upstream's stream, then settle the call;
/// the terminal events are held back until its ledger row is durable.
async fn run_stream(
    p: Pending,
    mut resp: UpstreamResponse,
    translator: Option<Box<dyn StreamTranslator>>,
    client_include_usage: bool,
    tx: mpsc::Sender<Bytes>,
) {
    let status = resp.status().as_u16();
    let idle = Duration::from_millis(p.state.settings.stream_idle_timeout_ms);
    let mut relay = Relay {
        sink: Sink { tx, gone: false },
        translator,
        client: p.client_format,
        up: p.upstream_format,
        client_include_usage,
        cap: p.reservation.output_cap,
        tracker: StreamTracker::new(p.upstream_format),
        client_view: StreamTracker::new(p.client_format),
        decoder: SseDecoder::new(),
        held: Vec::new(),
        cut: false,
        broken: None,
    };
    relay.read(&mut resp, idle).await;
    drop(resp); // a cut stream stops the upstream here
    let ending = relay.ending(status);
    relay.terminal_events(&p.model);
    match p.settle(ending).await {
        Ok(_) => relay.sink.send(&relay.held).await,
        Err(e) => {
            tracing::error!(error = %e, "Ledger write failed for a streamed call.");
            let ev = stream_error_event(
                relay.client,
                &relay.client_view,
                "the gateway could not record this call",
            );
            relay.sink.send(&[ev]).await;
        }
    }
}

impl Relay {
    /// Read and relay the upstream's events until it ends, breaks, goes silent or is cut.
    async fn read(&mut self, resp: &mut UpstreamResponse, idle: Duration) {
        'read: loop {
            let chunk = match tokio::time::timeout(idle, resp.chunk()).await {
                Ok(Ok(Some(c))) => c,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    self.broken = Some(format!("the upstream stream broke: {e}"));
                    break;
                }
                Err(_) => {
                    self.broken = Some(format!(
                        "the upstream stream was silent for {} ms",
                        idle.as_millis()
                    ));
                    break;
                }
            };
            for ev in self.decoder.push(&chunk) {
                if self.relay(ev).await.is_break() {
                    self.cut = true;
                    break 'read;
                }
            }
        }
        if let Some(ev) = self.decoder.finish() {
            self.tracker.observe(&ev);
        }
    }

    /// Meter one upstream event and send (or hold) what the client gets of it; breaks when
    /// the event passes the output cap.
    async fn relay(&mut self, ev: SseEvent) -> ControlFlow<()> {
        let parsed = self.tracker.observe(&ev);
        if self.sink.gone {
            // Keep reading: the upstream's usage is still to come.
            return ControlFlow::Continue(());
        }
        if self.tracker.content_events > self.cap {
            return ControlFlow::Break(());
        }
        let out: Vec<SseEvent> = match &mut self.translator {
            Some(t) => t.push(&ev),
            None => {
                let strip = self.up == WireFormat::Chat
                    && !self.client_include_usage
                    && parsed.as_ref().is_some_and(is_unasked_usage_chunk);
                if strip { Vec::new() } else { vec![ev] }
            }
        };
        for o in &out {
            self.client_view.observe(o);
        }
        if self.tracker.finished || self.client_view.finished {
            self.held.extend(out);
        } else {
            self.sink.send(&out).await;
        }
        ControlFlow::Continue(())
    }

    /// How the stream ended, as far as money goes.
    fn ending(&self, status: u16) -> Ending {
        let tracker = &self.tracker;
        let usage = tracker.usage().filter(|_| tracker.finished);
        let (outcome, detail) = if self.cut {
            (
                CallOutcome::Cut,
                Some(format!(
                    "cut after {} output events: the upstream did not honour the output cap",
                    self.cap
                )),
            )
        } else if let Some(b) = &self.broken {
            (CallOutcome::UpstreamError, Some(b.clone()))
        } else if !tracker.finished {
            (
                CallOutcome::UpstreamError,
                Some("the upstream stream ended without its terminal event".to_string()),
            )
        } else if self.sink.gone {
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
                usage.is_none().then(|| {
                    "the upstream reported no usage: billed at the reservation".to_string()
                }),
            )
        };
        Ending {
            outcome,
            // A cut stream is billed at its reservation: the upstream ignored the cap, so we
            // cannot trust it to report what it generated after we stopped reading.
            usage: usage.filter(|_| outcome != CallOutcome::Cut),
            billable: true,
            upstream_status: Some(status),
            detail,
        }
    }

    /// Terminal events for the client, if the upstream did not give them.
    fn terminal_events(&mut self, model: &str) {
        if self.sink.gone {
            return;
        }
        if self.cut {
            self.held = match &mut self.translator {
                Some(t) => t.finish(Some(FinishReason::Length)),
                None => cut_events(self.client, &self.client_view, model),
            };
        } else if !self.tracker.finished {
            let msg = self
                .broken
                .clone()
                .unwrap_or_else(|| "the upstream stream ended early".into());
            self.held
                .push(stream_error_event(self.client, &self.client_view, &msg));
            if self.client == WireFormat::Chat {
                self.held.push(SseEvent::new(None, "[DONE]"));
            }
        } else if let Some(t) = &mut self.translator {
            self.held.extend(t.finish(None));
        }
    }
}
