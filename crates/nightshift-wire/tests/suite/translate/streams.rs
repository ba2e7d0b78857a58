//! Streams translated event by event.

use serde_json::{Value, json};

use super::*;

#[test]
fn chat_to_anthropic_stream_text_tools_usage() {
    let mut t = ChatToAnthropicStream::new("claude-sonnet-4-5");
    let out = feed(&mut t, &chat_stream());
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let d = datas(&out);
    for (name, data) in names(&out).iter().zip(&d) {
        assert_eq!(data["type"], *name);
    }
    assert_eq!(
        d[0],
        json!({"type": "message_start", "message": {
            "id": "chatcmpl-abc123", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 0},
        }})
    );
    assert_eq!(
        d[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        d[2],
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}})
    );
    assert_eq!(d[4], json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(
        d[5],
        json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "call_1", "name": "read_file", "input": {}}})
    );
    assert_eq!(
        d[6],
        json!({"type": "content_block_delta", "index": 1,
               "delta": {"type": "input_json_delta", "partial_json": "{\"path\":"}})
    );
    assert_eq!(
        d[9],
        json!({"type": "content_block_start", "index": 2, "content_block":
            {"type": "tool_use", "id": "call_2", "name": "ls", "input": {}}})
    );
    assert_eq!(d[11], json!({"type": "content_block_stop", "index": 2}));
    assert_eq!(
        d[12],
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 200, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 1000, "output_tokens": 80}})
    );
    assert_eq!(d[13], json!({"type": "message_stop"}));
    assert!(t.is_finished());
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert_wire_roundtrip(&out);
}

#[test]
fn chat_to_anthropic_stream_cut_and_end_without_done() {
    // Cut by the gateway mid-text.
    let mut t = ChatToAnthropicStream::new("m");
    let mut out = feed(&mut t, &chat_stream()[..2]);
    out.extend(t.finish(Some(FinishReason::Length)));
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(datas(&out)[4]["delta"]["stop_reason"], "max_tokens");
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert!(
        t.push(&chunk(json!({"content": "late"}), Value::Null))
            .is_empty()
    );

    // Cut mid tool call: the tool block is closed too.
    let mut t = ChatToAnthropicStream::new("m");
    let mut out = feed(&mut t, &chat_stream()[3..5]);
    out.extend(t.finish(Some(FinishReason::Length)));
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(datas(&out)[4]["delta"]["stop_reason"], "max_tokens");

    // Upstream finished and sent usage but no [DONE]: finish(None) keeps its reason and usage.
    let mut t = ChatToAnthropicStream::new("m");
    let stream = chat_stream();
    let mut out = feed(&mut t, &stream[..stream.len() - 1]);
    assert_eq!(names(&out).last(), Some(&"content_block_stop"));
    out.extend(t.finish(None));
    let last = datas(&out);
    assert_eq!(last[last.len() - 2]["delta"]["stop_reason"], "tool_use");
    assert_eq!(last[last.len() - 2]["usage"]["output_tokens"], 80);

    // Nothing at all arrived: still a well-formed message.
    let mut t = ChatToAnthropicStream::new("m");
    assert_eq!(
        names(&t.finish(None)),
        ["message_start", "message_delta", "message_stop"]
    );

    // An upstream error becomes an Anthropic error event and ends the stream.
    let mut t = ChatToAnthropicStream::new("m");
    let err = SseEvent::new(None, json!({"error": {"message": "boom"}}).to_string());
    let out = t.push(&err);
    assert_eq!(
        datas(&out),
        [json!({"type": "error", "error": {"type": "api_error", "message": "boom"}})]
    );
    assert!(t.finish(None).is_empty());
}

fn anthropic_stream() -> Vec<SseEvent> {
    vec![
        anth(json!({"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 50, "cache_creation_input_tokens": 100,
                      "cache_read_input_tokens": 2000, "output_tokens": 1},
        }})),
        anth(json!({"type": "ping"})),
        anth(
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        anth(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Reading."}}),
        ),
        anth(json!({"type": "content_block_stop", "index": 0})),
        anth(
            json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}}),
        ),
        anth(json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": ""}})),
        anth(json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": "{\"file_path\":"}})),
        anth(json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": "\"a.rs\"}"}})),
        anth(json!({"type": "content_block_stop", "index": 1})),
        anth(
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                    "usage": {"output_tokens": 42}}),
        ),
        anth(json!({"type": "message_stop"})),
    ]
}

fn chat_chunk_json(delta: Value, finish: Value) -> Value {
    json!({"id": "msg_01", "object": "chat.completion.chunk", "created": 7, "model": "my-model",
           "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
           "usage": null})
}

#[test]
fn anthropic_to_chat_stream_text_tools_usage() {
    let mut t = AnthropicToChatStream::new("my-model", true).with_created(7);
    let out = feed(&mut t, &anthropic_stream());
    assert!(out.iter().all(|e| e.event.is_none()));
    let tc = |v: Value| json!({"tool_calls": [v]});
    assert_eq!(
        datas(&out),
        vec![
            chat_chunk_json(json!({"role": "assistant", "content": ""}), Value::Null),
            chat_chunk_json(json!({"content": "Reading."}), Value::Null),
            chat_chunk_json(
                tc(json!({"index": 0, "id": "toolu_1", "type": "function",
                          "function": {"name": "Read", "arguments": ""}})),
                Value::Null
            ),
            chat_chunk_json(
                tc(json!({"index": 0, "function": {"arguments": "{\"file_path\":"}})),
                Value::Null
            ),
            chat_chunk_json(
                tc(json!({"index": 0, "function": {"arguments": "\"a.rs\"}"}})),
                Value::Null
            ),
            chat_chunk_json(json!({}), json!("tool_calls")),
            json!({"id": "msg_01", "object": "chat.completion.chunk", "created": 7, "model": "my-model",
                   "choices": [],
                   "usage": {"prompt_tokens": 2150, "completion_tokens": 42, "total_tokens": 2192,
                             "prompt_tokens_details": {"cached_tokens": 2000},
                             "completion_tokens_details": {"reasoning_tokens": 0}}}),
            json!("[DONE]"),
        ]
    );
    assert_eq!(&out.last().unwrap().raw[..], b"data: [DONE]\n\n");
    assert!(t.finish(None).is_empty());
    assert_wire_roundtrip(&out);

    // Without include_usage: no usage chunk, no `usage` keys.
    let mut t = AnthropicToChatStream::new("my-model", false).with_created(7);
    let out = datas(&feed(&mut t, &anthropic_stream()));
    assert_eq!(out.len(), 7);
    assert!(out.iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn anthropic_to_chat_stream_cut_and_error() {
    let mut t = AnthropicToChatStream::new("my-model", true).with_created(7);
    let mut out = feed(&mut t, &anthropic_stream()[..4]);
    out.extend(t.finish(Some(FinishReason::Length)));
    let d = datas(&out);
    assert_eq!(d.len(), 5);
    assert_eq!(d[2], chat_chunk_json(json!({}), json!("length")));
    assert_eq!(d[3]["usage"]["prompt_tokens"], 2150);
    assert_eq!(d[4], json!("[DONE]"));
    assert!(t.finish(Some(FinishReason::Length)).is_empty());

    let mut t = AnthropicToChatStream::new("my-model", false);
    let err = anth(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    assert_eq!(
        datas(&t.push(&err)),
        [
            json!({"error": {"message": "Overloaded", "type": "overloaded_error", "param": null, "code": null}})
        ]
    );
    assert!(t.is_finished());
}

#[test]
fn chat_to_responses_stream_text_tools_usage() {
    let mut t = ChatToResponsesStream::new(&responses_request());
    let out = feed(&mut t, &chat_stream());
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let d = datas(&out);
    for (i, (name, data)) in names(&out).iter().zip(&d).enumerate() {
        assert_eq!(data["type"], *name);
        assert_eq!(data["sequence_number"], i);
    }
    assert_eq!(
        d[0],
        json!({"type": "response.created", "sequence_number": 0,
               "response": echoed("resp_abc123", "in_progress", Value::Null, json!([]), Value::Null)})
    );
    assert_eq!(
        d[2],
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
               "item": {"id": "msg_abc123_0", "type": "message", "status": "in_progress",
                        "role": "assistant", "content": []}})
    );
    assert_eq!(
        d[4],
        json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_abc123_0",
               "output_index": 0, "content_index": 0, "delta": "Let me ", "logprobs": []})
    );
    assert_eq!(
        d[6],
        json!({"type": "response.output_text.done", "sequence_number": 6, "item_id": "msg_abc123_0",
               "output_index": 0, "content_index": 0, "text": "Let me look.", "logprobs": []})
    );
    assert_eq!(
        d[9],
        json!({"type": "response.output_item.added", "sequence_number": 9, "output_index": 1,
               "item": {"id": "fc_abc123_1", "type": "function_call", "status": "in_progress",
                        "arguments": "", "call_id": "call_1", "name": "read_file"}})
    );
    assert_eq!(
        d[10],
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 10,
               "item_id": "fc_abc123_1", "output_index": 1, "delta": "{\"path\":"})
    );
    assert_eq!(
        d[12],
        json!({"type": "response.function_call_arguments.done", "sequence_number": 12,
               "item_id": "fc_abc123_1", "output_index": 1, "name": "read_file",
               "arguments": "{\"path\":\"a.rs\"}"})
    );
    let output = json!([
        {"id": "msg_abc123_0", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
        {"id": "fc_abc123_1", "type": "function_call", "status": "completed",
         "arguments": "{\"path\":\"a.rs\"}", "call_id": "call_1", "name": "read_file"},
        {"id": "fc_abc123_2", "type": "function_call", "status": "completed",
         "arguments": "{}", "call_id": "call_2", "name": "ls"},
    ]);
    assert_eq!(
        d[18],
        json!({"type": "response.completed", "sequence_number": 18,
               "response": echoed("resp_abc123", "completed", Value::Null, output, responses_usage())})
    );
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert_wire_roundtrip(&out);
}

#[test]
fn chat_to_responses_stream_cut_and_error() {
    let mut t = ChatToResponsesStream::new(&responses_request());
    let mut out = feed(&mut t, &chat_stream()[..5]);
    out.extend(t.finish(Some(FinishReason::Length)));
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.incomplete",
        ]
    );
    let last = datas(&out).pop().unwrap();
    assert_eq!(last["sequence_number"], 13);
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["output"][1]["arguments"], "{\"path\":");
    assert_eq!(last["response"]["usage"], Value::Null);
    assert!(t.finish(Some(FinishReason::Length)).is_empty());
    assert!(t.push(&done()).is_empty());

    let mut t = ChatToResponsesStream::new(&responses_request());
    let mut out = t.push(&chat_stream()[1]);
    let err = json!({"error": {"message": "context too long", "code": "context_length_exceeded"}});
    out.extend(t.push(&SseEvent::new(None, err.to_string())));
    let n = names(&out);
    assert_eq!(n[n.len() - 1], "response.failed");
    let failed = datas(&out).pop().unwrap();
    assert_eq!(
        failed["response"]["error"],
        json!({"code": "context_length_exceeded", "message": "context too long"})
    );
    assert_eq!(failed["response"]["status"], "failed");
    assert!(t.finish(None).is_empty());
}
