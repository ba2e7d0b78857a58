//! Golden wire captures: what OpenAI, Anthropic, llama.cpp and vLLM actually send, byte for
//! byte, under `tests/golden/`, and the normalised [`Usage`] each must yield.
//!
//! Normal form: `input_tokens` counts every prompt token (cache reads and writes included),
//! `output_tokens` every generated token (reasoning included).
//!
//! Streams are fed to [`SseDecoder`] in small uneven chunks first (framing must not depend on
//! how the bytes arrive), then to [`StreamTracker`].

use std::path::PathBuf;

use nightshift_wire::sse::{SseDecoder, SseEvent};
use nightshift_wire::{StreamTracker, Usage, WireFormat};
use serde_json::Value;

// ---------------------------------------------------------------- helpers

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name)
}

fn golden(name: &str) -> Vec<u8> {
    let path = golden_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A non-streamed body: its usage read through `from_body`, checked to agree with the
/// format's own `usage` parser.
fn body_usage(format: WireFormat, name: &str) -> Usage {
    let body: Value = serde_json::from_slice(&golden(name)).unwrap();
    let usage = Usage::from_body(format, &body).expect("body carries usage");
    let direct = match format {
        WireFormat::Chat => Usage::from_chat(&body["usage"]),
        WireFormat::Responses => Usage::from_responses(&body["usage"]),
        WireFormat::Messages => Usage::from_messages(&body["usage"]),
    };
    assert_eq!(
        direct,
        Some(usage),
        "from_body and the format's parser disagree"
    );
    usage
}

/// Decode `bytes` pushed `sizes` bytes at a time (cycling through `sizes`), then `finish`.
fn decode(bytes: &[u8], sizes: &[usize]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at((*size).min(rest.len()));
        out.extend(d.push(head));
        rest = tail;
    }
    out.extend(d.finish());
    assert!(d.pending().is_empty());
    out
}

/// A replayed capture: the decoded events and the tracker that followed them.
struct Replay {
    events: Vec<SseEvent>,
    tracker: StreamTracker,
}

impl Replay {
    fn usage(&self) -> Option<Usage> {
        self.tracker.usage()
    }

    /// Events whose `event:` name or JSON `type` is `kind`.
    fn count(&self, kind: &str) -> usize {
        self.events
            .iter()
            .filter(|e| {
                e.event.as_deref() == Some(kind)
                    || serde_json::from_str::<Value>(&e.data)
                        .is_ok_and(|v| v.get("type").and_then(Value::as_str) == Some(kind))
            })
            .count()
    }
}

/// Decode a stream capture in 7-byte chunks, check the framing, and run it through a
/// tracker for `format`.
fn replay(format: WireFormat, name: &str) -> Replay {
    let bytes = golden(name);
    let events = decode(&bytes, &[7]);
    assert!(!events.is_empty(), "{name}: no events");

    // Framing does not depend on how the bytes were split.
    for sizes in [&[1][..], &[2, 3, 5], &[13, 1, 64], &[4096], &[bytes.len()]] {
        assert_eq!(decode(&bytes, sizes), events, "{name}: split {sizes:?}");
    }
    // The events' raw bytes are the capture, untouched (a relay forwards them as is).
    let raw: Vec<u8> = events.iter().flat_map(|e| e.raw.iter().copied()).collect();
    assert_eq!(raw, bytes, "{name}: raw bytes differ from the capture");

    // The capture itself is well formed: JSON or `[DONE]`, and a named event's name matches
    // its JSON `type` (Anthropic and Responses name every event).
    for e in &events {
        if e.is_done() {
            continue;
        }
        let v: Value = serde_json::from_str(&e.data)
            .unwrap_or_else(|err| panic!("{name}: event is not JSON ({err}): {}", e.data));
        if let Some(ev_name) = &e.event {
            assert_eq!(v["type"].as_str(), Some(ev_name.as_str()), "{name}");
        }
    }

    let mut tracker = StreamTracker::new(format);
    for e in &events {
        let parsed = tracker.observe(e);
        assert_eq!(parsed.is_some(), !e.is_done(), "{name}: observe's JSON");
    }
    assert!(tracker.content_events <= events.len() as u64);
    assert_eq!(tracker.errored, name.contains("error"), "{name}: errored");
    Replay { events, tracker }
}

// ---------------------------------------------------------------- OpenAI Chat, whole bodies

#[test]
fn chat_body_plain_usage() {
    let u = body_usage(WireFormat::Chat, "chat_plain.json");
    assert_eq!(
        u,
        Usage {
            input_tokens: 19,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 10,
            reasoning_tokens: 0,
        }
    );
    assert_eq!(u.total_tokens(), 29);
}

#[test]
fn chat_body_cached_tokens_are_part_of_prompt_tokens() {
    let u = body_usage(WireFormat::Chat, "chat_cached.json");
    assert_eq!(
        u,
        Usage {
            input_tokens: 2006,
            cached_input_tokens: 1920,
            cache_write_tokens: 0,
            output_tokens: 300,
            reasoning_tokens: 0,
        }
    );
    assert_eq!(u.total_tokens(), 2306);
}

#[test]
fn chat_body_o_series_reasoning_tokens_are_part_of_completion_tokens() {
    let u = body_usage(WireFormat::Chat, "chat_reasoning_o_series.json");
    assert_eq!(
        u,
        Usage {
            input_tokens: 75,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 1186,
            reasoning_tokens: 1024,
        }
    );
    assert_eq!(u.total_tokens(), 1261);
}

#[test]
fn chat_body_deepseek_prompt_cache_hit_tokens_are_cached_input() {
    // DeepSeek documents its cache hits as `prompt_cache_hit_tokens` (+ `_miss_` = prompt),
    // not `prompt_tokens_details.cached_tokens`; hits are billed at about a tenth.
    let u = body_usage(WireFormat::Chat, "chat_deepseek_cache_hit.json");
    assert_eq!(
        u,
        Usage {
            input_tokens: 1400,
            cached_input_tokens: 1280,
            cache_write_tokens: 0,
            output_tokens: 120,
            reasoning_tokens: 0,
        }
    );
}

// ---------------------------------------------------------------- OpenAI Chat, streams

#[test]
fn chat_stream_include_usage_final_chunk_has_empty_choices() {
    let r = replay(WireFormat::Chat, "chat_stream_include_usage.sse");
    assert_eq!(r.events.len(), 9);
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 24,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 5,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    assert_eq!(r.tracker.content_events, 5);
    assert_eq!(r.tracker.content_bytes, "The sky is blue.".len() as u64);
}

#[test]
fn chat_stream_usage_null_on_content_chunks_does_not_clear_usage() {
    // With include_usage every chunk but the last carries `"usage": null`; the null chunks
    // before the usage chunk must leave usage unset, never a zeroed Usage.
    let bytes = golden("chat_stream_include_usage.sse");
    let events = decode(&bytes, &[7]);
    let mut t = StreamTracker::new(WireFormat::Chat);
    for e in &events[..events.len() - 2] {
        t.observe(e);
    }
    assert_eq!(t.usage(), None);
    assert!(!t.finished);
}

#[test]
fn chat_stream_without_include_usage_has_no_usage() {
    let r = replay(WireFormat::Chat, "chat_stream_no_usage.sse");
    assert_eq!(r.events.len(), 7);
    assert_eq!(r.usage(), None);
    assert!(r.tracker.finished);
    assert_eq!(r.tracker.content_events, 4);
    assert_eq!(
        r.tracker.content_bytes,
        "Paris is the capital of France.".len() as u64
    );
}

#[test]
fn chat_stream_parallel_tool_call_arguments_count_as_content() {
    let r = replay(WireFormat::Chat, "chat_stream_tool_calls.sse");
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 82,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 51,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    // Six argument fragments per call; the chunks opening each call carry `""`.
    assert_eq!(r.tracker.content_events, 12);
    let args = r#"{"location": "Paris, France"}{"location": "Bogotá, Colombia"}"#;
    assert_eq!(r.tracker.content_bytes, args.len() as u64);
}

#[test]
fn chat_stream_llamacpp_usage_rides_on_the_finish_reason_chunk() {
    let r = replay(
        WireFormat::Chat,
        "chat_stream_llamacpp_usage_on_finish_chunk.sse",
    );
    let last_chunk: Value = serde_json::from_str(&r.events[r.events.len() - 2].data).unwrap();
    assert_eq!(last_chunk["choices"][0]["finish_reason"], "stop");
    assert!(last_chunk["usage"].is_object() && last_chunk["timings"].is_object());
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 31,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 6,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    assert_eq!(r.tracker.content_events, 5);
}

#[test]
fn chat_stream_vllm_continuous_usage_on_content_chunks_replaces_not_sums() {
    let r = replay(WireFormat::Chat, "chat_stream_vllm_continuous_usage.sse");
    // Every chunk carries the running totals, content chunks included, and a final
    // `choices: []` chunk repeats them (include_usage).
    let with_usage = r
        .events
        .iter()
        .filter(|e| !e.is_done())
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap())
        .filter(|v| v["usage"].is_object() && !v["choices"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(with_usage, r.events.len() - 2);
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 40,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 8,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    // Two `reasoning_content` deltas and three `content` deltas.
    assert_eq!(r.tracker.content_events, 5);
}

#[test]
fn chat_stream_crlf_framing_reads_like_lf() {
    // Some proxies re-frame streams with CRLF line endings.
    let lf = golden("chat_stream_include_usage.sse");
    let crlf: Vec<u8> = lf
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    let a = decode(&lf, &[7]);
    let b = decode(&crlf, &[7]);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.event, &x.data), (&y.event, &y.data));
    }
    let mut t = StreamTracker::new(WireFormat::Chat);
    for e in &b {
        t.observe(e);
    }
    assert_eq!(
        t.usage().map(|u| (u.input_tokens, u.output_tokens)),
        Some((24, 5))
    );
    assert!(t.finished);
}

// ---------------------------------------------------------------- OpenAI Responses

#[test]
fn responses_body_usage_with_cached_and_reasoning_details() {
    let u = body_usage(WireFormat::Responses, "responses_body.json");
    assert_eq!(
        u,
        Usage {
            input_tokens: 3142,
            cached_input_tokens: 2944,
            cache_write_tokens: 0,
            output_tokens: 837,
            reasoning_tokens: 640,
        }
    );
    assert_eq!(u.total_tokens(), 3979);
}

#[test]
fn responses_stream_completed_carries_usage() {
    let r = replay(WireFormat::Responses, "responses_stream_completed.sse");
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 3142,
            cached_input_tokens: 2944,
            cache_write_tokens: 0,
            output_tokens: 837,
            reasoning_tokens: 640,
        })
    );
    assert!(r.tracker.finished);
    // Four reasoning-summary deltas and six output-text deltas.
    assert_eq!(r.count("response.reasoning_summary_text.delta"), 4);
    assert_eq!(r.count("response.output_text.delta"), 6);
    assert_eq!(r.tracker.content_events, 10);
    assert_eq!(
        r.tracker.response_id.as_deref(),
        Some("resp_68af3d1f0b7c8190a1e2d3c4b5a69788")
    );
    assert_eq!(r.tracker.last_sequence, Some(r.events.len() as u64 - 1));
}

#[test]
fn responses_stream_usage_only_arrives_with_the_terminal_event() {
    // `response.created` and `response.in_progress` carry `"usage": null`.
    let bytes = golden("responses_stream_completed.sse");
    let events = decode(&bytes, &[7]);
    let mut t = StreamTracker::new(WireFormat::Responses);
    for e in &events[..events.len() - 1] {
        t.observe(e);
    }
    assert_eq!(t.usage(), None);
    assert!(!t.finished);
}

#[test]
fn responses_stream_incomplete_carries_usage_and_finishes() {
    let r = replay(WireFormat::Responses, "responses_stream_incomplete.sse");
    assert_eq!(r.count("response.incomplete"), 1);
    assert_eq!(r.count("response.completed"), 0);
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 1210,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 256,
            reasoning_tokens: 248,
        })
    );
    assert!(r.tracker.finished);
    assert!(!r.tracker.errored);
    assert_eq!(r.tracker.content_events, 4);
}

// ---------------------------------------------------------------- Anthropic Messages

#[test]
fn messages_body_adds_cache_reads_and_writes_to_input() {
    let u = body_usage(WireFormat::Messages, "messages_body_cache.json");
    assert_eq!(
        u,
        Usage {
            input_tokens: 21 + 1530 + 12873,
            cached_input_tokens: 12873,
            cache_write_tokens: 1530,
            output_tokens: 393,
            reasoning_tokens: 0,
        }
    );
}

#[test]
fn messages_stream_output_tokens_are_cumulative_not_summed() {
    let r = replay(
        WireFormat::Messages,
        "messages_stream_cumulative_output.sse",
    );
    // message_start says output_tokens 1, message_delta the final 15: the answer is 15, not 16.
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 472 + 2048,
            cached_input_tokens: 2048,
            cache_write_tokens: 0,
            output_tokens: 15,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    assert_eq!(r.tracker.content_events, 6);
    assert_eq!(r.tracker.open_block, None);
}

#[test]
fn messages_stream_message_start_usage_before_message_delta() {
    // Cut before message_delta, the tracker holds message_start's input and its output of 1.
    let bytes = golden("messages_stream_cumulative_output.sse");
    let events = decode(&bytes, &[7]);
    let mut t = StreamTracker::new(WireFormat::Messages);
    for e in events
        .iter()
        .take_while(|e| e.event.as_deref() != Some("message_delta"))
    {
        t.observe(e);
    }
    assert_eq!(
        t.usage(),
        Some(Usage {
            input_tokens: 2520,
            cached_input_tokens: 2048,
            cache_write_tokens: 0,
            output_tokens: 1,
            reasoning_tokens: 0,
        })
    );
    assert!(!t.finished);
}

#[test]
fn messages_stream_delta_repeating_input_and_cache_is_not_double_counted() {
    let r = replay(
        WireFormat::Messages,
        "messages_stream_delta_repeats_input.sse",
    );
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 14 + 512 + 9830,
            cached_input_tokens: 9830,
            cache_write_tokens: 512,
            output_tokens: 245,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    assert_eq!(r.tracker.content_events, 5);
}

#[test]
fn messages_stream_server_tool_input_growth_replaces_message_start_usage() {
    let r = replay(
        WireFormat::Messages,
        "messages_stream_server_tool_input_grows.sse",
    );
    // message_start: 2679 input + 4096 cache reads; message_delta: 10682 + 4096 after the
    // web search results joined the context.
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 10682 + 4096,
            cached_input_tokens: 4096,
            cache_write_tokens: 0,
            output_tokens: 510,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    // Two text deltas, three non-empty input_json deltas, two more text deltas; the
    // citations delta carries no generated text.
    assert_eq!(r.tracker.content_events, 7);
    assert_eq!(r.tracker.open_block, None);
}

#[test]
fn messages_stream_ping_and_tool_use_input_json_delta() {
    let r = replay(WireFormat::Messages, "messages_stream_ping_tool_use.sse");
    assert_eq!(r.count("ping"), 2);
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 384,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 89,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    // Three text deltas and five non-empty `partial_json` deltas (the first is `""`).
    assert_eq!(r.tracker.content_events, 8);
    let json = r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#;
    let text = "Okay, let's check the weather for San Francisco, CA:";
    assert_eq!(r.tracker.content_bytes, (json.len() + text.len()) as u64);
    assert_eq!(r.tracker.open_block, None);
}

#[test]
fn messages_stream_open_block_tracks_tool_use_in_flight() {
    let bytes = golden("messages_stream_ping_tool_use.sse");
    let events = decode(&bytes, &[7]);
    let mut t = StreamTracker::new(WireFormat::Messages);
    for e in events
        .iter()
        .take_while(|e| !e.data.contains(r#""partial_json":"renheit"#))
    {
        t.observe(e);
    }
    assert_eq!(t.open_block, Some(1));
}

#[test]
fn messages_stream_overloaded_error_keeps_message_start_usage() {
    let r = replay(WireFormat::Messages, "messages_stream_overloaded_error.sse");
    assert!(r.tracker.errored);
    assert!(!r.tracker.finished);
    // No message_delta came: input as message_start said, output its placeholder 1.
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 1503 + 24576,
            cached_input_tokens: 24576,
            cache_write_tokens: 0,
            output_tokens: 1,
            reasoning_tokens: 0,
        })
    );
    assert_eq!(r.tracker.content_events, 2);
    assert_eq!(r.tracker.open_block, Some(0));
}

#[test]
fn messages_stream_thinking_deltas_count_signature_does_not() {
    let r = replay(WireFormat::Messages, "messages_stream_thinking.sse");
    assert_eq!(
        r.usage(),
        Some(Usage {
            input_tokens: 96,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 212,
            reasoning_tokens: 0,
        })
    );
    assert!(r.tracker.finished);
    assert_eq!(r.tracker.content_events, 4);
}
