"""Usage accounting, audio sample counts and account-wide rate limits.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; ``autojump_clock`` where refill
time matters; the client closes first; no real sleeps.
"""

from __future__ import annotations

import math

import pytest
import trio

from rtbatch.emulator.replies import count_tokens
from tests.emulator.helpers import b64, connect, pcm16, user_text


def check_invariants(usage, dialect="ga"):
    """Assert the usage invariants of protocol notes §6.7."""
    inp, out = usage["input_token_details"], usage["output_token_details"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens"] == inp["text_tokens"] + inp["audio_tokens"] + inp.get(
        "image_tokens", 0
    )
    assert usage["output_tokens"] == out["text_tokens"] + out["audio_tokens"]
    cached = inp["cached_tokens_details"]
    assert inp["cached_tokens"] == sum(cached.values())
    assert cached["text_tokens"] <= inp["text_tokens"]
    assert cached["audio_tokens"] <= inp["audio_tokens"]
    assert ("image_tokens" in inp) == (dialect == "ga")


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_usage_invariants_and_rebilling(start, dialect):
    """Usage adds up, and the second in-band turn re-bills the first turn as input."""
    emu = await start(accept_beta=dialect == "beta")
    async with connect(emu, dialect) as client:
        await client.text_session()
        await client.send({"type": "conversation.item.create", "item": user_text("Hello there")})
        await client.recv_until(
            "conversation.item.done" if dialect == "ga" else "conversation.item.created"
        )
        first = (await client.turn())[-2]["response"]
        second = (await client.turn())[-2]["response"]
        for response in (first, second):
            check_invariants(response["usage"], dialect)
        text = first["output"][0]["content"][0]["text"]
        assert first["usage"]["output_tokens"] == count_tokens(text) == 13
        # The second turn reads the first's reply as one more message (+2 special tokens).
        assert second["usage"]["input_tokens"] == first["usage"]["input_tokens"] + 13 + 2


async def test_cached_tokens_for_a_long_shared_prefix(emu):
    """A repeated >= 1024-token prefix is reported cached, in multiples of 64."""
    instructions = "word " * 1500
    job = {"conversation": "none", "instructions": instructions, "input": [user_text("q1")]}
    async with connect(emu) as client:
        await client.text_session()
        first = (await client.turn(job))[-2]["response"]["usage"]
        second = (await client.turn({**job, "input": [user_text("q2")]}))[-2]["response"]
        usage = second["usage"]
        check_invariants(usage)
        assert first["input_token_details"]["cached_tokens"] == 0
        cached = usage["input_token_details"]["cached_tokens"]
        assert cached == (1500 + 2) // 64 * 64
        assert usage["input_token_details"]["cached_tokens_details"]["text_tokens"] == cached


async def test_audio_tokens_follow_duration(emu):
    """Input audio bills ceil(ms / 100); spoken output ceil(ms / 50) plus its transcript."""
    async with connect(emu) as client:
        await client.audio_output_session()
        await client.commit_audio(25_000)
        await client.recv_until("conversation.item.done")
        usage = (await client.turn())[-2]["response"]["usage"]
        check_invariants(usage)
        assert usage["input_token_details"]["audio_tokens"] == math.ceil(25_000 / 24 / 100)
        assert usage["output_token_details"] == {"text_tokens": 13, "audio_tokens": 72}


async def _transcribe(client, dialect, chunks, fmt):
    if dialect == "ga":
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {
                            "format": fmt,
                            "turn_detection": None,
                            "transcription": {"model": "gpt-4o-transcribe"},
                        }
                    },
                },
            }
        )
    else:
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "input_audio_format": fmt,
                    "turn_detection": None,
                    "input_audio_transcription": {"model": "gpt-4o-transcribe"},
                },
            }
        )
    await client.recv_until("session.updated")
    for chunk in chunks:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    await client.send({"type": "input_audio_buffer.commit"})
    events = await client.recv_until("conversation.item.input_audio_transcription.completed")
    return events[-1]["transcript"]


@pytest.mark.parametrize(
    "dialect,fmt,chunks,samples",
    [
        ("ga", {"type": "audio/pcm", "rate": 24000}, [pcm16(2400), pcm16(1), pcm16(9999)], 12400),
        ("ga", {"type": "audio/pcmu"}, [b"\xff" * 800, b"\x7f" * 333], 1133 * 3),
        ("beta", "g711_alaw", [b"\xd5" * 1000], 3000),
        ("beta", "pcm16", [pcm16(4800)], 4800),
    ],
)
async def test_transcript_states_exact_sample_count(start, dialect, fmt, chunks, samples):
    """The transcript names the exact count of 24 kHz samples received (G.711: x3)."""
    emu = await start(accept_beta=dialect == "beta")
    async with connect(emu, dialect) as client:
        transcript = await _transcribe(client, dialect, chunks, fmt)
        assert transcript == f"Emulated transcript of {samples} samples."


async def test_commit_too_short_and_clear(emu):
    """Committing < 100 ms is refused with the real message; clear empties the buffer."""
    async with connect(emu) as client:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(pcm16(2399))})
        await client.send({"type": "input_audio_buffer.commit", "event_id": "k1"})
        error = (await client.recv())["error"]
        assert error["code"] == "input_audio_buffer_commit_empty"
        assert error["message"] == (
            "Error committing input audio buffer: buffer too small. Expected at least 100ms "
            "of audio, but buffer only has 99.96ms of audio."
        )
        await client.send({"type": "input_audio_buffer.append", "audio": b64(pcm16(4800))})
        await client.send({"type": "input_audio_buffer.clear"})
        assert (await client.recv())["type"] == "input_audio_buffer.cleared"
        await client.send({"type": "input_audio_buffer.commit"})
        assert "0.00ms" in (await client.recv())["error"]["message"]


async def test_rpm_limit_fails_with_real_shape(start, autojump_clock):
    """Past --rpm the response fails with rate_limit_exceeded; buckets refill over time."""
    emu = await start(rpm=2, accept_beta=True)
    async with connect(emu, "beta") as client:
        await client.text_session()
        first = await client.turn()
        assert first[-1]["rate_limits"][0] == {
            "name": "requests",
            "limit": 2,
            "remaining": 1,
            "reset_seconds": 30.0,
        }
        await client.turn()
        third = await client.turn()
        done = third[-2]["response"]
        assert done["status"] == "failed"
        error = done["status_details"]["error"]
        assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
        assert error["message"] == (
            "Rate limit reached for gpt-realtime in organization org-emulator on requests per "
            "min (RPM): Limit 2, Used 2, Requested 1. Please try again in 30s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        assert third[-1]["rate_limits"][0]["remaining"] == 0
        await trio.sleep(30)
        assert (await client.turn())[-2]["response"]["status"] == "completed"
    assert emu.stats.rate_limited == 1
    emu.sync_window_stats()
    assert emu.stats.max_requests_per_60s == 3


async def test_tpm_limit_is_shared_across_connections(start, autojump_clock):
    """The token bucket is account-wide: one connection's usage limits another's."""
    emu = await start(tpm=60)
    async with connect(emu) as a, connect(emu) as b:
        await a.text_session()
        await b.text_session()
        first = (await a.turn())[-2]["response"]
        assert first["status"] == "completed"
        tokens = (await a.turn())[-1]["rate_limits"][0]
        assert tokens["name"] == "tokens" and tokens["remaining"] < 60
        statuses = [(await b.turn())[-2]["response"]["status"] for _ in range(2)]
        assert "failed" in statuses
