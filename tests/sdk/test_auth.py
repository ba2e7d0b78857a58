"""Authentication and routing errors as the SDKs see them: a missing or unknown gateway
token is a 401 (the SDKs' AuthenticationError), an unconfigured model a 404; none of them
reaches the upstream or costs anything."""

from __future__ import annotations

import anthropic
import openai
import pytest

from conftest import PRICE_CLAUDE, PRICE_GPT, Usage, call_cost, text_step

MSG = [{"role": "user", "content": "hi"}]


# The SDKs insist on a key; explicitly omitting the header is their way to send none.
NO_AUTH_OPENAI = {"Authorization": openai.Omit()}


def no_auth_anthropic(s) -> anthropic.Anthropic:
    return s.anthropic(None, default_headers={"Authorization": anthropic.Omit()})


def assert_nothing_happened(s) -> None:
    assert s.served() == 0
    total = s.ledger_total()
    assert total["settled_nanos"] == 0
    assert total["input_tokens"] == 0 and total["output_tokens"] == 0


def test_openai_sdk_missing_and_bad_tokens(stack):
    s = stack([text_step("never", Usage(1, 1))])
    s.mint()  # a valid token exists; the requests below do not present it

    with pytest.raises(openai.AuthenticationError) as missing:
        s.openai("unused").chat.completions.create(model="gpt-test", messages=MSG,
                                                   extra_headers=NO_AUTH_OPENAI)
    assert missing.value.status_code == 401
    assert "no gateway token" in missing.value.message

    bad = s.openai("nsk_" + "0" * 48)
    with pytest.raises(openai.AuthenticationError) as unknown:
        bad.chat.completions.create(model="gpt-test", messages=MSG)
    assert unknown.value.status_code == 401
    assert unknown.value.code == "invalid_api_key"

    with pytest.raises(openai.AuthenticationError):
        for _ in bad.chat.completions.create(model="gpt-test", messages=MSG, stream=True):
            pass
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="gpt-test", input="hi")
    with pytest.raises(openai.AuthenticationError):
        s.openai("not-even-a-gateway-token").responses.create(model="gpt-test", input="hi",
                                                              stream=True)

    assert_nothing_happened(s)


def test_anthropic_sdk_missing_and_bad_tokens(stack):
    s = stack([text_step("never", Usage(1, 1))])
    s.mint()

    with pytest.raises(anthropic.AuthenticationError) as missing:
        no_auth_anthropic(s).messages.create(model="claude-test", max_tokens=10, messages=MSG)
    assert missing.value.status_code == 401
    assert missing.value.body["error"]["type"] == "authentication_error"

    bad = s.anthropic("nsk_" + "f" * 48)
    with pytest.raises(anthropic.AuthenticationError) as unknown:
        bad.messages.create(model="claude-test", max_tokens=10, messages=MSG)
    assert unknown.value.status_code == 401
    assert unknown.value.body["type"] == "error"
    assert unknown.value.body["error"]["type"] == "authentication_error"

    with pytest.raises(anthropic.AuthenticationError):
        with bad.messages.stream(model="claude-test", max_tokens=10, messages=MSG) as st:
            list(st)
    # Also across formats: an Anthropic client on a Chat-only provider.
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="compat-test", max_tokens=10, messages=MSG)

    assert_nothing_happened(s)


def test_unknown_model_is_404_in_both_sdks(stack):
    s = stack([text_step("never", Usage(1, 1))])
    tok = s.mint()

    with pytest.raises(openai.NotFoundError) as e1:
        s.openai(tok.token).chat.completions.create(model="no-such-model", messages=MSG)
    assert e1.value.status_code == 404
    assert "no-such-model" in e1.value.message

    with pytest.raises(anthropic.NotFoundError) as e2:
        s.anthropic(tok.token).messages.create(model="no-such-model", max_tokens=10,
                                               messages=MSG)
    assert e2.value.status_code == 404
    assert e2.value.body["error"]["type"] == "not_found_error"

    assert_nothing_happened(s)


def test_revoked_token_is_refused_by_a_running_gateway(stack):
    import time

    usage = Usage(input_tokens=30, output_tokens=2)
    s = stack([text_step("still valid", usage)], cycle=True)
    tok = s.mint(label="to-revoke")
    client = s.openai(tok.token)
    assert client.chat.completions.create(model="gpt-test",
                                          messages=MSG).choices[0].message.content == "still valid"

    s._cli("token", "revoke", tok.id)
    # The gateway polls the store for revocations (about every second); calls in that
    # window still pass and are billed.
    deadline = time.monotonic() + 10
    while True:
        try:
            s.anthropic(tok.token).messages.create(model="claude-test", max_tokens=10,
                                                   messages=MSG)
        except anthropic.AuthenticationError as e:
            assert "revoked" in e.body["error"]["message"]
            break
        assert time.monotonic() < deadline, "the revocation was never noticed"
        time.sleep(0.05)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-test", messages=MSG)

    served = s.served()
    total = s.ledger_total()
    assert total["calls"] == served
    assert total["output_tokens"] == 2 * served
    # One Chat call on gpt-test, then Messages calls on claude-test until the revocation.
    assert total["settled_nanos"] == (call_cost(usage, PRICE_GPT)
                                      + (served - 1) * call_cost(usage, PRICE_CLAUDE))
