"""Rules the service enforces today and the emulator once let through (issue #20).

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; the client closes first; no real
sleeps. Every event passes the SDK 3.63.0 models (see helpers).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.emulator.helpers import connect, ga_text_session_update, types_of, user_text

SAVED_PROMPT = {"id": "pmpt_0123456789abcdef", "version": "2", "variables": {"city": "Paris"}}


async def _answer(client, event):
    """Send ``event``; return the next event (an error, or what it produced)."""
    await client.send(event)
    return await client.recv()


def _saved_prompt_message(param: str) -> str:
    return (
        f"Unsupported parameter: '{param}'. Saved prompts were shut down on November 30, "
        "2026; put the prompt in your instructions and input instead "
        "(https://developers.openai.com/api/docs/guides/prompting/migrate-from-prompt-object)."
    )


async def test_a_saved_prompt_in_the_session_is_refused(emu):
    """session.prompt {id} is unsupported_parameter and changes nothing; null passes."""
    async with connect(emu) as client:
        event = await _answer(client, ga_text_session_update(prompt=SAVED_PROMPT))
        error = event["error"]
        assert (error["code"], error["param"]) == ("unsupported_parameter", "session.prompt")
        assert error["message"] == _saved_prompt_message("session.prompt")
        updated = await _answer(client, ga_text_session_update(prompt=None))
        assert updated["type"] == "session.updated"
        assert updated["session"]["prompt"] is None


async def test_a_saved_prompt_in_a_response_is_refused(emu):
    """response.prompt {id} is refused before any response.created (in band and out)."""
    async with connect(emu) as client:
        await client.text_session()
        for conversation in ("auto", "none"):
            response = {"conversation": conversation, "prompt": {"id": "pmpt_1"}}
            event = await _answer(
                client, {"type": "response.create", "event_id": "c1", "response": response}
            )
            error = event["error"]
            assert (error["code"], error["param"], error["event_id"]) == (
                "unsupported_parameter",
                "response.prompt",
                "c1",
            )
            assert error["message"] == _saved_prompt_message("response.prompt")
        assert emu.stats.responses == 0


async def test_saved_prompts_work_before_their_shutdown(start):
    """Judged at a date before 2026-11-30 (``today``), a saved prompt is still accepted."""
    emu = await start(today=dt.date(2026, 11, 29))
    async with connect(emu) as client:
        event = await _answer(client, ga_text_session_update(prompt=SAVED_PROMPT))
        assert event["type"] == "session.updated"
        assert event["session"]["prompt"] == SAVED_PROMPT
        events = await client.turn({"prompt": {"id": "pmpt_1"}, "input": [user_text("hi")]})
        assert types_of(events)[-2:] == ["response.done", "rate_limits.updated"]


def _noise_update(intent: str, noise: object) -> dict[str, object]:
    audio_input = {"noise_reduction": noise, "turn_detection": None}
    return {"type": "session.update", "session": {"type": intent, "audio": {"input": audio_input}}}


@pytest.mark.parametrize("intent", ["realtime", "transcription"])
async def test_noise_reduction_needs_a_type(emu, intent):
    """noise_reduction {} is missing_required_parameter on its type; null and a type pass."""
    query = "model=gpt-realtime" if intent == "realtime" else "intent=transcription"
    async with connect(emu, query=query) as client:
        error = (await _answer(client, _noise_update(intent, {})))["error"]
        param = "session.audio.input.noise_reduction.type"
        assert (error["code"], error["param"]) == ("missing_required_parameter", param)
        assert error["message"] == f"Missing required parameter: '{param}'."
        error = (await _answer(client, _noise_update(intent, {"strength": 0.5})))["error"]
        assert error["param"] == param
        for noise in (None, {"type": "far_field"}):
            updated = await _answer(client, _noise_update(intent, noise))
            assert updated["type"] == "session.updated"
            assert updated["session"]["audio"]["input"]["noise_reduction"] == noise


def _whisper_update(intent: str, **audio_input: object) -> dict[str, object]:
    audio_input.setdefault("transcription", {"model": "gpt-realtime-whisper"})
    return {"type": "session.update", "session": {"type": intent, "audio": {"input": audio_input}}}


@pytest.mark.parametrize("intent", ["realtime", "transcription"])
async def test_gpt_realtime_whisper_refuses_turn_detection(emu, intent):
    """gpt-realtime-whisper with VAD on (the default, or set) is refused; VAD null passes."""
    query = "model=gpt-realtime" if intent == "realtime" else "intent=transcription"
    param = "session.audio.input.turn_detection"
    async with connect(emu, query=query) as client:
        for audio_input, vad in (
            ({}, "server_vad"),  # the session's default VAD stays on
            ({"turn_detection": {"type": "semantic_vad"}}, "semantic_vad"),
        ):
            error = (await _answer(client, _whisper_update(intent, **audio_input)))["error"]
            assert (error["code"], error["param"]) == ("unsupported_value", param)
            assert error["message"] == (
                f"Unsupported value: '{param}' does not support '{vad}' with "
                "gpt-realtime-whisper. Only null is supported: this model has no turn detection."
            )
        updated = await _answer(client, _whisper_update(intent, turn_detection=None))
        assert updated["type"] == "session.updated"
        # Once whisper is set, switching VAD back on is refused, and the session keeps VAD off.
        vad_on = {
            "type": "session.update",
            "session": {
                "type": intent,
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            },
        }
        assert (await _answer(client, vad_on))["error"]["code"] == "unsupported_value"
        await client.commit_audio(24000)
        if intent == "transcription":
            events = await client.recv_until(
                "conversation.item.input_audio_transcription.completed"
            )
            assert events[-1]["usage"] == {"type": "duration", "seconds": 1.0}


LOGPROBS = "item.input_audio_transcription.logprobs"


async def _transcribe(client, samples=36000):
    await client.commit_audio(samples)
    events = await client.recv_until("conversation.item.input_audio_transcription.completed")
    return [e for e in events if e["type"].endswith("transcription.delta")], events[-1]


def _assert_real_logprobs(deltas, completed):
    for delta in deltas:
        [entry] = delta["logprobs"]
        assert entry["token"] == delta["delta"]
        assert entry["bytes"] == list(delta["delta"].encode())
        assert -0.5 <= entry["logprob"] <= 0
    flat = completed["logprobs"]
    assert [e for d in deltas for e in d["logprobs"]] == flat
    assert "".join(e["token"] for e in flat) == completed["transcript"]


@pytest.mark.parametrize("include", [[LOGPROBS], None])
async def test_ga_include_logprobs_fills_transcripts(emu, include):
    """include logprobs: every delta and completed carry a real list; without it, null."""
    async with connect(emu, query="intent=transcription") as client:
        audio_input = {"transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": None}
        session = {"type": "transcription", "audio": {"input": audio_input}, "include": include}
        assert (await _answer(client, {"type": "session.update", "session": session}))["session"][
            "include"
        ] == include
        deltas, completed = await _transcribe(client)
        if include is None:
            assert completed["logprobs"] is None
            assert all(d["logprobs"] is None for d in deltas)
            return
        _assert_real_logprobs(deltas, completed)
        again = await _transcribe(client)
        assert again[1]["logprobs"] == completed["logprobs"]  # deterministic


async def test_ga_realtime_session_include_logprobs(emu):
    """On a realtime session, input transcription honours include too."""
    async with connect(emu) as client:
        audio_input = {"transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": None}
        await _answer(
            client, ga_text_session_update(audio={"input": audio_input}, include=[LOGPROBS])
        )
        _assert_real_logprobs(*await _transcribe(client))


async def test_logprobs_stay_null_for_a_model_without_them(emu):
    """gpt-realtime-whisper gives no logprobs (the catalogue), include or not."""
    async with connect(emu, query="intent=transcription") as client:
        audio_input = {"transcription": {"model": "gpt-realtime-whisper"}, "turn_detection": None}
        session = {"type": "transcription", "audio": {"input": audio_input}, "include": [LOGPROBS]}
        await _answer(client, {"type": "session.update", "session": session})
        deltas, completed = await _transcribe(client)
        assert completed["logprobs"] is None and deltas[0]["logprobs"] is None


async def test_beta_include_logprobs(beta_emu):
    """Beta transcription sessions: include logprobs fills the lists, SDK-valid."""
    async with connect(beta_emu, "beta", query="intent=transcription") as client:
        session = {
            "input_audio_transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": None,
            "include": [LOGPROBS],
        }
        await _answer(client, {"type": "transcription_session.update", "session": session})
        _assert_real_logprobs(*await _transcribe(client))
        bad = {"type": "transcription_session.update", "session": {"include": ["x"]}}
        await client.send(bad, check=False)
        error = (await client.recv())["error"]
        assert (error["code"], error["param"]) == ("invalid_value", "session.include[0]")


async def test_beta_has_no_saved_prompts(beta_emu):
    """The beta interface never had prompt: unknown_parameter, in session and response."""
    async with connect(beta_emu, "beta") as client:
        for event, param in (
            ({"type": "session.update", "session": {"prompt": SAVED_PROMPT}}, "session.prompt"),
            ({"type": "response.create", "response": {"prompt": SAVED_PROMPT}}, "response.prompt"),
        ):
            await client.send(event, check=False)
            error = (await client.recv())["error"]
            assert (error["code"], error["param"]) == ("unknown_parameter", param)
