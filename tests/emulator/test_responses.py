"""Responses and the conversation: one active response, cancel, OOB isolation,
max_output_tokens, determinism, item create/delete/retrieve.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; ``autojump_clock`` where latency
matters (then exact trio times are asserted); the client closes first; no real sleeps.
"""

from __future__ import annotations

import json

import trio

from tests.emulator.helpers import connect, types_of, user_text


def _text(events):
    return next(e for e in events if e["type"] == "response.done")["response"]["output"][0][
        "content"
    ][0]["text"]


async def test_second_in_band_response_is_refused(start, autojump_clock):
    """While a response runs, another in-band response.create gets the real error."""
    emu = await start(latency_ms=500)
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create", "event_id": "r1"})
        created = await client.recv()
        await client.send({"type": "response.create", "event_id": "r2"})
        error = await client.recv()
        assert error["type"] == "error"
        assert error["error"]["code"] == "conversation_already_has_active_response"
        assert error["error"]["event_id"] == "r2"
        assert created["response"]["id"] in error["error"]["message"]
        rest = await client.recv_until("rate_limits.updated")
        assert types_of(rest).count("response.created") == 0
        assert emu.stats.responses == 1


async def test_oob_runs_beside_in_band(start, autojump_clock):
    """An OOB response may start while an in-band one is active."""
    emu = await start(latency_ms=500)
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        await client.send({"type": "response.create", "response": {"conversation": "none"}})
        events = []
        while sum(e["type"] == "response.done" for e in events) < 2:
            events.append(await client.recv())
        assert not [e for e in events if e["type"] == "error"]


async def test_latency_and_token_delay_timing(start, autojump_clock):
    """First delta arrives latency_ms after created; deltas are token_delay_ms apart."""
    emu = await start(latency_ms=250, token_delay_ms=40, reply_words=5)
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        await client.recv()
        t0 = trio.current_time()
        times = []
        while True:
            event = await client.recv()
            if event["type"] == "response.output_text.delta":
                times.append(trio.current_time() - t0)
            if event["type"] == "response.done":
                break
        assert [round(t, 3) for t in times] == [0.25, 0.29, 0.33, 0.37, 0.41]


async def test_cancel_in_band_response(start, autojump_clock):
    """response.cancel without id ends the in-band response cancelled/client_cancelled."""
    emu = await start(token_delay_ms=100)
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        await client.recv_until("response.output_text.delta")
        await client.send({"type": "response.cancel"})
        events = await client.recv_until("rate_limits.updated")
        done = events[-2]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        assert done["output"][0]["status"] == "incomplete"
        assert "response.output_text.done" in types_of(events)
        partial = next(e for e in events if e["type"] == "response.output_text.done")["text"]
        assert 0 < len(partial.split()) < 12


async def test_cancel_by_id_and_nothing_active(start, autojump_clock):
    """Cancel by response_id stops an OOB response; with nothing active it errors."""
    emu = await start(latency_ms=1000)
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create", "response": {"conversation": "none"}})
        rid = (await client.recv())["response"]["id"]
        await client.send({"type": "response.cancel", "response_id": rid})
        events = await client.recv_until("rate_limits.updated")
        assert events[-2]["response"]["status"] == "cancelled"
        assert events[-2]["response"]["output"] == []
        await client.send({"type": "response.cancel", "event_id": "c9"})
        error = (await client.recv())["error"]
        assert error["code"] == "response_cancel_not_active"
        assert error["message"] == "Cancellation failed: no active response found"
        assert error["event_id"] == "c9"


async def test_max_output_tokens_makes_response_incomplete(emu):
    """max_output_tokens cuts the reply: status incomplete, reason max_output_tokens."""
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn({"max_output_tokens": 4})
        done = events[-2]["response"]
        assert done["status"] == "incomplete"
        assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
        assert done["usage"]["output_tokens"] <= 4
        assert done["max_output_tokens"] == 4


async def test_oob_does_not_touch_default_conversation(emu):
    """OOB responses neither add items nor change what in-band responses see."""
    async with connect(emu) as a, connect(emu) as b:
        for client in (a, b):
            await client.text_session()
            await client.send({"type": "conversation.item.create", "item": user_text("same")})
            await client.recv_until("conversation.item.done")
        await a.turn({"conversation": "none", "input": [user_text("side job")]})
        in_band_a, in_band_b = await a.turn(), await b.turn()
        assert _text(in_band_a) == _text(in_band_b)
        assert (
            in_band_a[-2]["response"]["usage"]["input_tokens"]
            == in_band_b[-2]["response"]["usage"]["input_tokens"]
        )


async def test_replies_are_deterministic(beta_emu):
    """Same instructions + input + settings give the same reply; other input differs."""
    job = {"conversation": "none", "instructions": "Be brief.", "input": [user_text("2+2?")]}
    async with connect(beta_emu) as a, connect(beta_emu, "beta") as b:
        await a.text_session()
        first, second = await a.turn(job), await a.turn(job)
        other = await a.turn({**job, "input": [user_text("3+3?")]})
        assert _text(first) == _text(second) != _text(other)
        assert _text(first).startswith("Emulated reply")
        assert len(_text(first).split()) == 12
        await b.text_session()
        assert _text(await b.turn(job)).startswith("Emulated reply")


async def test_item_insert_retrieve_delete(emu):
    """Items insert after previous_item_id or at root; retrieve and delete work by id."""
    async with connect(emu) as client:
        await client.send(
            {"type": "conversation.item.create", "item": {**user_text("a"), "id": "item_a"}}
        )
        await client.recv_until("conversation.item.done")
        await client.send(
            {
                "type": "conversation.item.create",
                "previous_item_id": "root",
                "item": {**user_text("b"), "id": "item_b"},
            }
        )
        added = (await client.recv_until("conversation.item.done"))[0]
        assert added["previous_item_id"] is None
        await client.send(
            {
                "type": "conversation.item.create",
                "previous_item_id": "item_b",
                "item": user_text("c"),
            }
        )
        assert (await client.recv_until("conversation.item.done"))[0]["previous_item_id"] == (
            "item_b"
        )
        await client.send({"type": "conversation.item.retrieve", "item_id": "item_a"})
        retrieved = await client.recv()
        assert retrieved["item"]["content"] == [{"type": "input_text", "text": "a"}]
        await client.send({"type": "conversation.item.delete", "item_id": "item_a"})
        assert await client.recv() == {
            **client.seen[-1],
            "type": "conversation.item.deleted",
            "item_id": "item_a",
        }


async def test_unknown_item_ids_are_errors(emu):
    """Unknown ids in delete, retrieve, previous_item_id and item_reference are errors."""
    async with connect(emu) as client:
        for kind in ("delete", "retrieve"):
            await client.send({"type": f"conversation.item.{kind}", "item_id": "nope"})
            error = (await client.recv())["error"]
            assert error["code"] == f"item_{kind}_invalid_item_id"
            assert "'nope' does not exist" in error["message"]
        await client.send(
            {"type": "conversation.item.create", "previous_item_id": "nope", "item": user_text("x")}
        )
        assert (await client.recv())["error"]["param"] == "previous_item_id"
        await client.send(
            {
                "type": "response.create",
                "response": {
                    "conversation": "none",
                    "input": [{"type": "item_reference", "id": "nope"}],
                },
            }
        )
        assert (await client.recv())["error"]["param"] == "response.input[0].id"
        assert emu.stats.responses == 0


async def test_recording_keeps_events_and_responses(emu):
    """With record=True the connection log holds client events and final responses."""
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn()
    record = emu.connections[0]
    assert (record.dialect, record.intent, record.model) == ("ga", "realtime", "gpt-realtime")
    assert [e["type"] for e in record.received] == ["session.update", "response.create"]
    assert record.responses == [events[-2]["response"]]


async def test_outgoing_hook_rewrites_events_before_they_are_sent(start):
    """outgoing_hook sees each server event and what it returns goes on the wire."""
    seen = []

    def hook(event):
        seen.append(event["type"])
        if event["type"] == "response.done":
            return {**event, "response": {**event["response"], "output": ["oops"]}}
        return event

    emu = await start(outgoing_hook=hook)
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        while (event := json.loads(await client.ws.get_message()))["type"] != "response.done":
            pass
    assert event["response"]["output"] == ["oops"]
    assert event["event_id"].startswith("event_")
    assert seen[:2] == ["session.created", "session.updated"]
