"""Input transcription the way the model does it: length, output cap, per-item limit, usage.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; the client closes first; no real
sleeps. Long items travel as G.711 (8 kHz, one byte a sample, counted as three 24 kHz
samples), so half an hour of audio is one append under the 15 MiB limit.
"""

from __future__ import annotations

import math

import pytest

from rtbatch.emulator.replies import SPEECH_WORDS_PER_S, WORDS_PER_TOKEN
from rtbatch.emulator.transcription import too_long
from rtbatch.models import lookup
from tests.emulator.helpers import b64, connect

G711_RATE = 8000
COMPLETED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"


async def _transcribe(emu, model: str, seconds: float):
    """One G.711 item of ``seconds`` in a GA transcription session; the final event."""
    async with connect(emu, query="intent=transcription") as client:
        audio_input = {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": model},
            "turn_detection": None,
        }
        session = {"type": "transcription", "audio": {"input": audio_input}}
        await client.send({"type": "session.update", "session": session})
        await client.recv_until("session.updated")
        audio = b64(b"\xff" * round(seconds * G711_RATE))
        await client.send({"type": "input_audio_buffer.append", "audio": audio}, check=False)
        await client.send({"type": "input_audio_buffer.commit"})
        while True:
            event = await client.recv()
            if event["type"] in (COMPLETED, FAILED):
                return event


@pytest.mark.parametrize("seconds", [2.0, 60.0, 120.0])
async def test_transcript_grows_with_duration_and_states_the_samples(emu, seconds):
    """About 2.5 words per second of audio, opening with the exact sample count."""
    event = await _transcribe(emu, "gpt-4o-transcribe", seconds)
    words = event["transcript"].split(" ")
    samples = round(seconds * 24000)
    assert words[:5] == ["Emulated", "transcript", "of", str(samples), "samples."]
    assert len(words) == max(5, round(seconds * SPEECH_WORDS_PER_S))
    assert event["usage"]["output_tokens"] == math.ceil(len(words) / WORDS_PER_TOKEN)


async def test_transcript_is_cut_at_the_models_output_cap(emu):
    """Past ~10 minutes gpt-4o-transcribe stops at 2,000 tokens; whisper-1 has no cap."""
    capped = await _transcribe(emu, "gpt-4o-transcribe", 700.0)
    assert capped["type"] == COMPLETED
    assert len(capped["transcript"].split(" ")) == 2000 * WORDS_PER_TOKEN
    assert capped["usage"]["output_tokens"] == 2000
    assert capped["transcript"].startswith("Emulated transcript of 16800000 samples.")
    whole = await _transcribe(emu, "whisper-1", 700.0)
    assert len(whole["transcript"].split(" ")) == 700 * SPEECH_WORDS_PER_S


async def test_an_item_over_the_models_limit_fails_as_the_service_fails_it(emu):
    """1,830.53 s for gpt-4o-transcribe (limit 1,400 s): transcription.failed, invalid_value."""
    event = await _transcribe(emu, "gpt-4o-transcribe", 1830.53)
    assert event["type"] == FAILED
    assert event["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "audio duration 1830.53 seconds is longer than 1400 seconds which is the "
        "maximum for this model",
        "param": None,
    }
    assert not emu.connections[0].transcripts


def test_the_limit_is_inclusive_and_per_model():
    """Exactly 1,400 s passes, one sample more fails; models without a limit never fail."""
    limit = 1400 * 24000
    assert too_long(lookup("gpt-4o-transcribe"), limit) is None
    assert too_long(lookup("gpt-4o-transcribe"), limit + 1) is not None
    assert too_long(lookup("whisper-1"), 10 * limit) is None


@pytest.mark.parametrize(
    ("model", "billing"),
    [
        ("gpt-4o-mini-transcribe", "tokens"),
        ("gpt-4o-transcribe-diarize", "tokens"),
        ("whisper-1", "duration"),
        ("gpt-transcribe", "duration"),
        ("gpt-live-transcribe", "duration"),
        ("gpt-realtime-whisper", "duration"),
    ],
)
async def test_usage_follows_the_models_billing(emu, model, billing):
    """Token-billed models report tokens (audio in, transcript out); per-minute ones seconds."""
    event = await _transcribe(emu, model, 3.0)
    usage = event["usage"]
    assert usage["type"] == billing
    if billing == "duration":
        assert usage == {"type": "duration", "seconds": 3.0}
    else:
        assert usage["input_token_details"] == {"text_tokens": 0, "audio_tokens": 30}
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
