"""The official `openai` SDK's Responses client against the gateway (pass-through to the
scripted provider), streaming and not, function calls included."""

from __future__ import annotations

import json

from conftest import PRICE_GPT, Usage, assert_ledger, text_step, tool_step

MODEL = "gpt-test"
UPSTREAM = "gpt-upstream-x"

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]


def test_responses_non_streaming_text(stack):
    usage = Usage(input_tokens=2048, output_tokens=130, cached_input_tokens=1536,
                  reasoning_tokens=100)
    s = stack([text_step("A short answer from the Responses API.", usage)])
    client = s.openai(s.mint().token)

    r = client.responses.create(model=MODEL, input="Answer briefly.",
                                instructions="You are terse.")

    assert r.status == "completed"
    assert r.output_text == "A short answer from the Responses API."
    assert r.usage.input_tokens == 2048
    assert r.usage.input_tokens_details.cached_tokens == 1536
    assert r.usage.output_tokens == 130
    assert r.usage.output_tokens_details.reasoning_tokens == 100

    (req,) = s.upstream_requests()
    assert req["path"] == "/v1/responses"
    assert req["body"]["model"] == UPSTREAM
    assert req["body"]["input"] == "Answer briefly."
    assert req["body"]["instructions"] == "You are terse."

    assert_ledger(s, [(usage, PRICE_GPT)])


def test_responses_non_streaming_function_call_and_its_output(stack):
    u1 = Usage(input_tokens=300, output_tokens=25)
    u2 = Usage(input_tokens=360, output_tokens=9, cached_input_tokens=256)
    args = {"city": "Paris", "unit": "c"}
    s = stack([
        tool_step([("call_weather_1", "get_weather", args)], u1),
        text_step("It is 21 degrees in Paris.", u2),
    ])
    client = s.openai(s.mint().token)

    r = client.responses.create(model=MODEL, input="Weather in Paris?", tools=TOOLS)

    (item,) = r.output
    assert item.type == "function_call"
    assert item.name == "get_weather"
    assert item.call_id == "call_weather_1"
    assert json.loads(item.arguments) == args

    # Hand the function's output back, as an agent does.
    r2 = client.responses.create(
        model=MODEL, tools=TOOLS,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": item.call_id, "name": item.name,
             "arguments": item.arguments},
            {"type": "function_call_output", "call_id": item.call_id, "output": "21C"},
        ])
    assert r2.output_text == "It is 21 degrees in Paris."

    reqs = s.upstream_requests()
    assert reqs[0]["body"]["tools"] == TOOLS
    assert reqs[1]["body"]["input"][-1] == {
        "type": "function_call_output", "call_id": "call_weather_1", "output": "21C"}

    assert_ledger(s, [(u1, PRICE_GPT), (u2, PRICE_GPT)])


def test_responses_stream_helper_text_and_function_call(stack):
    usage = Usage(input_tokens=1500, output_tokens=88, cached_input_tokens=1024,
                  reasoning_tokens=30)
    args = {"city": "Oslo", "unit": "f"}
    s = stack([tool_step([("call_weather_s", "get_weather", args)], usage,
                         text="Checking the weather.")])
    client = s.openai(s.mint().token)

    with client.responses.stream(model=MODEL, input="Weather in Oslo?", tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_response()

    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Checking the weather."
    arg_done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(e.arguments) for e in arg_done] == [args]

    assert final.status == "completed"
    assert final.output_text == "Checking the weather."
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.name, c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", "call_weather_s", args)]
    assert final.usage.input_tokens == 1500
    assert final.usage.output_tokens == 88
    assert final.usage.input_tokens_details.cached_tokens == 1024
    assert final.usage.output_tokens_details.reasoning_tokens == 30

    assert_ledger(s, [(usage, PRICE_GPT)])


def test_responses_create_stream_true(stack):
    usage = Usage(input_tokens=42, output_tokens=5)
    s = stack([text_step("Five words in this answer.", usage)])
    client = s.openai(s.mint().token)

    events = list(client.responses.create(model=MODEL, input="Hi", stream=True))

    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Five words in this answer."
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1
    assert completed[0].response.usage.input_tokens == 42
    assert completed[0].response.usage.output_tokens == 5

    (req,) = s.upstream_requests()
    assert req["body"]["stream"] is True

    assert_ledger(s, [(usage, PRICE_GPT)])
