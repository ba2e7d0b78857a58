//! HTTP plumbing shared by the formats: JSON bodies, SSE streams with delays and cuts,
//! truncated bodies, malformed bodies.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

/// One server-sent event.
pub(crate) struct SseEvent {
    /// The `event:` line, if the format uses one.
    pub name: Option<&'static str>,
    /// The `data:` payload (one line).
    pub data: String,
}

impl SseEvent {
    /// An event with an `event:` line (Anthropic, Responses).
    pub(crate) fn named(name: &'static str, data: &Value) -> Self {
        Self {
            name: Some(name),
            data: data.to_string(),
        }
    }

    /// A bare `data:` event (OpenAI Chat).
    pub(crate) fn data(data: impl Into<String>) -> Self {
        Self {
            name: None,
            data: data.into(),
        }
    }

    fn encode(&self) -> Bytes {
        let mut s = String::with_capacity(self.data.len() + 32);
        if let Some(name) = self.name {
            s.push_str("event: ");
            s.push_str(name);
            s.push('\n');
        }
        s.push_str("data: ");
        s.push_str(&self.data);
        s.push_str("\n\n");
        Bytes::from(s)
    }
}

/// How a successful answer is delivered.
#[derive(Clone, Copy)]
pub(crate) struct Delivery {
    pub chunk_delay: Duration,
    pub cut_after: Option<usize>,
    pub malformed: bool,
}

/// Half of a JSON text, which is never valid JSON when the text is an object.
fn broken(json: &str) -> String {
    let mut cut = json.len() / 2;
    while !json.is_char_boundary(cut) {
        cut -= 1;
    }
    json[..cut].to_owned()
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "scripted provider: connection cut",
    )
}

/// A `200` JSON answer, possibly malformed or cut.
pub(crate) fn json(body: &Value, delivery: Delivery) -> Response {
    let text = body.to_string();
    if delivery.malformed {
        return with_type(Response::new(Body::from(broken(&text))), "application/json");
    }
    if delivery.cut_after.is_some() {
        let full_len = text.len();
        let half = Bytes::from(broken(&text));
        let stream = futures_util::stream::unfold(Some(half), |state| async move {
            match state {
                Some(half) => Some((Ok(half), None)),
                None => {
                    // Let the connection flush the first half before it is dropped.
                    tokio::task::yield_now().await;
                    Some((Err(cut_error()), None))
                }
            }
        });
        let mut resp = with_type(Response::new(Body::from_stream(stream)), "application/json");
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
        return resp;
    }
    with_type(Response::new(Body::from(text)), "application/json")
}

struct StreamState {
    events: Vec<Bytes>,
    next: usize,
    delay: Duration,
    cut_after: Option<usize>,
}

/// A `200` SSE answer, with delays between events, possibly malformed or cut.
pub(crate) fn sse(mut events: Vec<SseEvent>, delivery: Delivery) -> Response {
    if delivery.malformed && !events.is_empty() {
        // Break the second event (the first when there is only one): the stream starts well
        // and then carries a line of broken JSON.
        let i = 1.min(events.len() - 1);
        events[i].data = broken(&events[i].data);
    }
    let state = StreamState {
        events: events.iter().map(SseEvent::encode).collect(),
        next: 0,
        delay: delivery.chunk_delay,
        cut_after: delivery.cut_after,
    };
    let stream = futures_util::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        if st
            .cut_after
            .is_some_and(|cut| st.next >= cut.min(st.events.len()))
        {
            // Let the connection flush what was sent before it is dropped.
            tokio::task::yield_now().await;
            return Some((Err(cut_error()), None));
        }
        let event = st.events.get(st.next)?.clone();
        if st.next > 0 && !st.delay.is_zero() {
            tokio::time::sleep(st.delay).await;
        }
        st.next += 1;
        Some((Ok::<_, io::Error>(event), Some(st)))
    });
    let mut resp = with_type(
        Response::new(Body::from_stream(stream)),
        "text/event-stream; charset=utf-8",
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// An error answer with a raw body.
pub(crate) fn error(status: u16, retry_after: Option<&str>, body: String) -> Response {
    let mut resp = with_type(Response::new(Body::from(body)), "application/json");
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, value);
    }
    resp
}

fn with_type(mut resp: Response, content_type: &'static str) -> Response {
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
