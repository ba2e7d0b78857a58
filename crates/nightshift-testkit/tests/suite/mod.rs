//! Shared helpers: posting requests, reading SSE streams, normalising ids and timestamps.

mod anthropic;
mod behaviour;
mod chat;
mod responses;

use futures_util::StreamExt as _;
use nightshift_testkit::{Script, ScriptedProvider, Step};
use serde_json::Value;

pub async fn provider(steps: impl IntoIterator<Item = Step>) -> ScriptedProvider {
    ScriptedProvider::start(Script::new(steps)).await.unwrap()
}

pub async fn post(p: &ScriptedProvider, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", p.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Posts and returns the JSON body of a 200 answer.
pub async fn post_json(p: &ScriptedProvider, path: &str, body: Value) -> Value {
    let resp = post(p, path, body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.unwrap()
}

/// One parsed SSE event: the `event:` name and the raw `data:` payload.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

pub fn parse_sse(text: &str) -> Vec<Event> {
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "stream ends mid-event: {text:?}"
    );
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(d.to_owned());
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Event {
                name,
                data: data.expect("event without data"),
            }
        })
        .collect()
}

/// Posts a streaming request and returns its events (the stream must end cleanly).
pub async fn post_sse(p: &ScriptedProvider, path: &str, body: Value) -> Vec<Event> {
    let resp = post(p, path, body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    parse_sse(&resp.text().await.unwrap())
}

/// Reads a body until it ends or fails; returns the bytes and whether it failed.
pub async fn read_until_error(resp: reqwest::Response) -> (String, bool) {
    let mut stream = resp.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(_) => return (String::from_utf8(out).unwrap(), true),
        }
    }
    (String::from_utf8(out).unwrap(), false)
}

/// The `type` fields (or `event:` names) of a stream, in order.
pub fn names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.name.clone().unwrap_or_default())
        .collect()
}

/// Replaces generated ids with `<id>` and timestamps with 0, recursively.
pub fn normalize(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    match (k.as_str(), &*val) {
                        ("created" | "created_at", Value::Number(_)) => *val = Value::from(0),
                        (_, Value::String(s))
                            if s.contains("scripted") && (k == "id" || k.ends_with("_id")) =>
                        {
                            *val = Value::from("<id>");
                        }
                        _ => walk(val),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}
