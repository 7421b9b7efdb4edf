"""Per-model rules from the catalogue: which models are served, and what each refuses.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; the server closes first in the
fatal cases, the client otherwise; no real sleeps.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from trio_websocket import ConnectionClosed, open_websocket_url

from rtbatch.models import alias_of, same_model
from tests.emulator.helpers import check_server_event, connect, headers_for, user_text

GA_TEXT = {"type": "realtime", "output_modalities": ["text"]}


async def _refused(emu, dialect="ga", *, query):
    """Connect, read the one error and the close; return (error, close code, reason)."""
    async with open_websocket_url(f"{emu.url}?{query}", extra_headers=headers_for(dialect)) as ws:
        event = json.loads(await ws.get_message())
        check_server_event(dialect, event)
        assert event["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    return event["error"], closed.value.reason.code, closed.value.reason.reason


async def _update(client, session):
    """Send a session.update; return the error or the session.updated event."""
    await client.send({"type": "session.update", "session": session})
    event = await client.recv()
    assert event["type"] in ("error", "session.updated", "transcription_session.updated"), event
    return event


async def _lost(client):
    """The server closes the session with 4000; return the close reason."""
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.reason.code == 4000
    return closed.value.reason.reason


def test_aliases_resolve_in_the_catalogue():
    """An alias is the same model as its snapshots, and two snapshots are not."""
    assert alias_of("gpt-4o-realtime-preview-2024-12-17") == "gpt-4o-realtime-preview"
    assert alias_of("gpt-realtime") is None and alias_of("gpt-9-2025-01-01") is None
    assert same_model("gpt-4o-realtime-preview", "gpt-4o-realtime-preview-2024-12-17")
    assert same_model("gpt-realtime-2025-08-28", "gpt-realtime")
    assert not same_model(
        "gpt-4o-realtime-preview-2024-10-01", "gpt-4o-realtime-preview-2024-12-17"
    )
    assert not same_model("gpt-realtime", "gpt-realtime-1.5")


@pytest.mark.parametrize(
    "model", ["gpt-9000", "gpt-realtime-9-preview", "gpt-4o-realtime-preview-2024-12-17"]
)
async def test_unknown_and_shut_down_models_are_refused(emu, model):
    """Unknown and shut-down models: model_not_found, then close 4000."""
    error, code, reason = await _refused(emu, query=f"model={model}")
    assert (code, reason) == (4000, "invalid_request_error.model_not_found")
    assert (
        error["message"] == f"The model `{model}` does not exist or you do not have access to it."
    )


@pytest.mark.parametrize(
    ("today", "served"), [(dt.date(2027, 1, 19), True), (dt.date(2027, 1, 20), False)]
)
async def test_an_announced_shutdown_takes_effect_on_its_date(start, today, served):
    """gpt-realtime is served until its announced shutdown date, refused from it."""
    emu = await start(today=today)
    if served:
        async with connect(emu) as client:
            assert client.seen[0]["session"]["model"] == "gpt-realtime"
    else:
        error, code, _ = await _refused(emu, query="model=gpt-realtime")
        assert (error["code"], code) == ("model_not_found", 4000)


async def test_accept_beta_serves_beta_era_models_in_both_dialects(beta_emu):
    """With accept_beta the shut-down preview models are served, in beta and GA."""
    for dialect in ("beta", "ga"):
        query = "model=gpt-4o-realtime-preview-2024-12-17"
        async with connect(beta_emu, dialect, query=query) as client:
            assert client.seen[0]["session"]["model"] == "gpt-4o-realtime-preview-2024-12-17"


async def test_a_ga_only_model_is_not_served_in_beta(beta_emu):
    """A model the catalogue gives GA only is model_not_found for a beta client."""
    error, code, _ = await _refused(beta_emu, "beta", query="model=gpt-realtime-2")
    assert (error["code"], code) == ("model_not_found", 4000)


async def test_a_transcription_model_is_not_a_realtime_model(emu):
    """?model= naming a transcription model: invalid_model, close 4000."""
    error, code, reason = await _refused(emu, query="model=whisper-1")
    assert (code, reason) == (4000, "invalid_request_error.invalid_model")
    assert error["message"] == 'Model "whisper-1" is not supported in realtime mode.'


async def test_transcription_intent_with_a_model_is_refused(emu):
    """?intent=transcription together with model=: invalid_model with the service's message."""
    error, code, _ = await _refused(emu, query="intent=transcription&model=gpt-realtime")
    assert (error["code"], code) == ("invalid_model", 4000)
    assert error["message"] == "You must not provide a model parameter for transcription sessions."


@pytest.mark.parametrize(
    ("dialect", "connected", "alias"),
    [
        ("beta", "gpt-4o-realtime-preview-2024-12-17", "gpt-4o-realtime-preview"),
        ("ga", "gpt-realtime", "gpt-realtime-2025-08-28"),
        ("ga", "gpt-realtime-2025-08-28", "gpt-realtime"),
    ],
)
async def test_session_update_may_name_an_alias_of_the_model(beta_emu, dialect, connected, alias):
    """session.update naming an alias or snapshot of the connection's model is accepted."""
    async with connect(beta_emu, dialect, query=f"model={connected}") as client:
        session = {"model": alias} if dialect == "beta" else {**GA_TEXT, "model": alias}
        assert (await _update(client, session))["type"] == "session.updated"
        other = "gpt-4o-realtime-preview-2024-10-01" if dialect == "beta" else "gpt-realtime-1.5"
        session = {"model": other} if dialect == "beta" else {**GA_TEXT, "model": other}
        error = (await _update(client, session))["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "session.model")
        assert error["message"] == "Cannot update a session's model."


@pytest.mark.parametrize(
    ("model", "field", "value", "accepted"),
    [
        ("gpt-realtime-whisper", "prompt", "names: Ada", False),
        ("gpt-4o-transcribe-diarize", "prompt", "names: Ada", False),
        ("gpt-4o-transcribe", "prompt", "names: Ada", True),
        ("gpt-4o-transcribe", "languages", ["en"], False),
        ("gpt-transcribe", "languages", ["en", "fr"], True),
    ],
)
async def test_transcription_fields_follow_the_model(emu, model, field, value, accepted):
    """prompt and languages are refused for models that do not take them."""
    async with connect(emu, query="intent=transcription") as client:
        config = {"model": model, field: value}
        session = {"type": "transcription", "audio": {"input": {"transcription": config}}}
        event = await _update(client, session)
        if accepted:
            assert event["type"] == "session.updated"
            return
        param = f"session.audio.input.transcription.{field}"
        assert (event["error"]["code"], event["error"]["param"]) == ("unsupported_parameter", param)
        assert event["error"]["message"] == (
            f"Unsupported parameter: '{param}' is not supported with this model."
        )


async def test_beta_whisper_takes_prompt(beta_emu):
    """Beta transcription takes prompt for whisper-1 (the beta-era models all take it)."""
    async with connect(beta_emu, "beta", query="intent=transcription") as client:
        config = {"model": "whisper-1", "prompt": "names: Ada"}
        await client.send(
            {
                "type": "transcription_session.update",
                "session": {"input_audio_transcription": config},
            }
        )
        assert (await client.recv())["type"] == "transcription_session.updated"


async def test_a_shut_down_transcription_model_is_refused(start):
    """After its shutdown date a transcription model is model_not_found on its param."""
    emu = await start(today=dt.date(2027, 2, 26))
    async with connect(emu, query="intent=transcription") as client:
        config = {"model": "gpt-4o-transcribe"}
        session = {"type": "transcription", "audio": {"input": {"transcription": config}}}
        error = (await _update(client, session))["error"]
        assert (error["code"], error["param"]) == (
            "model_not_found",
            "session.audio.input.transcription.model",
        )


@pytest.mark.parametrize("side", ["input", "output"])
async def test_ga_pcm_without_rate_is_refused(emu, side):
    """GA audio/pcm without rate: missing_required_parameter naming the rate."""
    async with connect(emu) as client:
        session = {"type": "realtime", "audio": {side: {"format": {"type": "audio/pcm"}}}}
        await client.send({"type": "session.update", "session": session}, check=False)
        error = (await client.recv())["error"]
        param = f"session.audio.{side}.format.rate"
        assert (error["code"], error["param"]) == ("missing_required_parameter", param)
        assert error["message"] == f"Missing required parameter: '{param}'."


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_voice_is_locked_once_the_conversation_holds_assistant_audio(beta_emu, dialect):
    """A voice change is refused after an in-band spoken answer; before, or unchanged, it works."""

    def voice(name):
        if dialect == "beta":
            return {"voice": name}
        return {"type": "realtime", "audio": {"output": {"voice": name}}}

    async with connect(beta_emu, dialect) as client:
        if dialect == "ga":
            await client.audio_output_session()
        else:
            await _update(client, {"modalities": ["audio", "text"], "turn_detection": None})
        assert (await _update(client, voice("ash")))["type"] == "session.updated"
        await client.send({"type": "conversation.item.create", "item": user_text("Speak")})
        await client.recv_until(
            "conversation.item.done" if dialect == "ga" else "conversation.item.created"
        )
        await client.turn()
        assert (await _update(client, voice("ash")))["type"] == "session.updated"
        error = (await _update(client, voice("verse")))["error"]
        path = "session.voice" if dialect == "beta" else "session.audio.output.voice"
        assert (error["code"], error["param"]) == ("cannot_update_voice", path)
        assert (
            error["message"]
            == "Cannot update a conversation's voice if assistant audio is present."
        )


@pytest.mark.parametrize(
    ("event", "param"),
    [
        (
            {"type": "session.update", "session": {**GA_TEXT, "reasoning": {"effort": "low"}}},
            "session.reasoning",
        ),
        (
            {"type": "response.create", "response": {"parallel_tool_calls": True}},
            "response.parallel_tool_calls",
        ),
    ],
)
async def test_reasoning_fields_on_a_non_reasoning_model_lose_the_session(emu, event, param):
    """reasoning / parallel_tool_calls for gpt-realtime: unsupported_parameter, then close 4000."""
    async with connect(emu) as client:
        await client.send(event)
        error = (await client.recv())["error"]
        assert (error["code"], error["param"]) == ("unsupported_parameter", param)
        assert await _lost(client) == "invalid_request_error.unsupported_parameter"
    assert emu.stats.responses == 0


async def test_a_reasoning_model_takes_reasoning_and_its_larger_cap(emu):
    """gpt-realtime-2 accepts reasoning and up to 32,000 output tokens, not more."""
    async with connect(emu, query="model=gpt-realtime-2") as client:
        session = {**GA_TEXT, "reasoning": {"effort": "low"}, "max_output_tokens": 32_000}
        updated = await _update(client, session)
        assert updated["session"]["max_output_tokens"] == 32_000
        events = await client.turn({"reasoning": {"effort": "high"}, "parallel_tool_calls": True})
        assert events[-2]["response"]["status"] == "completed"
        error = (await _update(client, {**GA_TEXT, "max_output_tokens": 32_001}))["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "session.max_output_tokens")


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_output_cap_above_the_models_is_refused_in_responses(beta_emu, dialect):
    """A response's output cap above the model's 4,096 is invalid_value on its param."""
    key = "max_output_tokens" if dialect == "ga" else "max_response_output_tokens"
    async with connect(beta_emu, dialect) as client:
        await client.text_session()
        await client.send({"type": "response.create", "response": {key: 4097}})
        error = (await client.recv())["error"]
        assert (error["code"], error["param"]) == ("invalid_value", f"response.{key}")
        assert error["message"] == (
            f"Invalid 'response.{key}': integer above maximum value. Expected a value <= 4096, "
            "but got 4097 instead."
        )
        assert (await client.turn({key: 4096}))[-2]["response"]["status"] == "completed"


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_items_carry_object_only_in_beta(beta_emu, dialect):
    """GA items (client, committed audio, output) have no object field; beta's say realtime.item."""
    async with connect(beta_emu, dialect) as client:
        await client.text_session()
        await client.send({"type": "conversation.item.create", "item": user_text("hi")})
        await client.commit_audio(4800)
        events = await client.turn()
    items = [e["item"] for e in client.seen if "item" in e]
    items += [i for e in client.seen if "response" in e for i in e["response"]["output"]]
    assert len(items) >= 4
    expected = {"ga": None, "beta": "realtime.item"}[dialect]
    assert {i.get("object") for i in items} == {expected}
    assert events[-2]["response"]["object"] == "realtime.response"
