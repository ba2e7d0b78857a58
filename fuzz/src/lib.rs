//! The bodies of the fuzz targets, as plain functions of the fuzzer's bytes, so that the
//! cargo-fuzz binaries (`fuzz_targets/*.rs`, nightly) and the stable smoke runner
//! (`tests/smoke.rs`) exercise the same code.
//!
//! Every function must never panic, whatever `data` is; the assertions inside state the
//! properties that must hold besides.

#![forbid(unsafe_code)]

use nightshift_wire::sse::{SseDecoder, SseEvent};
use nightshift_wire::translate::{
    AnthropicToChatStream, ChatToAnthropicStream, ChatToResponsesStream, FinishReason,
    StreamTranslator, anthropic_request_to_chat, anthropic_response_to_chat,
    chat_request_to_anthropic, chat_response_to_anthropic, chat_response_to_responses,
    error_to_anthropic, error_to_openai, responses_request_to_chat,
};
use nightshift_wire::{
    StreamTracker, Usage, WireFormat, cut_events, output_cap, set_output_cap, stream_error_event,
};
use serde_json::{Value, json};

pub const FORMATS: [WireFormat; 3] = [
    WireFormat::Chat,
    WireFormat::Responses,
    WireFormat::Messages,
];

/// Decode `bytes` in one push, plus the unterminated tail.
pub fn decode_all(bytes: &[u8]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut events = d.push(bytes);
    events.extend(d.finish());
    events
}

/// `sse_decoder`: the first (up to) 8 bytes choose the chunk sizes (each `% 32`; 0 pushes an
/// empty chunk first, then one byte), the rest is the stream. Splitting must not change the
/// events, and re-encoding an event must decode back to it.
pub fn sse_decoder(data: &[u8]) {
    let (splits, body) = data.split_at(data.len().min(8));

    let mut one = SseDecoder::new();
    let whole = one.push(body);
    let whole_pending = one.pending().to_vec();
    let tail = one.finish();
    assert!(one.pending().is_empty());

    let mut d = SseDecoder::new();
    let mut pieces = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let seed = splits.get(i % splits.len().max(1)).copied().unwrap_or(7);
        i += 1;
        let mut n = usize::from(seed % 32);
        if n == 0 {
            pieces.extend(d.push(&[]));
            n = 1;
        }
        let (head, next) = rest.split_at(n.min(rest.len()));
        pieces.extend(d.push(head));
        rest = next;
    }
    assert_eq!(pieces, whole, "events depend on how the bytes were split");
    assert_eq!(d.pending(), &whole_pending[..]);
    assert_eq!(d.finish(), tail);

    // Complete events are consecutive slices of the input ending in a blank line.
    let raw_len: usize = whole.iter().map(|e| e.raw.len()).sum();
    assert!(raw_len + whole_pending.len() <= body.len());
    for e in &whole {
        assert!(e.raw.ends_with(b"\n\n") || e.raw.ends_with(b"\n\r\n"));
    }

    // Encoding a decoded event decodes back to it (a lone `\r` in a line is left out: the
    // decoder strips one trailing `\r` per line, so such data cannot round-trip).
    for e in whole.iter().chain(tail.iter()) {
        if e.data.contains('\r') || e.event.as_deref().is_some_and(|n| n.contains('\r')) {
            continue;
        }
        let re = SseEvent::new(e.event.as_deref(), e.data.clone());
        let back = SseDecoder::new().push(&re.raw);
        assert_eq!(back.len(), 1, "re-encoded event splits: {:?}", re.raw);
        assert_eq!((&back[0].event, &back[0].data), (&e.event, &e.data));
    }
}

/// `stream_tracker`: any bytes, decoded, into a tracker for each format; then the cut and
/// error events built from that tracker.
pub fn stream_tracker(data: &[u8]) {
    let events = decode_all(data);
    let data_bytes: usize = events.iter().map(|e| e.data.len()).sum();
    for format in FORMATS {
        let mut t = StreamTracker::new(format);
        for e in &events {
            let _ = t.observe(e);
        }
        assert!(t.content_events <= events.len() as u64);
        assert!(t.content_bytes <= data_bytes as u64);
        if let Some(u) = t.usage() {
            check_usage(format, &u);
        }
        for ev in cut_events(format, &t, "fuzz-model")
            .iter()
            .chain(std::iter::once(&stream_error_event(format, &t, "cut")))
        {
            // What the gateway emits itself must be well-formed SSE.
            let back = SseDecoder::new().push(&ev.raw);
            assert_eq!(back.len(), 1);
            assert_eq!(back[0].data, ev.data);
        }
    }
}

/// `usage_body`: any JSON into every usage parser.
pub fn usage_body(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for format in FORMATS {
        if let Some(u) = Usage::from_body(format, &v) {
            check_usage(format, &u);
        }
    }
    for u in [&v, &v["usage"]] {
        if let Some(u) = Usage::from_chat(u) {
            check_usage(WireFormat::Chat, &u);
        }
        if let Some(u) = Usage::from_responses(u) {
            check_usage(WireFormat::Responses, &u);
        }
        if let Some(u) = Usage::from_messages(u) {
            check_usage(WireFormat::Messages, &u);
        }
    }
}

fn check_usage(format: WireFormat, u: &Usage) {
    let _ = u.total_tokens();
    if format == WireFormat::Messages {
        assert!(u.input_tokens >= u.cached_input_tokens.saturating_add(u.cache_write_tokens));
    }
}

/// `translate_request`: any JSON into every request translator, what they produce into the
/// translator back, and the output-cap helpers.
pub fn translate_request(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(chat) = anthropic_request_to_chat(&v) {
        let _ = chat_request_to_anthropic(&chat);
        caps(WireFormat::Chat, &chat);
    }
    if let Ok(anth) = chat_request_to_anthropic(&v) {
        let _ = anthropic_request_to_chat(&anth);
        caps(WireFormat::Messages, &anth);
    }
    if let Ok(chat) = responses_request_to_chat(&v) {
        let _ = chat_request_to_anthropic(&chat);
        caps(WireFormat::Chat, &chat);
    }
    for format in FORMATS {
        caps(format, &v);
    }
}

fn caps(format: WireFormat, body: &Value) {
    let Value::Object(body) = body else { return };
    let _ = output_cap(format, body);
    for legacy in [false, true] {
        let mut b = body.clone();
        set_output_cap(format, &mut b, 4096, legacy);
        assert_eq!(output_cap(format, &b), Some(4096));
    }
}

/// `translate_response`: any JSON into every response translator, any bytes into the error
/// translators.
pub fn translate_response(data: &[u8]) {
    let status = data.first().map_or(500, |b| 400 + u16::from(*b));
    let _ = error_to_anthropic(status, data);
    let _ = error_to_openai(status, data);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = chat_response_to_anthropic(&v);
    let _ = anthropic_response_to_chat(&v);
    let _ = chat_response_to_responses(&v, &json!({"model": "m", "store": false}));
    let _ = chat_response_to_responses(&v, &v);
}

/// `translate_stream`: any bytes, decoded, into every stream translator; then `finish`.
/// The client must see a terminated stream (its format's terminal event, or an in-stream
/// error event, which ends a stream in every format), exactly once, whatever the upstream
/// sent.
pub fn translate_stream(data: &[u8]) {
    let events = decode_all(data);
    let reason = match data.first().map(|b| b % 5) {
        Some(0) => None,
        Some(1) => Some(FinishReason::Length),
        Some(2) => Some(FinishReason::ToolCalls),
        Some(3) => Some(FinishReason::ContentFilter),
        _ => Some(FinishReason::Stop),
    };
    let translators: [(WireFormat, Box<dyn StreamTranslator>); 4] = [
        (
            WireFormat::Messages,
            Box::new(ChatToAnthropicStream::new("m")),
        ),
        (
            WireFormat::Chat,
            Box::new(AnthropicToChatStream::new("m", true).with_created(1)),
        ),
        (
            WireFormat::Chat,
            Box::new(AnthropicToChatStream::new("m", false).with_created(1)),
        ),
        (
            WireFormat::Responses,
            Box::new(ChatToResponsesStream::new(
                &json!({"model": "m", "stream": true}),
            )),
        ),
    ];
    for (client, mut tr) in translators {
        let mut out = Vec::new();
        for e in &events {
            out.extend(tr.push(e));
        }
        out.extend(tr.finish(reason));
        assert!(tr.is_finished());
        assert!(tr.finish(reason).is_empty(), "finish is not idempotent");
        if let Some(e) = events.first() {
            assert!(tr.push(e).is_empty(), "events after the end produce output");
        }

        // The client's own tracker sees a whole, terminated stream.
        let mut t = StreamTracker::new(client);
        for e in &out {
            let back = SseDecoder::new().push(&e.raw);
            assert_eq!(
                back.len(),
                1,
                "translator emitted malformed SSE: {:?}",
                e.raw
            );
            let _ = t.observe(e);
        }
        assert!(
            t.finished || t.errored,
            "{client:?} client stream never terminated"
        );
    }
}
