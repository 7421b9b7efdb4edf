"""Function calling: the emulator calls declared functions by its documented rule.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; the client closes first; no real
sleeps. Every event, both ways, is checked against the SDK 3.63.0 models (helpers).
"""

from __future__ import annotations

import json

import pytest
from trio_websocket import ConnectionClosed

from rtbatch.emulator import FaultSchedule
from rtbatch.emulator.replies import count_tokens
from rtbatch.emulator.tools import arguments_for, named_in, value_for
from tests.emulator.helpers import connect, ga_text_session_update, types_of, user_text

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather at a place.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "verbose": {"type": "boolean"},
        },
        "required": ["city", "unit"],
    },
}
TIME = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
}
NESTED = {
    "type": "object",
    "properties": {
        "order": {
            "type": "object",
            "properties": {
                "lines": {
                    "type": "array",
                    "minItems": 2,
                    "items": {
                        "type": "object",
                        "properties": {
                            "sku": {"type": "string", "maxLength": 5},
                            "qty": {"type": "integer", "exclusiveMinimum": 0},
                            "price": {"type": ["number", "null"], "minimum": 0.5},
                        },
                        "required": ["sku", "qty", "price"],
                    },
                },
                "when": {"type": "string", "format": "date"},
                "mode": {"anyOf": [{"const": "express"}, {"type": "string"}]},
            },
        },
        "note": {"type": "string"},
    },
    "required": ["order"],
}


def test_arguments_follow_the_schema():
    """Required properties, enums, bounds, formats, nested objects and arrays."""
    assert json.loads(arguments_for(WEATHER)) == {"city": "emulated city", "unit": "celsius"}
    assert json.loads(arguments_for(TIME)) == {"zone": "emulated zone"}
    assert value_for(NESTED, "") == {
        "order": {
            "lines": [{"sku": "emula", "qty": 1, "price": 0.5}] * 2,
            "when": "2026-01-01",
            "mode": "express",
        }
    }
    assert arguments_for({"name": "ping"}) == "{}"
    assert arguments_for(WEATHER) == arguments_for(dict(WEATHER))


def test_names_are_whole_words_in_prompt_order():
    """A function is named by its exact name as a word; calls follow the text's order."""
    tools = (WEATHER, TIME)
    assert named_in("first get_time, then get_weather", tools) == [TIME, WEATHER]
    assert named_in("get_weathers or Get_time or my-get_time", tools) == []


def _calls(events):
    return [
        i
        for e in events
        if e["type"] == "response.done"
        for i in e["response"]["output"]
        if i["type"] == "function_call"
    ]


async def _tool_session(client, **extra):
    await client.send(ga_text_session_update(tools=[WEATHER, TIME], **extra))
    return (await client.recv_until("session.updated"))[-1]


async def _ask(client, text, **response):
    return await client.turn({"conversation": "none", "input": [user_text(text)], **response})


async def test_a_named_tool_choice_calls_it_and_the_output_gets_a_text_answer(emu):
    """tool_choice {function}: one call (in band); its output then gets a text reply."""
    async with connect(emu) as client:
        await _tool_session(client, tool_choice={"type": "function", "name": "get_weather"})
        await client.send({"type": "conversation.item.create", "item": user_text("Hi")})
        await client.recv_until("conversation.item.done")
        events = await client.turn()
        [call] = _calls(events)
        assert (call["name"], call["status"]) == ("get_weather", "completed")
        assert call["call_id"].startswith("call_")
        deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
        assert "".join(d["delta"] for d in deltas) == call["arguments"]
        usage = events[-2]["response"]["usage"]
        assert usage["output_tokens"] == count_tokens(call["arguments"])
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "20C"}
        await client.send({"type": "conversation.item.create", "item": output})
        await client.recv_until("conversation.item.done")
        # The session still forces get_weather; auto for this response lets it answer.
        again = await client.turn({"tool_choice": "auto"})
        assert not _calls(again)
        text = again[-2]["response"]["output"][0]["content"][0]["text"]
        assert text == "Emulated reply using get_weather: 20C."


async def test_auto_calls_the_functions_the_prompt_names_in_parallel(start):
    """auto: every named function, in prompt order; parallel_tool_calls false: the first."""
    emu = await start()
    async with connect(emu, query="model=gpt-realtime-2") as client:
        await _tool_session(client)
        events = await _ask(client, "Use get_time and get_weather, please.")
        calls = _calls(events)
        assert [c["name"] for c in calls] == ["get_time", "get_weather"]
        added = [e for e in events if e["type"] == "response.output_item.added"]
        assert [e["output_index"] for e in added] == [0, 1]
        assert len({c["call_id"] for c in calls}) == 2
        single = await _ask(client, "Use get_time and get_weather.", parallel_tool_calls=False)
        assert [c["name"] for c in _calls(single)] == ["get_time"]
        plain = await _ask(client, "Just talk about the weather.")
        assert not _calls(plain)


async def test_none_never_calls_and_required_calls_the_first_tool(emu):
    """tool_choice none ignores a named function; required with none named calls the first."""
    async with connect(emu) as client:
        await _tool_session(client)
        assert not _calls(await _ask(client, "call get_weather", tool_choice="none"))
        required = await _ask(client, "anything", tool_choice="required")
        assert [c["name"] for c in _calls(required)] == ["get_weather"]


async def test_tool_choice_naming_an_undeclared_function_is_refused(emu):
    """A forced function that is not declared is invalid_value on tool_choice."""
    async with connect(emu) as client:
        await _tool_session(client)
        choice = {"type": "function", "name": "nope"}
        await client.send({"type": "response.create", "response": {"tool_choice": choice}})
        error = (await client.recv())["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "response.tool_choice")
        assert emu.stats.responses == 0


async def test_out_of_band_round_trip_with_replayed_call(emu):
    """Out of band: the call, then an input replaying call and output, answered in text."""
    async with connect(emu) as client:
        await _tool_session(client)
        events = await _ask(client, "What does get_weather say?", metadata={"job_id": "7"})
        assert not [k for k in types_of(events) if k.startswith("conversation.")]
        [call] = _calls(events)
        replay = {k: call[k] for k in ("type", "call_id", "name", "arguments")}
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"t": 20}'}
        answer = await client.turn(
            {
                "conversation": "none",
                "input": [user_text("What does get_weather say?"), replay, output],
            }
        )
        response = answer[-2]["response"]
        assert response["output"][0]["content"][0]["text"] == (
            'Emulated reply using get_weather: {"t": 20}.'
        )
        # A call the input replays need not be known to the session.
        fresh = {**replay, "call_id": "call_replayed_elsewhere"}
        result = await client.turn(
            {
                "conversation": "none",
                "input": [user_text("x"), fresh, {**output, "call_id": fresh["call_id"]}],
            }
        )
        assert result[-2]["response"]["status"] == "completed"


@pytest.mark.parametrize("where", ["conversation", "input"])
async def test_an_output_for_an_unknown_call_is_refused(emu, where):
    """function_call_output with an unknown call_id: invalid_tool_call_id, nothing added."""
    async with connect(emu) as client:
        await _tool_session(client)
        output = {"type": "function_call_output", "call_id": "call_unknown", "output": "x"}
        if where == "conversation":
            event = {"type": "conversation.item.create", "event_id": "c7", "item": output}
        else:
            response = {"conversation": "none", "input": [user_text("hi"), output]}
            event = {"type": "response.create", "event_id": "c7", "response": response}
        await client.send(event)
        error = (await client.recv())["error"]
        assert error == {
            "type": "invalid_request_error",
            "code": "invalid_tool_call_id",
            "message": "Tool call ID 'call_unknown' not found in conversation.",
            "param": None,
            "event_id": "c7",
        }
        assert emu.stats.responses == 0


async def test_the_output_cap_cuts_a_call(emu):
    """max_output_tokens cuts the arguments: the call and the response are incomplete."""
    async with connect(emu) as client:
        await _tool_session(client)
        events = await _ask(client, "get_weather", max_output_tokens=10)
        [call] = _calls(events)
        response = events[-2]["response"]
        assert (call["status"], response["status"]) == ("incomplete", "incomplete")
        assert response["status_details"]["reason"] == "max_output_tokens"
        assert response["usage"]["output_tokens"] == count_tokens(call["arguments"]) <= 10
        whole = arguments_for(WEATHER)
        assert (
            call["arguments"] and whole.startswith(call["arguments"]) and call["arguments"] != whole
        )


async def test_a_drop_fault_cuts_a_call_after_two_deltas(start):
    """The drop fault hits a call's argument stream as it hits text: after 2 deltas."""
    emu = await start(schedule=FaultSchedule(responses={0: "drop"}))
    async with connect(emu) as client:
        await _tool_session(client)
        await client.send({"type": "response.create", "response": {"tool_choice": "required"}})
        seen = []
        with pytest.raises(ConnectionClosed):
            while True:
                seen.append((await client.recv())["type"])
        assert seen.count("response.function_call_arguments.delta") == 2
        assert "response.done" not in seen


async def test_cancel_ends_a_call_cancelled(start, autojump_clock):
    """response.cancel mid-arguments: partial done events, then response.done cancelled."""
    emu = await start(token_delay_ms=1000)
    async with connect(emu) as client:
        await _tool_session(client)
        await client.send({"type": "response.create", "response": {"tool_choice": "required"}})
        await client.recv_until("response.function_call_arguments.delta")
        await client.send({"type": "response.cancel"})
        events = await client.recv_until("response.done")
        response = events[-1]["response"]
        assert (response["status"], response["status_details"]["reason"]) == (
            "cancelled",
            "client_cancelled",
        )
        [call] = response["output"]
        assert call["status"] == "incomplete"
        assert "response.function_call_arguments.done" in types_of(events)


async def test_beta_refuses_an_output_for_an_unknown_call(beta_emu):
    """Beta: the same invalid_tool_call_id; a client-created function_call makes it known."""
    async with connect(beta_emu, "beta") as client:
        output = {"type": "function_call_output", "call_id": "call_b1", "output": "x"}
        await client.send({"type": "conversation.item.create", "item": output})
        assert (await client.recv())["error"]["code"] == "invalid_tool_call_id"
        call = {"type": "function_call", "call_id": "call_b1", "name": "f", "arguments": "{}"}
        for item in (call, output):
            await client.send({"type": "conversation.item.create", "item": item})
            assert (await client.recv())["type"] == "conversation.item.created"
