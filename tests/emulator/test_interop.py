"""Interop: the official openai-python realtime client completes a text turn.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``. The SDK is asyncio, so it runs in
a worker thread with its own event loop (``trio.to_thread.run_sync``) while the trio
test keeps serving; no real sleeps beyond the SDK's own I/O.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import trio

from tests.emulator.helpers import KEY

GA_TEXT_SESSION: dict[str, Any] = {
    "type": "realtime",
    "output_modalities": ["text"],
    "audio": {"input": {"turn_detection": None}},
}


async def _say(conn: Any, text: str) -> None:
    """Add one user text item, as the SDK's README shows."""
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )


async def _text_turn(conn: Any) -> list[Any]:
    """One user item and one response; every event to done."""
    await _say(conn, "Hello from the SDK")
    await conn.response.create()
    events: list[Any] = []
    async for event in conn:
        events.append(event)
        if event.type == "response.done":
            break
    return events


async def _ga_turn(base_url: str) -> list[Any]:
    client = openai.AsyncOpenAI(api_key=KEY, websocket_base_url=base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session=GA_TEXT_SESSION)
        return await _text_turn(conn)


async def _beta_turn(base_url: str) -> list[Any]:
    client = openai.AsyncOpenAI(api_key=KEY, websocket_base_url=base_url)
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.session.update(session={"modalities": ["text"], "turn_detection": None})
        return await _text_turn(conn)


def _in_thread(coro_fn, base_url: str) -> list[Any]:
    return asyncio.run(asyncio.wait_for(coro_fn(base_url), timeout=20))


async def test_openai_sdk_ga_text_turn(emu):
    """openai.AsyncOpenAI().realtime.connect completes a GA text turn with usage."""
    base = emu.url.rsplit("/realtime", 1)[0]
    events = await trio.to_thread.run_sync(_in_thread, _ga_turn, base)
    assert events[0].type == "session.created"
    done = events[-1]
    assert done.type == "response.done" and done.response.status == "completed"
    assert done.response.usage.total_tokens > 0
    assert any(e.type == "response.output_text.delta" for e in events)


async def test_openai_sdk_beta_text_turn(beta_emu):
    """openai.AsyncOpenAI().beta.realtime.connect completes a beta text turn with usage."""
    emu = beta_emu
    base = emu.url.rsplit("/realtime", 1)[0]
    events = await trio.to_thread.run_sync(_in_thread, _beta_turn, base)
    done = events[-1]
    assert done.type == "response.done" and done.response.status == "completed"
    assert done.response.usage.output_tokens == 13
    assert any(e.type == "response.text.delta" for e in events)
    assert emu.connections[0].dialect == "beta"


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather at a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def _until_done(conn: Any) -> Any:
    async for event in conn:
        if event.type == "response.done":
            return event
    raise AssertionError("the connection ended before response.done")


async def _ga_tool_round(base_url: str) -> tuple[Any, Any]:
    """The SDK's way: the model calls, the client sends the output, the model answers."""
    client = openai.AsyncOpenAI(api_key=KEY, websocket_base_url=base_url)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={**GA_TEXT_SESSION, "tools": [WEATHER_TOOL]})
        await _say(conn, "Ask get_weather about Paris.")
        await conn.response.create()
        called = await _until_done(conn)
        call = called.response.output[0]
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        )
        await conn.response.create()
        return called, await _until_done(conn)


async def test_openai_sdk_ga_tool_round(emu):
    """openai-python's realtime client completes a tool round against the emulator."""
    base = emu.url.rsplit("/realtime", 1)[0]
    called, answered = await trio.to_thread.run_sync(_in_thread, _ga_tool_round, base)
    call = called.response.output[0]
    assert (call.type, call.name, call.arguments) == (
        "function_call",
        "get_weather",
        '{"city":"emulated city"}',
    )
    text = answered.response.output[0].content[0].text
    assert text == "Emulated reply using get_weather: sunny."
