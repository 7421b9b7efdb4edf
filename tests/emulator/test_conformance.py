"""Conformance: every event of each flow validates against the SDK models of its dialect.

Network test rules (all network test modules): loopback only, port 0; the emulator runs
in pytest-trio's ``nursery`` fixture via ``nursery.start(serve, ...)``; the client closes
first unless the test is about the server closing; ``autojump_clock`` wherever time
matters; no real sleeps. Events are validated inside ``Client`` (see conftest).
"""

from __future__ import annotations

import base64
import inspect
import re
from importlib.metadata import version
from pathlib import Path

from tests.emulator.helpers import connect, types_of, user_text

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_events_are_checked_against_the_pinned_sdk():
    """The SDK whose models check every event here (and tests/contract.py) is the pinned one."""
    pin = re.search(r'"openai\[realtime\]==([0-9.]+)"', PYPROJECT.read_text())
    assert pin is not None
    assert version("openai") == pin[1]
    assert tuple(int(part) for part in pin[1].split(".")) >= (3, 63, 0)


def _sdk_text(module: object) -> str:
    """A module's source, whitespace folded (field docstrings live only in the source)."""
    return " ".join(inspect.getsource(module).split())  # type: ignore[arg-type]


def test_the_sdk_states_the_rules_the_emulator_enforces():
    """SDK 3.63.0 states the saved-prompt shutdown and the noise_reduction rule we enforce."""
    from openai.types.realtime import realtime_audio_config_input as audio_input
    from openai.types.realtime import realtime_response_create_params as response
    from openai.types.realtime import realtime_session_create_request as session

    for module in (session, response):
        assert "shutdown of saved prompts for November 30, 2026" in _sdk_text(module)
    assert "you must set `type` to `near_field` or `far_field`" in _sdk_text(audio_input)


GA_TEXT_TURN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 12,
    "response.output_text.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]
BETA_TEXT_TURN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.created",
    "response.content_part.added",
    *["response.text.delta"] * 12,
    "response.text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]


async def test_ga_text_turn_event_order(emu):
    """A GA in-band text turn emits the captured event order, all SDK-valid."""
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "conversation.item.create", "item": user_text("Hello")})
        added = await client.recv_until("conversation.item.done")
        assert types_of(added) == ["conversation.item.added", "conversation.item.done"]
        events = await client.turn()
        assert types_of(events) == GA_TEXT_TURN
        done = events[-2]["response"]
        assert done["status"] == "completed"
        assert done["conversation_id"].startswith("conv_")
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        assert done["output"][0]["content"][0] == {"type": "output_text", "text": text}
        assert all(11 <= len(e["obfuscation"]) <= 14 for e in events if "obfuscation" in e)


async def test_beta_text_turn_event_order(beta_emu):
    """A beta in-band text turn emits the captured beta order, all SDK-valid."""
    async with connect(beta_emu, "beta") as client:
        await client.text_session()
        await client.send({"type": "conversation.item.create", "item": user_text("Hello")})
        assert types_of(await client.recv_until("conversation.item.created")) == [
            "conversation.item.created"
        ]
        events = await client.turn()
        assert types_of(events) == BETA_TEXT_TURN
        response = events[-2]["response"]
        assert response["modalities"] == ["text"]
        assert "image_tokens" not in response["usage"]["input_token_details"]
        assert [r["name"] for r in events[-1]["rate_limits"]] == ["requests", "tokens"]


async def test_ga_audio_turn_with_audio_output(emu):
    """A GA audio-output turn streams audio + transcript deltas and audio parts, SDK-valid."""
    async with connect(emu) as client:
        await client.audio_output_session()
        await client.commit_audio(24000)
        committed = await client.recv_until("conversation.item.done")
        assert types_of(committed) == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert committed[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
        events = await client.turn()
        kinds = types_of(events)
        assert kinds.count("response.output_audio.delta") == 12
        assert kinds.count("response.output_audio_transcript.delta") == 12
        tail = kinds[kinds.index("response.output_audio.done") :]
        assert tail == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
            "rate_limits.updated",
        ]
        part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
        assert part == {"type": "audio", "transcript": ""}
        done = events[-2]["response"]
        assert done["output_modalities"] == ["audio"]
        assert done["output"][0]["content"][0]["type"] == "output_audio"
        usage = done["usage"]
        assert usage["output_token_details"]["audio_tokens"] == 12 * 6
        assert usage["input_token_details"]["audio_tokens"] == 10  # 1 s of user audio
        audio = b"".join(
            base64.b64decode(e["delta"])
            for e in events
            if e["type"] == "response.output_audio.delta"
        )
        assert len(audio) == 12 * 7200 * 2  # 0.3 s of 24 kHz PCM16 per word


async def test_beta_audio_turn_with_audio_output(beta_emu):
    """A beta audio turn uses response.audio.* and audio_transcript.*, SDK-valid."""
    async with connect(beta_emu, "beta") as client:
        await client.send(
            {
                "type": "session.update",
                "session": {"modalities": ["audio", "text"], "turn_detection": None},
            }
        )
        await client.recv_until("session.updated")
        await client.send({"type": "conversation.item.create", "item": user_text("Speak")})
        await client.recv_until("conversation.item.created")
        events = await client.turn()
        kinds = types_of(events)
        assert kinds.count("response.audio.delta") == 12
        assert "response.audio_transcript.done" in kinds
        assert events[-2]["response"]["output"][0]["content"][0]["type"] == "audio"


async def test_ga_transcription_session(emu):
    """A GA transcription session: session.created type transcription, deltas, completed."""
    async with connect(emu, query="intent=transcription") as client:
        assert client.seen[0]["session"]["type"] == "transcription"
        await client.transcription_session("gpt-4o-transcribe")
        await client.commit_audio(36000)
        events = await client.recv_until("conversation.item.input_audio_transcription.completed")
        kinds = types_of(events)
        assert kinds[:3] == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert kinds.count("conversation.item.input_audio_transcription.delta") == 5
        completed = events[-1]
        assert completed["transcript"] == "Emulated transcript of 36000 samples."
        assert completed["item_id"] == events[0]["item_id"]
        assert completed["usage"]["input_tokens"] == 15  # 1.5 s -> 15 audio tokens
        assert completed["usage"]["type"] == "tokens"
        assert emu.connections[0].transcripts == {completed["item_id"]: completed["transcript"]}


async def test_beta_transcription_session_whisper(beta_emu):
    """A beta transcription session: transcription_session.*, one whisper delta, duration."""
    async with connect(beta_emu, "beta", query="intent=transcription") as client:
        assert client.seen[0]["type"] == "transcription_session.created"
        await client.send(
            {
                "type": "transcription_session.update",
                "session": {
                    "input_audio_transcription": {"model": "whisper-1"},
                    "turn_detection": None,
                },
            }
        )
        updated = (await client.recv_until("transcription_session.updated"))[-1]
        assert updated["session"]["input_audio_transcription"] == {"model": "whisper-1"}
        await client.commit_audio(12000)
        events = await client.recv_until("conversation.item.input_audio_transcription.completed")
        deltas = [e for e in events if e["type"].endswith("transcription.delta")]
        assert [d["delta"] for d in deltas] == ["Emulated transcript of 12000 samples."]
        assert events[-1]["usage"] == {"type": "duration", "seconds": 0.5}


async def test_ga_out_of_band_response(emu):
    """An OOB response echoes metadata, has no conversation, emits no item events."""
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "conversation.item.create", "item": user_text("kept")})
        item_id = (await client.recv_until("conversation.item.done"))[-1]["item"]["id"]
        events = await client.turn(
            {
                "conversation": "none",
                "metadata": {"job_id": "42"},
                "input": [user_text("2+2?"), {"type": "item_reference", "id": item_id}],
            }
        )
        assert not [k for k in types_of(events) if k.startswith("conversation.")]
        created, done = events[0]["response"], events[-2]["response"]
        assert created["metadata"] == done["metadata"] == {"job_id": "42"}
        assert created["conversation_id"] is None and done["conversation_id"] is None
        assert done["status"] == "completed"


GA_TOOL_TURN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    *["response.function_call_arguments.delta"] * 3,
    "response.function_call_arguments.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]
BETA_TOOL_TURN = [
    "response.created",
    "response.output_item.added",
    "conversation.item.created",
    *["response.function_call_arguments.delta"] * 3,
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"word": {"type": "string"}, "lang": {"enum": ["en", "fr"]}},
        "required": ["word", "lang"],
    },
}


async def test_ga_function_call_turn(emu):
    """A GA in-band call: item events, argument deltas and done (with name), SDK-valid."""
    async with connect(emu) as client:
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": [LOOKUP],
                    "tool_choice": {"type": "function", "name": "lookup"},
                },
            }
        )
        await client.recv_until("session.updated")
        events = await client.turn()
        assert types_of(events) == GA_TOOL_TURN
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        item = events[-2]["response"]["output"][0]
        assert set(item) == {"id", "type", "status", "call_id", "name", "arguments"}
        assert (done["name"], done["call_id"], done["arguments"]) == (
            "lookup",
            item["call_id"],
            '{"word":"emulated word","lang":"en"}',
        )
        assert events[-2]["response"]["conversation_id"].startswith("conv_")


async def test_beta_function_call_turn(beta_emu):
    """A beta in-band call: tool_choice is the bare name; done has no name, SDK-valid."""
    async with connect(beta_emu, "beta") as client:
        session = {"modalities": ["text"], "tools": [LOOKUP], "tool_choice": "lookup"}
        await client.send({"type": "session.update", "session": session})
        await client.recv_until("session.updated")
        events = await client.turn()
        assert types_of(events) == BETA_TOOL_TURN
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert "name" not in done
        item = events[-2]["response"]["output"][0]
        assert (item["object"], item["type"], item["name"]) == (
            "realtime.item",
            "function_call",
            "lookup",
        )
        output = {"type": "function_call_output", "call_id": item["call_id"], "output": "ok"}
        await client.send({"type": "conversation.item.create", "item": output})
        await client.recv_until("conversation.item.created")
        answer = await client.turn({"tool_choice": "auto"})
        assert answer[-2]["response"]["output"][0]["content"] == [
            {"type": "text", "text": "Emulated reply using lookup: ok."}
        ]
