"""What the SDKs see when the upstream misbehaves, and what the ledger keeps: retries are
invisible and billed once, upstream errors arrive in the client's own format and cost
nothing, and a client that hangs up mid-stream still leaves an exact ledger row."""

from __future__ import annotations

import time

import anthropic
import openai
import pytest

from conftest import (PRICE_CLAUDE, PRICE_COMPAT, PRICE_GPT, Usage, assert_ledger, call_cost,
                      text_step)

MSG = [{"role": "user", "content": "hi"}]


def test_retried_429_is_invisible_and_billed_once(stack):
    usage = Usage(input_tokens=210, output_tokens=14, cached_input_tokens=200)
    s = stack([
        {"error": {"status": 429, "retry_after": "0"}},
        text_step("After a retry.", usage),
        {"error": {"status": 503}},
        text_step("After another retry.", usage),
    ])
    tok = s.mint()

    r = s.openai(tok.token).chat.completions.create(model="gpt-test", messages=MSG)
    assert r.choices[0].message.content == "After a retry."
    with s.anthropic(tok.token).messages.stream(model="claude-test", max_tokens=100,
                                                messages=MSG) as st:
        assert "".join(st.text_stream) == "After another retry."

    assert s.served() == 4
    assert_ledger(s, [(usage, PRICE_GPT), (usage.as_reported_by("messages"), PRICE_CLAUDE)])


def test_upstream_4xx_reaches_each_sdk_in_its_own_format_and_costs_nothing(stack):
    s = stack([
        {"error": {"status": 400}},  # Chat upstream, Chat client
        {"error": {"status": 400}},  # Chat upstream (compat), Anthropic client
        {"error": {"status": 400}},  # Messages upstream (claude-native), Chat client
    ])
    tok = s.mint()

    with pytest.raises(openai.BadRequestError) as e1:
        s.openai(tok.token).chat.completions.create(model="gpt-test", messages=MSG)
    assert e1.value.status_code == 400
    assert "scripted error" in e1.value.message

    with pytest.raises(anthropic.BadRequestError) as e2:
        s.anthropic(tok.token).messages.create(model="compat-test", max_tokens=10,
                                               messages=MSG)
    assert e2.value.body["type"] == "error"
    assert e2.value.body["error"]["type"] == "invalid_request_error"
    assert "scripted error" in e2.value.body["error"]["message"]

    with pytest.raises(openai.BadRequestError) as e3:
        for _ in s.openai(tok.token).chat.completions.create(model="claude-native",
                                                             messages=MSG, stream=True):
            pass
    assert e3.value.body["type"] == "invalid_request_error"
    assert "scripted error" in e3.value.body["message"]

    rows = s.ledger_rows("outcome")
    assert set(rows) == {"upstream_error"}
    assert rows["upstream_error"]["calls"] == 3
    assert rows["upstream_error"]["settled_nanos"] == 0


def wait_for_ledger_calls(s, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while s.ledger_total()["calls"] < n:
        assert time.monotonic() < deadline, "the ledger row never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("client_kind", ["openai", "anthropic"])
def test_client_hanging_up_mid_stream_is_still_settled_exactly(stack, client_kind):
    usage = Usage(input_tokens=3000, output_tokens=40, cached_input_tokens=2048,
                  cache_write_tokens=512)
    words = " ".join(f"w{i}" for i in range(40))
    # Slow enough that the client is gone long before the upstream finishes.
    s = stack([text_step(words, usage, chunk_delay_ms=15)])
    tok = s.mint()

    if client_kind == "openai":
        model, price, fmt = "compat-test", PRICE_COMPAT, "chat"
        stream = s.openai(tok.token).chat.completions.create(model=model, messages=MSG,
                                                             stream=True)
        first = next(iter(stream))
        assert first.choices
        stream.close()
    else:
        model, price, fmt = "claude-test", PRICE_CLAUDE, "messages"
        stream = s.anthropic(tok.token).messages.create(model=model, max_tokens=500,
                                                        messages=MSG, stream=True)
        first = next(iter(stream))
        assert first.type == "message_start"
        stream.close()

    wait_for_ledger_calls(s, 1)
    expected = usage.as_reported_by(fmt)
    assert_ledger(s, [(expected, price)])
    outcomes = s.ledger_rows("outcome")
    assert set(outcomes) <= {"ok", "client_abort"}, outcomes
    assert sum(r["settled_nanos"] for r in outcomes.values()) == call_cost(expected, price)


def test_gateway_killed_mid_stream_leaves_one_row_billed_at_the_reservation(stack):
    """kill -9 while an SDK stream is in flight: the SDK raises a connection error, and the
    restarted gateway settles the interrupted call at its reservation (the worst case it was
    allowed to cost), exactly once."""
    usage = Usage(input_tokens=100, output_tokens=50)
    s = stack([text_step("w " * 50, usage, chunk_delay_ms=40),
               text_step("after the crash", Usage(20, 3))])
    tok = s.mint(budget_usd="1.00")
    client = s.openai(tok.token)

    stream = iter(client.chat.completions.create(
        model="gpt-test", messages=MSG, stream=True, max_tokens=1000))
    next(stream)
    next(stream)
    s.restart_gateway(kill=True)
    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            pass

    # The next call on the new gateway (a new port) works and is billed exactly.
    r = s.openai(tok.token).chat.completions.create(model="gpt-test", messages=MSG)
    assert r.choices[0].message.content == "after the crash"

    rows = s.ledger_rows("outcome")
    assert set(rows) == {"interrupted", "ok"}, rows
    interrupted = rows["interrupted"]
    assert interrupted["calls"] == 1
    worst_output = max(PRICE_GPT.nanos()["output"], PRICE_GPT.nanos()["reasoning"])
    cap_cost = -(-1000 * worst_output // 1_000_000)
    assert interrupted["settled_nanos"] > cap_cost > call_cost(usage, PRICE_GPT)
    assert rows["ok"]["calls"] == 1
    assert rows["ok"]["settled_nanos"] == call_cost(Usage(20, 3), PRICE_GPT)
