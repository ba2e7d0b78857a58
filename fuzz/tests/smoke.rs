//! Stable-Rust smoke run of every fuzz target: a few hundred deterministic pseudo-random
//! inputs each (xorshift, fixed seeds), plus the golden wire captures of
//! `crates/nightshift-wire/tests/golden/` and mutations of them as a seed corpus.
//!
//! `cd fuzz && cargo test`. Not a substitute for `cargo +nightly fuzz run`, which is
//! coverage-guided; this only proves the targets run and catches the shallow bugs.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use nightshift_wire_fuzz as targets;

/// Inputs per target and generator.
const ROUNDS: usize = 300;

// ---------------------------------------------------------------- generator

/// xorshift64*: tiny, deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "completion_tokens_details",
    "reasoning_tokens",
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "prompt_cache_hit_tokens",
    "type",
    "message",
    "delta",
    "index",
    "choices",
    "content",
    "text",
    "partial_json",
    "thinking",
    "signature",
    "tool_calls",
    "function",
    "arguments",
    "name",
    "id",
    "role",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "model",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "stream",
    "stream_options",
    "include_usage",
    "input",
    "instructions",
    "response",
    "sequence_number",
    "error",
    "finish_reason",
    "stop_reason",
    "content_block",
    "tool_use_id",
    "input_schema",
    "parameters",
    "image_url",
    "url",
    "source",
    "media_type",
    "data",
    "reasoning_content",
    "reasoning",
    "refusal",
    "output",
    "status",
    "temperature",
    "stop",
    "stop_sequences",
    "parallel_tool_calls",
    "metadata",
    "user",
    "call_id",
    "is_error",
    "cache_control",
    "budget_tokens",
    "effort",
    "summary",
    "item",
    "output_index",
    "content_index",
    "item_id",
    "part",
    "incomplete_details",
    "logprobs",
    "n",
    "top_p",
];

const STRINGS: &[&str] = &[
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
    "text",
    "image",
    "image_url",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "message",
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "ping",
    "error",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "input_text",
    "output_text",
    "input_image",
    "function_call",
    "function_call_output",
    "reasoning",
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "end_turn",
    "max_tokens",
    "auto",
    "none",
    "required",
    "any",
    "ephemeral",
    "base64",
    "image/png",
    "data:image/png;base64,AAAA",
    "[DONE]",
    "",
    " ",
    "x",
    "é🦀\u{0}",
    "{\"a\":",
    "{\"location\": \"Paris\"}",
    "\n\n",
    "data: x\n\n",
    "\r",
];

fn number(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => json!(u64::MAX),
        1 => json!(u64::MAX - rng.below(3) as u64),
        2 => json!(i64::MIN),
        3 => json!(-1),
        4 => json!(1.5),
        5 => json!(1u64 << 53),
        6 => json!(u32::MAX),
        _ => json!(rng.below(5000)),
    }
}

/// A number a provider could really send.
fn count(rng: &mut Rng) -> Value {
    json!(rng.below(200_000))
}

fn value(rng: &mut Rng, depth: usize, extreme: bool) -> Value {
    let kinds = if depth == 0 { 4 } else { 7 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => {
            if extreme {
                number(rng)
            } else {
                count(rng)
            }
        }
        3 => json!(*rng.pick(STRINGS)),
        4 => Value::Array(
            (0..rng.below(4))
                .map(|_| value(rng, depth - 1, extreme))
                .collect(),
        ),
        _ => object(rng, depth - 1, extreme),
    }
}

fn object(rng: &mut Rng, depth: usize, extreme: bool) -> Value {
    let mut m = Map::new();
    for _ in 0..rng.below(7) {
        m.insert(rng.pick(KEYS).to_string(), value(rng, depth, extreme));
    }
    Value::Object(m)
}

/// Replace, delete or duplicate a random part of `v`.
fn mutate(rng: &mut Rng, v: &mut Value, extreme: bool) {
    match v {
        Value::Object(m) if !m.is_empty() && rng.chance(80) => {
            let i = rng.below(m.len());
            let key = m.keys().nth(i).cloned().unwrap_or_default();
            match rng.below(4) {
                0 => {
                    m.remove(&key);
                }
                1 => {
                    m.insert(key, value(rng, 2, extreme));
                }
                _ => {
                    if let Some(child) = m.get_mut(&key) {
                        mutate(rng, child, extreme);
                    }
                }
            }
        }
        Value::Array(a) if !a.is_empty() && rng.chance(80) => {
            let i = rng.below(a.len());
            match rng.below(4) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let dup = a[i].clone();
                    a.insert(i, dup);
                }
                _ => mutate(rng, &mut a[i], extreme),
            }
        }
        _ => *v = value(rng, 2, extreme),
    }
}

/// Bytes from SSE-ish tokens.
fn sse_bytes(rng: &mut Rng, extreme: bool) -> Vec<u8> {
    const TOKENS: &[&[u8]] = &[
        b"data: ",
        b"data:",
        b"event: ",
        b"event:message_start",
        b": ping",
        b"id: 7",
        b"retry: 10",
        b"\n",
        b"\n",
        b"\n\n",
        b"\r\n",
        b"\r",
        b"[DONE]",
        b"{",
        b"}",
        b"\"",
        b":",
        b" ",
        b"\xff\xfe",
        b"\xe2\x82",
        b"x",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.below(40) {
        if rng.chance(30) {
            let name = *rng.pick(STRINGS);
            let data = event_json(rng, extreme);
            out.extend_from_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes());
        } else {
            let token: &[u8] = TOKENS[rng.below(TOKENS.len())];
            out.extend_from_slice(token);
        }
    }
    out
}

/// A JSON event shaped like what the three formats stream.
fn event_json(rng: &mut Rng, extreme: bool) -> Value {
    let mut v = object(rng, 3, extreme);
    if let Value::Object(m) = &mut v {
        m.insert("type".into(), json!(*rng.pick(STRINGS)));
        if rng.chance(40) {
            let mut usage = Map::new();
            for k in &KEYS[1..14] {
                if rng.chance(50) {
                    let n = if extreme { number(rng) } else { count(rng) };
                    usage.insert((*k).to_string(), n);
                }
            }
            let usage = Value::Object(usage);
            match rng.below(3) {
                0 => m.insert("usage".into(), usage),
                1 => m.insert("message".into(), json!({"usage": usage})),
                _ => m.insert("response".into(), json!({"id": "resp_1", "usage": usage})),
            };
        }
        if rng.chance(40) {
            let delta = object(rng, 2, extreme);
            m.insert(
                "choices".into(),
                json!([{"index": 0, "delta": delta, "finish_reason": rng.pick(STRINGS)}]),
            );
        }
    }
    v
}

// ---------------------------------------------------------------- seeds

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/nightshift-wire/tests/golden")
}

/// The golden wire captures (streams and bodies).
fn captures() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(golden_dir())
        .expect("golden captures")
        .map(|e| e.expect("dir entry").path())
        .collect();
    paths.sort();
    let files: Vec<_> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read capture"))
        .collect();
    assert!(files.len() >= 10, "golden captures missing");
    files
}

/// Requests in each format, shaped as clients send them.
fn requests() -> Vec<Value> {
    vec![
        json!({
            "model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
            "max_completion_tokens": 1024, "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "w",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
            "tool_choice": "auto",
        }),
        json!({
            "model": "claude-sonnet-4-20250514", "max_tokens": 2048, "stream": true,
            "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "call the tool", "signature": "EqQB"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                ]},
            ],
            "tools": [{"name": "get_weather", "description": "w",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}],
            "tool_choice": {"type": "auto"}, "stop_sequences": ["\n\nHuman:"],
        }),
        json!({
            "model": "gpt-5", "stream": true, "instructions": "You are terse.", "store": false,
            "max_output_tokens": 4096, "reasoning": {"effort": "medium", "summary": "auto"},
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            ],
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
            "tool_choice": "auto", "parallel_tool_calls": true,
        }),
        json!({"model": "gpt-4o", "input": "hi"}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    ]
}

fn golden_bodies() -> Vec<Value> {
    captures()
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect()
}

/// Captures truncated, with flipped bytes, and spliced together.
fn mutated_captures(rng: &mut Rng, files: &[Vec<u8>]) -> Vec<u8> {
    let mut b = rng.pick(files).clone();
    match rng.below(4) {
        0 => b.truncate(rng.below(b.len() + 1)),
        1 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
        }
        2 => {
            let other = rng.pick(files);
            let cut = rng.below(b.len() + 1);
            b.truncate(cut);
            b.extend_from_slice(&other[rng.below(other.len() + 1)..]);
        }
        _ => {
            let copy = b.clone();
            b.extend_from_slice(&copy);
        }
    }
    b
}

fn json_inputs(rng: &mut Rng, seeds: &[Value], extreme: bool) -> Vec<u8> {
    let mut v = if !seeds.is_empty() && rng.chance(70) {
        rng.pick(seeds).clone()
    } else {
        object(rng, 4, extreme)
    };
    for _ in 0..=rng.below(4) {
        mutate(rng, &mut v, extreme);
    }
    serde_json::to_vec(&v).expect("serialise")
}

/// Run `target` over the captures, mutated captures, SSE-ish bytes, random JSON shaped by
/// `json_seeds` and plain random bytes.
fn run(seed: u64, extreme: bool, json_seeds: &[Value], target: fn(&[u8])) {
    let files = captures();
    for f in &files {
        target(f);
    }
    let mut rng = Rng::new(seed);
    for _ in 0..ROUNDS {
        target(&mutated_captures(&mut rng, &files));
        target(&sse_bytes(&mut rng, extreme));
        target(&json_inputs(&mut rng, json_seeds, extreme));
        let noise: Vec<u8> = (0..rng.below(256)).map(|_| rng.next() as u8).collect();
        target(&noise);
    }
}

// ---------------------------------------------------------------- targets

#[test]
fn sse_decoder_smoke() {
    // Prefix captures with split seeds so they exercise the decoder's framing.
    for (i, f) in captures().iter().enumerate() {
        for prefix in [[1u8; 8], [7; 8], [3, 0, 5, 31, 2, 9, 1, 13], [i as u8; 8]] {
            let mut input = prefix.to_vec();
            input.extend_from_slice(f);
            targets::sse_decoder(&input);
        }
    }
    run(1, false, &[], targets::sse_decoder);
}

#[test]
fn stream_tracker_smoke() {
    run(2, false, &[], targets::stream_tracker);
}

#[test]
fn usage_body_smoke() {
    run(3, false, &golden_bodies(), targets::usage_body);
}

#[test]
fn translate_request_smoke() {
    run(4, false, &requests(), targets::translate_request);
}

#[test]
fn translate_response_smoke() {
    run(5, false, &golden_bodies(), targets::translate_response);
}

#[test]
fn translate_stream_smoke() {
    run(6, false, &[], targets::translate_stream);
}

/// Token counts near `u64::MAX` (and negative and fractional ones): what a broken or hostile
/// upstream can send.
#[test]
fn extreme_numbers_smoke() {
    let bodies = golden_bodies();
    run(7, true, &bodies, targets::usage_body);
    run(8, true, &[], targets::stream_tracker);
    run(9, true, &requests(), targets::translate_request);
    run(10, true, &bodies, targets::translate_response);
    run(11, true, &[], targets::translate_stream);
}

// ---------------------------------------------------------------- regressions
//
// Each input below used to make nightshift-wire overflow a `u64`: a panic in debug builds,
// a silently wrapped (tiny) token count in release builds, which would settle a call for
// almost nothing. Token arithmetic now saturates.

#[test]
fn regression_total_tokens_overflows() {
    targets::usage_body(
        br#"{"usage":{"prompt_tokens":1,"completion_tokens":18446744073709551615}}"#,
    );
}

#[test]
fn regression_from_messages_overflows() {
    targets::usage_body(
        br#"{"usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":1}}"#,
    );
}

#[test]
fn regression_message_delta_overflows() {
    targets::stream_tracker(
        b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":\
          {\"input_tokens\":18446744073709551615,\"cache_read_input_tokens\":1}}\n\n",
    );
}

#[test]
fn regression_cut_events_sequence_overflows() {
    targets::stream_tracker(
        b"event: response.created\ndata: {\"type\":\"response.created\",\
          \"sequence_number\":18446744073709551615}\n\n",
    );
}

#[test]
fn regression_translated_prompt_total_overflows() {
    targets::translate_response(
        br#"{"type":"message","role":"assistant","content":[],"stop_reason":"end_turn",
            "usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":1,"output_tokens":1}}"#,
    );
}

#[test]
fn regression_translated_total_tokens_overflows() {
    targets::translate_response(
        br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":1,"completion_tokens":18446744073709551615}}"#,
    );
}
