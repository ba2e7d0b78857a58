"""The official `anthropic` SDK's Messages client against the gateway (pass-through to the
scripted provider), streaming and not, tool use and prompt caching included."""

from __future__ import annotations

import json

from conftest import PRICE_CLAUDE, Usage, assert_ledger, text_step, tool_step

MODEL = "claude-test"
UPSTREAM = "claude-upstream-x"
MESSAGES = [{"role": "user", "content": "Say hello."}]

TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file of the repository.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
    {
        "name": "grep",
        "description": "Search the repository.",
        "input_schema": {
            "type": "object",
            "properties": {"pattern": {"type": "string"}, "max": {"type": "integer"}},
            "required": ["pattern"],
        },
    },
]

SYSTEM_CACHED = [{"type": "text", "text": "You are a careful engineer. " * 20,
                  "cache_control": {"type": "ephemeral"}}]


def test_messages_non_streaming_with_cache_read_and_write(stack):
    # 5000 prompt tokens: 3000 read from the cache, 1500 written to it, 500 plain.
    usage = Usage(input_tokens=5000, output_tokens=64, cached_input_tokens=3000,
                  cache_write_tokens=1500)
    s = stack([text_step("Hello from the cache.", usage)])
    tok = s.mint()
    client = s.anthropic(tok.token)

    m = client.messages.create(model=MODEL, max_tokens=1024, system=SYSTEM_CACHED,
                               messages=MESSAGES)

    assert m.type == "message" and m.role == "assistant"
    assert [b.type for b in m.content] == ["text"]
    assert m.content[0].text == "Hello from the cache."
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens == 500
    assert m.usage.cache_read_input_tokens == 3000
    assert m.usage.cache_creation_input_tokens == 1500
    assert m.usage.output_tokens == 64

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/messages"
    assert req["body"]["model"] == UPSTREAM
    assert req["body"]["system"] == SYSTEM_CACHED
    assert req["body"]["max_tokens"] == 1024
    assert tok.token not in json.dumps(req), "the gateway token leaked upstream"

    assert_ledger(s, [(usage, PRICE_CLAUDE)])


def test_messages_stream_helper_with_cache_does_not_double_count(stack):
    usage = Usage(input_tokens=8000, output_tokens=250, cached_input_tokens=6000,
                  cache_write_tokens=1200)
    text = "A streamed answer that reads from and writes to the prompt cache."
    s = stack([text_step(text, usage)])
    client = s.anthropic(s.mint().token)

    with client.messages.stream(model=MODEL, max_tokens=2048, system=SYSTEM_CACHED,
                                messages=MESSAGES) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert streamed == text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    # message_start carries the input side and 1 output token; message_delta carries the
    # cumulative output. The SDK replaces, it does not add; so must the ledger.
    assert final.usage.input_tokens == 800
    assert final.usage.cache_read_input_tokens == 6000
    assert final.usage.cache_creation_input_tokens == 1200
    assert final.usage.output_tokens == 250

    assert_ledger(s, [(usage, PRICE_CLAUDE)])


def test_messages_raw_stream_events(stack):
    usage = Usage(input_tokens=90, output_tokens=7, cached_input_tokens=40,
                  cache_write_tokens=30)
    s = stack([text_step("Raw events, seven tokens long here.", usage)])
    client = s.anthropic(s.mint().token)

    events = list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES,
                                         stream=True))

    types = [e.type for e in events]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert types.count("message_delta") == 1
    start = events[0].message.usage
    assert (start.input_tokens, start.cache_read_input_tokens,
            start.cache_creation_input_tokens) == (20, 40, 30)
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.output_tokens == 7
    text = "".join(e.delta.text for e in events
                   if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == "Raw events, seven tokens long here."

    assert_ledger(s, [(usage, PRICE_CLAUDE)])


def test_messages_tool_use_non_streaming(stack):
    usage = Usage(input_tokens=700, output_tokens=45, cached_input_tokens=600)
    calls = [("toolu_read_1", "read_file", {"path": "Cargo.toml"}),
             ("toolu_grep_2", "grep", {"pattern": "fn settle", "max": 5})]
    s = stack([tool_step(calls, usage, text="I'll look.")])
    client = s.anthropic(s.mint().token)

    m = client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, tools=TOOLS,
                               tool_choice={"type": "auto"})

    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["text", "tool_use", "tool_use"]
    assert m.content[0].text == "I'll look."
    assert [(b.id, b.name, b.input) for b in m.content[1:]] == calls

    (req,) = s.upstream_requests()
    assert req["body"]["tools"] == TOOLS

    assert_ledger(s, [(usage, PRICE_CLAUDE)])


def test_messages_tool_use_streaming_then_tool_result(stack):
    u1 = Usage(input_tokens=1200, output_tokens=38, cached_input_tokens=1000,
               cache_write_tokens=100)
    u2 = Usage(input_tokens=1300, output_tokens=12, cached_input_tokens=1100)
    args = {"pattern": "reserve\\(", "max": 20}
    s = stack([
        tool_step([("toolu_stream_1", "grep", args)], u1),
        text_step("Found two callers.", u2),
    ])
    client = s.anthropic(s.mint().token)

    with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES,
                                tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_message()

    assert any(e.type == "input_json" for e in events)
    assert final.stop_reason == "tool_use"
    (block,) = final.content
    assert (block.type, block.id, block.name, block.input) == (
        "tool_use", "toolu_stream_1", "grep", args)
    assert final.usage.output_tokens == 38
    assert final.usage.cache_creation_input_tokens == 100

    history = MESSAGES + [
        {"role": "assistant", "content": [b.model_dump() for b in final.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id,
                                      "content": "src/a.rs\nsrc/b.rs"}]},
    ]
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=history,
                                tools=TOOLS) as stream:
        assert "".join(stream.text_stream) == "Found two callers."

    reqs = s.upstream_requests()
    assert reqs[1]["body"]["messages"][-1]["content"][0]["tool_use_id"] == "toolu_stream_1"

    assert_ledger(s, [(u1, PRICE_CLAUDE), (u2, PRICE_CLAUDE)])
