//! Server-sent events: an incremental decoder that keeps each event's raw bytes (so a
//! relay can forward them untouched) and an encoder.

use bytes::{Bytes, BytesMut};

/// One event: its optional `event:` name, its `data:` lines joined by `\n`, and the exact
/// bytes it arrived as (terminator included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub raw: Bytes,
}

impl SseEvent {
    /// Build an event and its wire bytes.
    pub fn new(event: Option<&str>, data: impl Into<String>) -> Self {
        let data = data.into();
        let raw = encode(event, &data);
        Self {
            event: event.map(str::to_string),
            data,
            raw,
        }
    }

    /// `true` for a comment-only block (`: keep-alive`): no data, forwarded as it came so
    /// clients keep seeing life during long waits.
    pub fn is_comment(&self) -> bool {
        self.event.is_none() && self.data.is_empty() && self.raw.first() == Some(&b':')
    }

    /// `true` for OpenAI's `data: [DONE]` sentinel.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// Encode one event as `event: NAME\ndata: ...\n\n` (multi-line data split over lines).
pub fn encode(event: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(e) = event {
        out.push_str("event: ");
        out.push_str(e);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// Incremental decoder: feed chunks as they arrive, take whole events out.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    /// Bytes of `buf` already searched for an event's end (so each byte is scanned once).
    scanned: usize,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes and return every event completed by them.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        // Resume the search two bytes back: a terminator may straddle two chunks.
        while let Some(end) = find_event_end(&self.buf, self.scanned.saturating_sub(2)) {
            let raw = self.buf.split_to(end).freeze();
            self.scanned = 0;
            if let Some(ev) = parse_event(raw) {
                out.push(ev);
            }
        }
        self.scanned = self.buf.len();
        out
    }

    /// Bytes received that do not yet form a whole event.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// At end of stream: an unterminated last event, if any (servers may omit the final
    /// blank line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
            self.buf.clear();
            return None;
        }
        self.scanned = 0;
        let raw = self.buf.split().freeze();
        parse_event(raw)
    }
}

/// Index just past the blank line that ends the first event in `buf`.
fn find_event_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match buf.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn parse_event(raw: Bytes) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(&raw);
    let mut event = None;
    let mut data: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_string()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    if event.is_none() && data.is_none() {
        // A comment-only block is kept (as an event with no data) so a relay can pass
        // keep-alives on; a block of nothing at all is dropped.
        return raw.first().is_some_and(|b| *b == b':').then(|| SseEvent {
            event: None,
            data: String::new(),
            raw,
        });
    }
    Some(SseEvent {
        event,
        data: data.unwrap_or_default(),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_chunks_and_keeps_raw_bytes() {
        let wire = b"event: message_start\ndata: {\"a\":1}\n\n: ping\n\ndata: [DONE]\r\n\r\n";
        let mut d = SseDecoder::new();
        let mut events = Vec::new();
        for chunk in wire.chunks(5) {
            events.extend(d.push(chunk));
        }
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event.as_deref(), Some("message_start"));
        assert_eq!(events[0].data, "{\"a\":1}");
        assert_eq!(
            &events[0].raw[..],
            b"event: message_start\ndata: {\"a\":1}\n\n"
        );
        assert!(events[1].is_comment(), "keep-alives are kept for the relay");
        assert_eq!(&events[1].raw[..], b": ping\n\n");
        assert!(events[2].is_done());
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn joins_multiline_data() {
        let mut d = SseDecoder::new();
        let ev = d.push(b"data: a\ndata: b\n\n");
        assert_eq!(ev[0].data, "a\nb");
        assert_eq!(
            encode(None, "a\nb"),
            Bytes::from_static(b"data: a\ndata: b\n\n")
        );
    }

    #[test]
    fn unterminated_tail_is_returned_at_finish() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: {\"x\":2}\n").is_empty());
        assert_eq!(d.finish().map(|e| e.data), Some("{\"x\":2}".to_string()));
    }
}
