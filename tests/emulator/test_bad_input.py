"""Bad client input: every kind gets one error event and the connection stays usable.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; the client closes first; no real
sleeps.
"""

from __future__ import annotations

import json

import pytest

from tests.emulator.helpers import b64, connect, ga_text_session_update, user_text


async def _error_for(client, event_or_frame, *, check=False):
    if isinstance(event_or_frame, dict):
        await client.send(event_or_frame, check=check)
    else:
        await client.send_raw(event_or_frame)
    event = await client.recv()
    assert event["type"] == "error", event
    return event["error"]


async def _usable(client):
    await client.text_session()
    events = await client.turn()
    assert events[-2]["response"]["status"] == "completed"


async def test_non_json_frame(emu):
    """A non-JSON text frame gets invalid_json; the session continues."""
    async with connect(emu) as client:
        error = await _error_for(client, "{not json")
        assert (error["type"], error["code"], error["event_id"]) == (
            "invalid_request_error",
            "invalid_json",
            None,
        )
        await _usable(client)


async def test_binary_frame(emu):
    """A binary frame gets invalid_event; the session continues."""
    async with connect(emu) as client:
        error = await _error_for(client, b"\x00\x01")
        assert error["code"] == "invalid_event"
        await _usable(client)


async def test_json_that_is_not_an_object(emu):
    """A JSON array is not an event: invalid_event."""
    async with connect(emu) as client:
        assert (await _error_for(client, "[1, 2]"))["code"] == "invalid_event"


async def test_missing_type(emu):
    """An event without type gets invalid_event "The 'type' field is missing."."""
    async with connect(emu) as client:
        error = await _error_for(client, {"event_id": "c1"})
        assert error["code"] == "invalid_event"
        assert error["message"] == "The 'type' field is missing."
        assert error["event_id"] == "c1"


async def test_unknown_type(emu):
    """An unknown type gets invalid_value on param 'type', listing the supported ones."""
    async with connect(emu) as client:
        error = await _error_for(client, {"type": "response.explode", "event_id": "c2"})
        assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "type", "c2")
        assert "'response.create'" in error["message"]
        await _usable(client)


async def test_missing_required_field(emu):
    """append without audio gets missing_required_parameter on 'audio'."""
    async with connect(emu) as client:
        error = await _error_for(client, {"type": "input_audio_buffer.append", "event_id": "c3"})
        assert (error["code"], error["param"]) == ("missing_required_parameter", "audio")
        assert error["message"] == "Missing required parameter: 'audio'."


async def test_ga_session_type_required(emu):
    """A GA session.update without session.type is rejected as the service does."""
    async with connect(emu) as client:
        error = await _error_for(client, {"type": "session.update", "session": {}})
        assert (error["code"], error["param"]) == ("missing_required_parameter", "session.type")
        assert error["message"] == "Missing required parameter: 'session.type'."


async def test_bad_base64(emu):
    """Invalid base64 in append gets invalid_value on 'audio' and buffers nothing."""
    async with connect(emu) as client:
        error = await _error_for(client, {"type": "input_audio_buffer.append", "audio": "%%%"})
        assert (error["code"], error["param"]) == ("invalid_value", "audio")
        commit = await _error_for(client, {"type": "input_audio_buffer.commit"})
        assert commit["code"] == "input_audio_buffer_commit_empty"


async def test_oversized_append(emu):
    """An append over 15 MiB of decoded audio is refused; smaller ones still work."""
    async with connect(emu) as client:
        big = b64(b"\x00" * (15 * 1024 * 1024 + 2))
        error = await _error_for(client, {"type": "input_audio_buffer.append", "audio": big})
        assert (error["code"], error["param"]) == ("invalid_value", "audio")
        await client.commit_audio(4800)
        assert (await client.recv())["type"] == "input_audio_buffer.committed"


@pytest.mark.parametrize(
    "session,code,param",
    [
        ({"type": "realtime", "instructions": 5}, "invalid_type", "session.instructions"),
        (
            {"type": "realtime", "output_modalities": "text"},
            "invalid_type",
            "session.output_modalities",
        ),
        (
            {"type": "realtime", "output_modalities": ["video"]},
            "invalid_value",
            "session.output_modalities[0]",
        ),
        (
            {"type": "realtime", "max_output_tokens": 5000},
            "invalid_value",
            "session.max_output_tokens",
        ),
        (
            {"type": "realtime", "audio": {"output": {"speed": 3}}},
            "invalid_value",
            "session.audio.output.speed",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
            },
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        ({"type": "realtime", "modalities": ["text"]}, "unknown_parameter", "session.modalities"),
        ({"type": "realtime", "temperature": 0.8}, "unknown_parameter", "session.temperature"),
        (
            {"type": "realtime", "audio": {"input": {"bogus": 1}}},
            "unknown_parameter",
            "session.audio.input.bogus",
        ),
    ],
)
async def test_ga_session_update_validation(emu, session, code, param):
    """Bad GA session fields get the matching error; the rejected update changes nothing."""
    async with connect(emu) as client:
        before = client.seen[0]["session"]
        error = await _error_for(
            client, {"type": "session.update", "event_id": "u1", "session": session}
        )
        assert (error["code"], error["param"], error["event_id"]) == (code, param, "u1")
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        after = (await client.recv_until("session.updated"))[-1]["session"]
        assert after == before
        await _usable(client)


async def test_unknown_parameter_message(emu):
    """unknown_parameter uses the service's wording."""
    async with connect(emu) as client:
        error = await _error_for(
            client, {"type": "session.update", "session": {"type": "realtime", "modalities": []}}
        )
        assert error["message"] == "Unknown parameter: 'session.modalities'."


async def test_beta_invalid_modalities(beta_emu):
    """Beta modalities ['audio'] alone is refused with the service's message."""
    async with connect(beta_emu, "beta") as client:
        error = await _error_for(
            client, {"type": "session.update", "session": {"modalities": ["audio"]}}
        )
        assert (error["code"], error["param"]) == ("invalid_value", "session.modalities")
        assert "Supported combinations are: ['text'] and ['audio', 'text']" in error["message"]


async def test_transcription_update_on_realtime_session(emu):
    """A transcription session update on a realtime session is refused."""
    async with connect(emu) as client:
        error = await _error_for(
            client, {"type": "session.update", "session": {"type": "transcription"}}, check=True
        )
        assert error["message"] == (
            "Passing a transcription session update event to a realtime session is not allowed."
        )


async def test_item_validation(emu):
    """Item fields are validated: id too long, wrong role, unknown content field."""
    async with connect(emu) as client:
        item = {**user_text("x"), "id": "i" * 33}
        error = await _error_for(client, {"type": "conversation.item.create", "item": item})
        assert (error["code"], error["param"]) == ("string_above_max_length", "item.id")
        item = {"type": "message", "role": "robot", "content": []}
        error = await _error_for(client, {"type": "conversation.item.create", "item": item})
        assert (error["code"], error["param"]) == ("invalid_value", "item.role")
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "x", "colour": "red"}],
        }
        error = await _error_for(client, {"type": "conversation.item.create", "item": item})
        assert (error["code"], error["param"]) == ("unknown_parameter", "item.content[0].colour")


async def test_response_create_validation(emu):
    """response.create fields are validated (GA has no temperature; metadata values str)."""
    async with connect(emu) as client:
        error = await _error_for(
            client, {"type": "response.create", "response": {"temperature": 0.7}}
        )
        assert (error["code"], error["param"]) == ("unknown_parameter", "response.temperature")
        error = await _error_for(
            client, {"type": "response.create", "response": {"metadata": {"k": 1}}}
        )
        assert (error["code"], error["param"]) == ("invalid_type", "response.metadata.k")
        assert emu.stats.responses == 0


async def test_bad_input_never_breaks_other_connections(emu):
    """A connection sending garbage does not disturb another one."""
    async with connect(emu) as bad, connect(emu) as good:
        for frame in ("{", "[]", json.dumps({"type": 1}), b"\x00"):
            await bad.send_raw(frame)
            assert (await bad.recv())["type"] == "error"
        await good.send(ga_text_session_update())
        await good.recv_until("session.updated")
        events = await good.turn()
        assert events[-2]["response"]["status"] == "completed"
