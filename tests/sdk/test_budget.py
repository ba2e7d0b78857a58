"""Budgets seen from the SDKs: calls succeed (their output clamped to what the budget can
still pay) until the gateway refuses with 402 in the client's own error format; the ledger
never holds more than the budget."""

from __future__ import annotations

import anthropic
import openai
import pytest

from conftest import (PRICE_CLAUDE, PRICE_GPT, Usage, call_cost, format_usd, output_cap,
                      text_step, usd_to_nanos)

MAX_CALLS = 40
DEFAULT_OUTPUT_CAP = 16_384


def ok_and_refused(s) -> tuple[dict, dict | None]:
    rows = s.ledger_rows("outcome")
    assert set(rows) <= {"ok", "refused"}, rows
    return rows["ok"], rows.get("refused")


def expected_from_upstream(s, usage: Usage, price, upstream_format: str):
    """What each call that reached the upstream cost: the scripted usage, capped at the
    output cap the gateway sent (the scripted provider honours it)."""
    used = [usage.as_reported_by(upstream_format).capped(output_cap(r["body"]))
            for r in s.upstream_requests()]
    return used, [call_cost(u, price) for u in used]


def check_refusal_message(message: str, label: str, budget_nanos: int, spent: int) -> None:
    assert f"budget `{label}`" in message, message
    assert f"{format_usd(budget_nanos - spent)} left of {format_usd(budget_nanos)}" in message, (
        message, format_usd(budget_nanos - spent))


def test_openai_sdk_budget_exhaustion(stack):
    budget_usd = "0.01"  # a few calls at these prices
    budget = usd_to_nanos(budget_usd)
    usage = Usage(input_tokens=400, output_tokens=300, cached_input_tokens=100,
                  reasoning_tokens=50)
    s = stack([text_step("word " * 300, usage)], cycle=True)
    tok = s.mint(budget_usd=budget_usd, label="tiny-openai")
    client = s.openai(tok.token)

    finishes = []
    refusal = None
    for i in range(MAX_CALLS):
        try:
            if i % 2 == 0:
                r = client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": "Write."}])
                finishes.append(r.choices[0].finish_reason)
            else:
                chunks = list(client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": "Write."}],
                    stream=True, stream_options={"include_usage": True}))
                finishes.append(next(c.choices[0].finish_reason for c in chunks
                                     if c.choices and c.choices[0].finish_reason))
        except openai.APIStatusError as e:
            refusal = e
            break
    assert refusal is not None, f"no refusal after {MAX_CALLS} calls"
    assert finishes, "the first call was already refused"

    e = refusal
    assert type(e) is openai.APIStatusError  # 402 has no subclass in the SDK
    assert e.status_code == 402
    assert e.code == "budget_exhausted"
    assert e.type == "insufficient_quota"
    assert e.body["code"] == "budget_exhausted"

    # The refused call never reached the upstream.
    assert s.served() == len(finishes)
    used, costs = expected_from_upstream(s, usage, PRICE_GPT, "chat")
    caps = [output_cap(r["body"]) for r in s.upstream_requests()]
    # Every call was clamped to what the budget could pay, well under the default cap, and
    # the SDK saw `length` exactly where the clamp cut the scripted output.
    assert all(c is not None and c < DEFAULT_OUTPUT_CAP for c in caps), caps
    assert finishes == ["length" if c < usage.output_tokens else "stop" for c in caps]

    ok, refused = ok_and_refused(s)
    assert ok["calls"] == len(finishes)
    assert ok["input_tokens"] == sum(u.input_tokens for u in used)
    assert ok["cached_input_tokens"] == sum(u.cached_input_tokens for u in used)
    assert ok["output_tokens"] == sum(u.output_tokens for u in used)
    assert ok["reasoning_tokens"] == sum(u.reasoning_tokens for u in used)
    assert ok["settled_nanos"] == sum(costs)
    assert refused is not None and refused["calls"] == 1 and refused["settled_nanos"] == 0
    total = s.ledger_total("token")
    assert total["settled_nanos"] == sum(costs) <= budget

    check_refusal_message(e.message, "tiny-openai", budget, sum(costs))


def test_anthropic_sdk_budget_exhaustion(stack):
    budget_usd = "0.02"
    budget = usd_to_nanos(budget_usd)
    usage = Usage(input_tokens=900, output_tokens=400, cached_input_tokens=500,
                  cache_write_tokens=300)
    s = stack([text_step("token " * 400, usage)], cycle=True)
    tok = s.mint(budget_usd=budget_usd, label="tiny-anthropic")
    client = s.anthropic(tok.token)

    stops = []
    refusal = None
    for i in range(MAX_CALLS):
        try:
            if i % 2 == 0:
                with client.messages.stream(model="claude-test", max_tokens=4096,
                                            messages=[{"role": "user", "content": "Go"}]) as st:
                    stops.append(st.get_final_message().stop_reason)
            else:
                m = client.messages.create(model="claude-test", max_tokens=4096,
                                           messages=[{"role": "user", "content": "Go"}])
                stops.append(m.stop_reason)
        except anthropic.APIStatusError as e:
            refusal = e
            break
    assert refusal is not None, f"no refusal after {MAX_CALLS} calls"
    assert stops, "the first call was already refused"

    e = refusal
    assert isinstance(e, anthropic.APIStatusError)
    assert e.status_code == 402
    assert e.body["type"] == "error"
    assert e.body["error"]["type"] == "billing_error"

    assert s.served() == len(stops)
    used, costs = expected_from_upstream(s, usage, PRICE_CLAUDE, "messages")
    caps = [output_cap(r["body"]) for r in s.upstream_requests()]
    assert all(c is not None and c <= 4096 for c in caps), caps
    assert stops == ["max_tokens" if c < usage.output_tokens else "end_turn" for c in caps]

    ok, refused = ok_and_refused(s)
    assert ok["calls"] == len(stops)
    assert ok["input_tokens"] == sum(u.input_tokens for u in used)
    assert ok["cached_input_tokens"] == sum(u.cached_input_tokens for u in used)
    assert ok["cache_write_tokens"] == sum(u.cache_write_tokens for u in used)
    assert ok["output_tokens"] == sum(u.output_tokens for u in used)
    assert ok["settled_nanos"] == sum(costs) <= budget
    assert refused is not None and refused["calls"] == 1

    check_refusal_message(e.body["error"]["message"], "tiny-anthropic", budget, sum(costs))


def test_nested_budget_refusal_names_the_parent(stack):
    parent_usd = "0.008"
    parent_budget = usd_to_nanos(parent_usd)
    usage = Usage(input_tokens=500, output_tokens=100)
    s = stack([text_step("x " * 100, usage)], cycle=True)
    shift = s.mint(budget_usd=parent_usd, label="shift-a")
    job = s.mint(budget_usd="5.00", label="job-1", parent=shift.id)
    client = s.openai(job.token)

    n_ok = 0
    with pytest.raises(openai.APIStatusError) as info:
        for _ in range(MAX_CALLS):
            client.chat.completions.create(model="gpt-test",
                                           messages=[{"role": "user", "content": "x"}])
            n_ok += 1
    assert info.value.status_code == 402
    assert n_ok >= 1

    _, costs = expected_from_upstream(s, usage, PRICE_GPT, "chat")
    assert len(costs) == n_ok
    check_refusal_message(info.value.message, "shift-a", parent_budget, sum(costs))

    by_label = s.ledger_rows("label")
    assert list(by_label) == ["shift-a/job-1"]
    assert by_label["shift-a/job-1"]["calls"] == n_ok + 1  # the refusal has its row
    assert by_label["shift-a/job-1"]["settled_nanos"] == sum(costs) <= parent_budget


def test_zero_budget_refuses_streams_before_any_upstream_call(stack):
    s = stack([text_step("never sent", Usage(10, 2))])
    tok = s.mint(budget_usd="0", label="empty")
    oa = s.openai(tok.token)
    an = s.anthropic(tok.token)

    with pytest.raises(openai.APIStatusError) as e1:
        for _ in oa.chat.completions.create(model="gpt-test", stream=True,
                                            messages=[{"role": "user", "content": "x"}]):
            pass
    assert e1.value.status_code == 402 and e1.value.code == "budget_exhausted"

    with pytest.raises(openai.APIStatusError) as e2:
        with oa.responses.stream(model="gpt-test", input="x") as st:
            list(st)
    assert e2.value.status_code == 402

    with pytest.raises(anthropic.APIStatusError) as e3:
        with an.messages.stream(model="claude-test", max_tokens=10,
                                messages=[{"role": "user", "content": "x"}]) as st:
            list(st)
    assert e3.value.status_code == 402
    assert e3.value.body["error"]["type"] == "billing_error"
    assert "budget `empty`" in e3.value.body["error"]["message"]

    assert s.served() == 0
    ok, refused = s.ledger_rows("outcome").get("ok"), s.ledger_rows("outcome")["refused"]
    assert ok is None
    assert refused["calls"] == 3 and refused["settled_nanos"] == 0


def test_concurrent_sdk_clients_never_overspend(stack):
    """Eight threads, both SDKs, one budget: the ledger holds exactly what the upstream
    reported for the calls it served (each clamped to what was left), and never more than
    the budget."""
    from concurrent.futures import ThreadPoolExecutor

    budget_usd = "0.05"
    budget = usd_to_nanos(budget_usd)
    usage = Usage(input_tokens=700, output_tokens=350, cached_input_tokens=300,
                  cache_write_tokens=100, reasoning_tokens=30)
    s = stack([text_step("t " * 350, usage)], cycle=True)
    tok = s.mint(budget_usd=budget_usd, label="shared")

    def worker(i: int) -> tuple[int, int]:
        ok = refused = 0
        oa, an = s.openai(tok.token), s.anthropic(tok.token)
        for j in range(MAX_CALLS):
            try:
                if (i + j) % 3 == 0:
                    list(oa.chat.completions.create(model="gpt-test", messages=[
                        {"role": "user", "content": "go"}], stream=True))
                elif (i + j) % 3 == 1:
                    oa.responses.create(model="gpt-test", input="go")
                else:
                    with an.messages.stream(model="claude-test", max_tokens=1000,
                                            messages=[{"role": "user", "content": "go"}]) as st:
                        st.get_final_message()
                ok += 1
            except (openai.APIStatusError, anthropic.APIStatusError) as e:
                assert e.status_code == 402, e
                refused += 1
                if refused >= 3:
                    break
        return ok, refused

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    n_ok = sum(r[0] for r in results)
    n_refused = sum(r[1] for r in results)
    assert n_ok >= 1 and n_refused == 24

    reqs = s.upstream_requests()
    assert len(reqs) == n_ok == s.served()
    fmt = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "messages"}
    price = {"gpt-upstream-x": PRICE_GPT, "claude-upstream-x": PRICE_CLAUDE}
    used = [(usage.as_reported_by(fmt[r["path"]]).capped(output_cap(r["body"])),
             price[r["body"]["model"]]) for r in reqs]
    ok, refused = ok_and_refused(s)
    assert ok["calls"] == n_ok
    assert refused["calls"] == n_refused
    assert ok["input_tokens"] == sum(u.input_tokens for u, _ in used)
    assert ok["cached_input_tokens"] == sum(u.cached_input_tokens for u, _ in used)
    assert ok["cache_write_tokens"] == sum(u.cache_write_tokens for u, _ in used)
    assert ok["output_tokens"] == sum(u.output_tokens for u, _ in used)
    assert ok["reasoning_tokens"] == sum(u.reasoning_tokens for u, _ in used)
    assert ok["settled_nanos"] == sum(call_cost(u, p) for u, p in used)
    assert ok["settled_nanos"] <= budget


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_budget_survives_a_gateway_restart(stack, how):
    """Spend, restart the gateway (cleanly or with kill -9) between calls, spend again until
    refused: the new gateway loads what was spent from the ledger, nothing is counted twice
    and the budget still holds."""
    budget_usd = "0.015"
    budget = usd_to_nanos(budget_usd)
    usage = Usage(input_tokens=600, output_tokens=250, cached_input_tokens=200,
                  cache_write_tokens=100)
    s = stack([text_step("r " * 250, usage)], cycle=True)
    tok = s.mint(budget_usd=budget_usd, label="restart")

    def call(client_kind: str) -> None:
        if client_kind == "openai":
            list(s.openai(tok.token).chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "go"}], stream=True))
        else:
            s.anthropic(tok.token).messages.create(
                model="claude-test", max_tokens=2000, messages=[{"role": "user", "content": "go"}])

    call("openai")
    call("anthropic")
    before = s.ledger_total()
    s.restart_gateway(kill=(how == "sigkill"))
    assert s.ledger_total() == before, "the restart changed the ledger"

    n = 2
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as info:
        for i in range(MAX_CALLS):
            call("openai" if i % 2 else "anthropic")
            n += 1
    assert info.value.status_code == 402

    reqs = s.upstream_requests()
    assert len(reqs) == n
    fmt = {"/v1/chat/completions": "chat", "/v1/messages": "messages"}
    price = {"gpt-upstream-x": PRICE_GPT, "claude-upstream-x": PRICE_CLAUDE}
    costs = [call_cost(usage.as_reported_by(fmt[r["path"]]).capped(output_cap(r["body"])),
                       price[r["body"]["model"]]) for r in reqs]
    ok, refused = ok_and_refused(s)
    assert ok["calls"] == n and refused["calls"] == 1
    assert ok["settled_nanos"] == sum(costs) <= budget
