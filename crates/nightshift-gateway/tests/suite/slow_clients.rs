//! Clients that trickle their request are cut off: a header read timeout and a body read
//! timeout, so a slow client cannot hold a connection (and its task) for as long as it
//! likes.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use nightshift_testkit::Script;

use super::harness::{DEFAULT_GATEWAY, Harness};

/// Send `first`, then `piece` every 100 ms for up to 5 s, watching the connection. Returns
/// what the gateway sent back before it closed the connection, and when it closed it; `None`
/// if it never did.
async fn trickle(base: &str, first: &str, piece: &[u8]) -> Option<(String, Duration)> {
    let addr = base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    tcp.write_all(first.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..50 {
        match tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&got).into_owned(),
                    started.elapsed(),
                ));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if tcp.write_all(piece).await.is_err() {
            return Some((
                String::from_utf8_lossy(&got).into_owned(),
                started.elapsed(),
            ));
        }
    }
    None
}

/// Regression: with no header read timeout, a client sending one header line every few
/// seconds held its connection for 35 s and more.
#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let h = Harness::start_with(
        Script::new([]),
        &format!("{DEFAULT_GATEWAY}\nheader_read_timeout_ms = 300"),
    )
    .await;
    let (answer, after) = trickle(
        &h.base,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n",
        b"x-pad: a\r\n",
    )
    .await
    .expect("the gateway closed the connection before the client finished its headers");
    assert_eq!(answer, "", "nothing is answered to half a request");
    assert!(after >= Duration::from_millis(300), "{after:?}");
    assert_eq!(h.provider.served(), 0);
}

/// Regression: with no body read timeout, a client could hold a call's handler open by
/// sending its body a byte at a time.
#[tokio::test]
async fn a_client_trickling_its_body_gets_408_and_is_cut_off() {
    let h = Harness::start_with(
        Script::new([]),
        &format!("{DEFAULT_GATEWAY}\nbody_read_timeout_ms = 300"),
    )
    .await;
    let (tok, _) = h.token("1", None).await;
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: gateway\r\nx-api-key: {tok}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
    );
    let (answer, after) = trickle(&h.base, &head, b" ")
        .await
        .expect("the gateway gave up on the body before the client finished it");
    let (status_line, rest) = answer.split_once("\r\n").expect("a response");
    assert_eq!(status_line, "HTTP/1.1 408 Request Timeout");
    let body = rest.split_once("\r\n\r\n").map(|(_, b)| b).expect("a body");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).expect("JSON"),
        serde_json::json!({"type": "error", "error": {
            "type": "invalid_request_error",
            "message": "the request body did not arrive within 300 ms (gateway.body_read_timeout_ms); send it whole, at once"
        }}),
        "in the Anthropic client's own format"
    );
    assert!(after >= Duration::from_millis(300), "{after:?}");
    assert!(h.ledger().await.is_empty(), "nothing reached the ledger");
    assert_eq!(h.provider.served(), 0);
}
