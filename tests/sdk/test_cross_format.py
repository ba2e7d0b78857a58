"""Cross-format: a client SDK speaking one wire format against a provider that speaks
another; the gateway translates both ways and meters from the upstream's own usage."""

from __future__ import annotations

import json

import pytest

from conftest import (MODELS, PROVIDER_KEY, Usage, assert_ledger, model_price, output_cap,
                      text_step, tool_step)

COMPAT = "compat-test"  # kind = "openai-compatible": Chat only
NATIVE = "claude-native"  # kind = "anthropic": Messages only

ANTHROPIC_TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file of the repository.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
]
CHAT_TOOLS = [
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
    }
]
RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "read_file",
        "description": "Read a file of the repository.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
]


def header(req: dict, name: str) -> str | None:
    return next((v for k, v in req["headers"] if k.lower() == name), None)


# ---- Anthropic SDK → openai-compatible (Chat) provider ----------------------------------

def test_anthropic_sdk_to_chat_provider_non_streaming_tool_call(stack):
    # The Chat upstream reports reasoning tokens, which Anthropic's usage cannot show: the
    # client sees them as output, the ledger prices them as reasoning.
    usage = Usage(input_tokens=900, output_tokens=31, cached_input_tokens=700,
                  reasoning_tokens=9)
    args = {"path": "src/main.rs"}
    s = stack([tool_step([("call_x_1", "read_file", args)], usage, text="Reading it.")])
    client = s.anthropic(s.mint().token)

    m = client.messages.create(model=COMPAT, max_tokens=512, system="Be brief.",
                               messages=[{"role": "user", "content": "Open main.rs"}],
                               tools=ANTHROPIC_TOOLS)

    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["text", "tool_use"]
    assert m.content[0].text == "Reading it."
    assert (m.content[1].id, m.content[1].name, m.content[1].input) == (
        "call_x_1", "read_file", args)
    # Anthropic's input_tokens excludes the cache reads.
    assert m.usage.input_tokens == 200
    assert m.usage.cache_read_input_tokens == 700
    assert m.usage.output_tokens == 31

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/chat/completions"
    body = req["body"]
    assert body["model"] == MODELS[COMPAT][1]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][-1]["role"] == "user"
    assert body["tools"][0]["function"]["name"] == "read_file"
    assert body["tools"][0]["function"]["parameters"] == ANTHROPIC_TOOLS[0]["input_schema"]
    assert body["max_tokens"] == 512

    assert_ledger(s, [(usage.as_reported_by("chat"), model_price(COMPAT))])


def test_anthropic_sdk_to_chat_provider_streaming_tool_call(stack):
    # The scripted cache-write tokens cannot be reported over Chat: they bill as input.
    usage = Usage(input_tokens=1600, output_tokens=54, cached_input_tokens=1024,
                  cache_write_tokens=100)
    args = {"path": "crates/nightshift-meter/src/budget.rs"}
    s = stack([tool_step([("call_x_2", "read_file", args)], usage,
                         text="Let me read the budget code.")])
    client = s.anthropic(s.mint().token)

    with client.messages.stream(model=COMPAT, max_tokens=700,
                                messages=[{"role": "user", "content": "Budgets?"}],
                                tools=ANTHROPIC_TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_message()

    text = "".join(e.text for e in events if e.type == "text")
    assert text == "Let me read the budget code."
    assert final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    tool = final.content[1]
    assert (tool.id, tool.name, tool.input) == ("call_x_2", "read_file", args)
    assert final.usage.output_tokens == 54
    assert final.usage.input_tokens + (final.usage.cache_read_input_tokens or 0) \
        + (final.usage.cache_creation_input_tokens or 0) == 1600
    assert final.usage.cache_read_input_tokens == 1024

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["stream"] is True
    assert req["body"]["stream_options"]["include_usage"] is True

    assert_ledger(s, [(usage.as_reported_by("chat"), model_price(COMPAT))])


# ---- OpenAI Chat SDK → anthropic (Messages) provider -------------------------------------

def test_openai_chat_sdk_to_anthropic_provider_non_streaming(stack):
    # Reasoning tokens cannot be reported over Messages: they bill as output.
    usage = Usage(input_tokens=4000, output_tokens=90, cached_input_tokens=2500,
                  cache_write_tokens=1000, reasoning_tokens=20)
    s = stack([text_step("Translated from Messages.", usage)])
    tok = s.mint()
    client = s.openai(tok.token)

    r = client.chat.completions.create(
        model=NATIVE, max_tokens=300,
        messages=[{"role": "system", "content": "Be kind."},
                  {"role": "user", "content": "Hello?"}])

    assert r.choices[0].message.content == "Translated from Messages."
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 4000
    assert r.usage.completion_tokens == 90
    assert r.usage.prompt_tokens_details.cached_tokens == 2500

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/messages"
    assert req["body"]["model"] == MODELS[NATIVE][1]
    assert req["body"]["system"] in ("Be kind.", [{"type": "text", "text": "Be kind."}])
    (msg,) = req["body"]["messages"]
    assert msg["role"] == "user"
    assert msg["content"] in ("Hello?", [{"type": "text", "text": "Hello?"}])
    assert req["body"]["max_tokens"] == 300
    # The provider's key, never the client's gateway token.
    assert header(req, "x-api-key") == PROVIDER_KEY
    assert header(req, "anthropic-version")
    assert tok.token not in json.dumps(req)

    assert_ledger(s, [(usage.as_reported_by("messages"), model_price(NATIVE))])


def test_openai_chat_sdk_to_anthropic_provider_streaming_tool_call(stack):
    usage = Usage(input_tokens=2200, output_tokens=61, cached_input_tokens=2000,
                  cache_write_tokens=150)
    args = {"path": "docs/DESIGN.md"}
    s = stack([tool_step([("toolu_native_1", "read_file", args)], usage,
                         text="Reading the design.")])
    client = s.openai(s.mint().token)

    chunks = list(client.chat.completions.create(
        model=NATIVE, messages=[{"role": "user", "content": "Design?"}], tools=CHAT_TOOLS,
        stream=True, stream_options={"include_usage": True}))

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Reading the design."
    arg_text = "".join(tc.function.arguments or ""
                       for c in chunks if c.choices
                       for tc in (c.choices[0].delta.tool_calls or []))
    assert json.loads(arg_text) == args
    ids = [tc.id for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])
           if tc.id]
    assert ids == ["toolu_native_1"]
    finishes = [c.choices[0].finish_reason for c in chunks
                if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    assert usage_chunks[0].usage.prompt_tokens == 2200
    assert usage_chunks[0].usage.completion_tokens == 61

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/messages"
    assert req["body"]["stream"] is True
    assert req["body"]["tools"][0]["name"] == "read_file"
    assert req["body"]["tools"][0]["input_schema"] == CHAT_TOOLS[0]["function"]["parameters"]

    assert_ledger(s, [(usage.as_reported_by("messages"), model_price(NATIVE))])


def test_openai_chat_sdk_to_anthropic_provider_streaming_without_usage(stack):
    usage = Usage(input_tokens=100, output_tokens=4)
    s = stack([text_step("No usage chunk please.", usage)])
    client = s.openai(s.mint().token)

    chunks = list(client.chat.completions.create(
        model=NATIVE, messages=[{"role": "user", "content": "Hi"}], stream=True))

    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "No usage chunk please."

    assert_ledger(s, [(usage.as_reported_by("messages"), model_price(NATIVE))])


# ---- OpenAI Responses SDK → openai-compatible (Chat) provider ----------------------------

def test_openai_responses_sdk_to_chat_provider_function_call(stack):
    usage = Usage(input_tokens=640, output_tokens=22, cached_input_tokens=512,
                  reasoning_tokens=10)
    args = {"path": "Cargo.lock"}
    s = stack([tool_step([("call_rc_1", "read_file", args)], usage)])
    client = s.openai(s.mint().token)

    r = client.responses.create(model=COMPAT, input="Open the lock file.",
                                instructions="Use tools.", tools=RESPONSES_TOOLS,
                                max_output_tokens=400)

    calls = [o for o in r.output if o.type == "function_call"]
    assert [(c.name, c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("read_file", "call_rc_1", args)]
    assert r.usage.input_tokens == 640
    assert r.usage.input_tokens_details.cached_tokens == 512
    assert r.usage.output_tokens == 22
    assert r.usage.output_tokens_details.reasoning_tokens == 10

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/chat/completions"
    body = req["body"]
    assert body["messages"] == [{"role": "system", "content": "Use tools."},
                                {"role": "user", "content": "Open the lock file."}]
    assert body["tools"][0]["function"]["name"] == "read_file"
    assert body["max_tokens"] == 400

    assert_ledger(s, [(usage.as_reported_by("chat"), model_price(COMPAT))])


def test_openai_responses_sdk_to_chat_provider_streaming(stack):
    u1 = Usage(input_tokens=300, output_tokens=18, cached_input_tokens=200)
    u2 = Usage(input_tokens=420, output_tokens=9, reasoning_tokens=4)
    args = {"path": "README.md"}
    s = stack([
        tool_step([("call_rs_1", "read_file", args)], u1, text="One moment."),
        text_step("The README is short.", u2),
    ])
    client = s.openai(s.mint().token)

    with client.responses.stream(model=COMPAT, input="Summarise the README.",
                                 tools=RESPONSES_TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert final.output_text == "One moment."
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.name, c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("read_file", "call_rs_1", args)]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (300, 18)

    # Hand the result back, streamed with create(stream=True).
    events2 = list(client.responses.create(
        model=COMPAT, stream=True, tools=RESPONSES_TOOLS,
        input=[{"role": "user", "content": "Summarise the README."},
               {"type": "function_call", "call_id": "call_rs_1", "name": "read_file",
                "arguments": json.dumps(args)},
               {"type": "function_call_output", "call_id": "call_rs_1", "output": "# hi"}]))
    text = "".join(e.delta for e in events2 if e.type == "response.output_text.delta")
    assert text == "The README is short."
    done = [e for e in events2 if e.type == "response.completed"]
    assert len(done) == 1 and done[0].response.usage.output_tokens == 9

    reqs = s.upstream_requests()
    assert [r["path"] for r in reqs] == ["/v1/chat/completions"] * 2
    sent = reqs[1]["body"]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_rs_1", "content": "# hi"}
    assert sent[-2]["tool_calls"][0]["id"] == "call_rs_1"

    assert_ledger(s, [(u1.as_reported_by("chat"), model_price(COMPAT)),
                      (u2.as_reported_by("chat"), model_price(COMPAT))])


# Regression: Responses->Chat translation used to drop `strict` from function tools, so a
# strict-schema tool quietly became non-strict upstream.
def test_openai_responses_sdk_strict_tool_keeps_strict_over_chat(stack):
    usage = Usage(input_tokens=100, output_tokens=10)
    s = stack([tool_step([("call_strict", "read_file", {"path": "a"})], usage)])
    client = s.openai(s.mint().token)
    strict_tool = {
        "type": "function",
        "name": "read_file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                       "required": ["path"], "additionalProperties": False},
        "strict": True,
    }

    client.responses.create(model=COMPAT, input="x", tools=[strict_tool])

    (req,) = s.upstream_requests()
    assert req["body"]["tools"][0]["function"].get("strict") is True, req["body"]["tools"]


@pytest.mark.parametrize("client_kind,model,upstream_format,stream", [
    ("chat", "gpt-test", "chat", False),
    ("chat", "claude-native", "messages", True),
    ("responses", "gpt-test", "responses", True),
    ("responses", "compat-test", "chat", False),
    ("messages", "claude-test", "messages", True),
    ("messages", "compat-test", "chat", False),
])
def test_client_output_cap_reaches_the_upstream_in_every_format(stack, client_kind, model,
                                                                upstream_format, stream):
    """The client's own output cap travels (translated) to the upstream, the answer says it
    was cut in the client's words, and the ledger bills the capped usage."""
    usage = Usage(input_tokens=150, output_tokens=60, cached_input_tokens=50,
                  reasoning_tokens=10)
    cap = 25
    s = stack([text_step("w " * 60, usage)])
    tok = s.mint()
    msgs = [{"role": "user", "content": "Write a lot."}]

    if client_kind == "chat":
        c = s.openai(tok.token)
        if stream:
            chunks = list(c.chat.completions.create(model=model, messages=msgs, max_tokens=cap,
                                                    stream=True))
            text = "".join(x.choices[0].delta.content or "" for x in chunks if x.choices)
            finish = [x.choices[0].finish_reason for x in chunks
                      if x.choices and x.choices[0].finish_reason]
        else:
            r = c.chat.completions.create(model=model, messages=msgs, max_tokens=cap)
            text, finish = r.choices[0].message.content, [r.choices[0].finish_reason]
        assert finish == ["length"]
    elif client_kind == "responses":
        c = s.openai(tok.token)
        if stream:
            events = list(c.responses.create(model=model, input="Write a lot.",
                                             max_output_tokens=cap, stream=True))
            assert events[-1].type == "response.incomplete"
            r = events[-1].response
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        else:
            r = c.responses.create(model=model, input="Write a lot.", max_output_tokens=cap)
            text = r.output_text
        assert r.status == "incomplete"
        assert r.incomplete_details.reason == "max_output_tokens"
        assert r.usage.output_tokens == cap
    else:
        c = s.anthropic(tok.token)
        if stream:
            with c.messages.stream(model=model, max_tokens=cap, messages=msgs) as st:
                text = "".join(st.text_stream)
                m = st.get_final_message()
        else:
            m = c.messages.create(model=model, max_tokens=cap, messages=msgs)
            text = m.content[0].text
        assert m.stop_reason == "max_tokens"
        assert m.usage.output_tokens == cap
    assert text == "w " * cap

    (req,) = s.upstream_requests()
    assert output_cap(req["body"]) == cap
    assert_ledger(s, [(usage.as_reported_by(upstream_format).capped(cap), model_price(model))])
