//! The event log, live: every event as it is appended, as Server-Sent Events whose `id` is
//! the event's sequence number, so a client that reconnects with `Last-Event-ID` gets
//! exactly the events after the last one it saw — none lost, none repeated.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event as Sse, KeepAlive};
use futures_util::stream::{self, Stream};

use nightshift_store::{Backend, EventRow};

/// How often the stream looks for new events when it has none to send.
pub const POLL: Duration = Duration::from_millis(200);
/// Events read from the store at a time.
const PAGE: i64 = 500;

struct Cursor {
    store: Arc<dyn Backend>,
    after: i64,
    shift: Option<String>,
    ready: VecDeque<EventRow>,
}

/// One SSE frame: `id` the sequence number, `event` the type, `data` the event's JSON.
fn frame(row: &EventRow) -> Sse {
    let data = serde_json::to_string(row).unwrap_or_else(|_| "{}".into());
    Sse::default()
        .id(row.seq.to_string())
        .event(row.event.kind())
        .data(data)
}

/// The events after `after` (of one shift, or all), then each as it is appended.
pub fn stream(
    store: Arc<dyn Backend>,
    after: i64,
    shift: Option<String>,
) -> impl Stream<Item = Result<Sse, Infallible>> {
    let start = Cursor {
        store,
        after,
        shift,
        ready: VecDeque::new(),
    };
    stream::unfold(start, |mut c| async move {
        loop {
            if let Some(row) = c.ready.pop_front() {
                return Some((Ok(frame(&row)), c));
            }
            match c.store.log(c.after, PAGE).await {
                Ok(rows) if !rows.is_empty() => {
                    if let Some(last) = rows.last() {
                        c.after = last.seq;
                    }
                    c.ready.extend(
                        rows.into_iter()
                            .filter(|r| c.shift.as_ref().is_none_or(|s| *s == r.shift)),
                    );
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "Could not read the event log for a live stream.");
                    tokio::time::sleep(POLL * 5).await;
                }
            }
        }
    })
}

pub fn keep_alive() -> KeepAlive {
    KeepAlive::new().interval(Duration::from_secs(15))
}
