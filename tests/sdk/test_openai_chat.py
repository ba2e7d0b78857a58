"""The official `openai` SDK's Chat Completions client against the gateway (pass-through to
the scripted provider), streaming and not, tools included."""

from __future__ import annotations

import json

from conftest import PRICE_GPT, Usage, assert_ledger, call_cost, text_step, tool_step

MODEL = "gpt-test"
UPSTREAM = "gpt-upstream-x"
MESSAGES = [{"role": "user", "content": "Say hello."}]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the repository.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_tests",
            "description": "Run the test suite.",
            "parameters": {
                "type": "object",
                "properties": {"filter": {"type": "string"}, "verbose": {"type": "boolean"}},
            },
        },
    },
]


def test_chat_non_streaming_text_and_usage(stack):
    usage = Usage(input_tokens=1234, output_tokens=57, cached_input_tokens=1000,
                  reasoning_tokens=40)
    s = stack([text_step("Hello there, friend.", usage)])
    tok = s.mint()
    client = s.openai(tok.token)

    r = client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert r.choices[0].message.content == "Hello there, friend."
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.tool_calls is None
    assert r.usage is not None
    assert r.usage.prompt_tokens == 1234
    assert r.usage.completion_tokens == 57
    assert r.usage.total_tokens == 1234 + 57
    assert r.usage.prompt_tokens_details.cached_tokens == 1000
    assert r.usage.completion_tokens_details.reasoning_tokens == 40

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == UPSTREAM
    assert req["body"]["messages"] == MESSAGES
    # The client's own secret never travels upstream.
    assert tok.token not in json.dumps(req)

    assert_ledger(s, [(usage, PRICE_GPT)])
    rows = s.ledger_rows("token")
    assert list(rows) == [tok.id]
    assert rows[tok.id]["calls"] == 1


def test_chat_streaming_without_include_usage_hides_the_usage_chunk(stack):
    usage = Usage(input_tokens=321, output_tokens=6, cached_input_tokens=256)
    text = "One two three four five six."
    s = stack([text_step(text, usage)])
    client = s.openai(s.mint().token)

    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))

    assert chunks, "no chunks"
    assert all(c.usage is None for c in chunks), [c.usage for c in chunks]
    assert all(c.choices for c in chunks), "a chunk with no choices reached the client"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]

    # The gateway asked the upstream for usage anyway, to meter the call.
    (req,) = s.upstream_requests()
    assert req["body"]["stream"] is True
    assert req["body"]["stream_options"]["include_usage"] is True

    assert_ledger(s, [(usage, PRICE_GPT)])


def test_chat_streaming_with_include_usage_shows_one_usage_chunk(stack):
    usage = Usage(input_tokens=900, output_tokens=75, cached_input_tokens=512,
                  reasoning_tokens=60)
    text = "Streaming with usage at the end."
    s = stack([text_step(text, usage)])
    client = s.openai(s.mint().token)

    chunks = list(client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}))

    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1, with_usage
    last = chunks[-1]
    assert last is with_usage[0], "the usage chunk is not the last one"
    assert last.choices == []
    assert last.usage.prompt_tokens == 900
    assert last.usage.completion_tokens == 75
    assert last.usage.prompt_tokens_details.cached_tokens == 512
    assert last.usage.completion_tokens_details.reasoning_tokens == 60
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text

    assert_ledger(s, [(usage, PRICE_GPT)])


def test_chat_tools_non_streaming(stack):
    usage = Usage(input_tokens=410, output_tokens=33)
    calls = [
        ("call_read_1", "read_file", {"path": "src/lib.rs"}),
        ("call_tests_2", "run_tests", {"filter": "ledger::", "verbose": True}),
    ]
    s = stack([tool_step(calls, usage)])
    client = s.openai(s.mint().token)

    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS,
                                       tool_choice="auto")

    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    got = [(c.id, c.type, c.function.name, json.loads(c.function.arguments))
           for c in choice.message.tool_calls]
    assert got == [(cid, "function", name, args) for cid, name, args in calls]

    (req,) = s.upstream_requests()
    assert req["body"]["tools"] == TOOLS
    assert req["body"]["tool_choice"] == "auto"

    assert_ledger(s, [(usage, PRICE_GPT)])


def test_chat_tools_streaming_with_the_stream_helper(stack):
    usage = Usage(input_tokens=777, output_tokens=48, cached_input_tokens=640)
    args = {"path": "crates/nightshift-gateway/src/relay.rs", "lines": [1, 2, 3]}
    s = stack([tool_step([("call_stream_1", "read_file", args)], usage,
                         text="Let me look at that file.")])
    client = s.openai(s.mint().token)

    with client.chat.completions.stream(model=MODEL, messages=MESSAGES, tools=TOOLS,
                                        stream_options={"include_usage": True}) as stream:
        events = list(stream)
        final = stream.get_final_completion()

    kinds = {e.type for e in events}
    assert {"content.delta", "tool_calls.function.arguments.delta",
            "tool_calls.function.arguments.done"} <= kinds, kinds
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.name, json.loads(e.arguments)) for e in done] == [("read_file", args)]

    msg = final.choices[0].message
    assert msg.content == "Let me look at that file."
    assert final.choices[0].finish_reason == "tool_calls"
    (call,) = msg.tool_calls
    assert call.id == "call_stream_1"
    assert call.function.name == "read_file"
    assert json.loads(call.function.arguments) == args
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (777, 48)

    assert_ledger(s, [(usage, PRICE_GPT)])


def test_chat_tool_round_trip_two_calls_two_tokens(stack):
    """An agent loop: the model asks for a tool, the client answers it, the model answers.
    Two tokens share the gateway; the ledger keeps their spend apart."""
    u1 = Usage(input_tokens=500, output_tokens=21, cached_input_tokens=128)
    u2 = Usage(input_tokens=640, output_tokens=12, cached_input_tokens=500, reasoning_tokens=5)
    u3 = Usage(input_tokens=50, output_tokens=3)
    s = stack([
        tool_step([("call_rt_1", "read_file", {"path": "README.md"})], u1),
        text_step("The README says hello.", u2),
        text_step("Other token.", u3),
    ])
    alice, bob = s.mint(label="alice"), s.mint(label="bob")
    client = s.openai(alice.token)

    first = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    history = MESSAGES + [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "# hello"},
    ]
    stream = client.chat.completions.create(model=MODEL, messages=history, tools=TOOLS,
                                            stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "The README says hello."

    other = s.openai(bob.token).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert other.choices[0].message.content == "Other token."

    reqs = s.upstream_requests()
    assert len(reqs) == 3
    sent = reqs[1]["body"]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_rt_1", "content": "# hello"}
    assert sent[-2]["tool_calls"][0]["id"] == "call_rt_1"

    assert_ledger(s, [(u1, PRICE_GPT), (u2, PRICE_GPT), (u3, PRICE_GPT)])
    by_token = s.ledger_rows("token")
    assert by_token[alice.id]["calls"] == 2
    assert by_token[alice.id]["settled_nanos"] == call_cost(u1, PRICE_GPT) + call_cost(u2, PRICE_GPT)
    assert by_token[bob.id]["calls"] == 1
    assert by_token[bob.id]["settled_nanos"] == call_cost(u3, PRICE_GPT)
    by_label = s.ledger_rows("label")
    assert set(by_label) == {"alice", "bob"}
