"""Faults (scheduled, and seeded-random), and session expiry.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; ``autojump_clock`` where time
matters; the server closes first in the drop and expiry tests; no real sleeps.
"""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed

from rtbatch.emulator import FaultSchedule
from rtbatch.retry import retry_hint
from tests.emulator.helpers import connect, types_of

CAPACITY_MESSAGE = "We're currently processing too many requests - please try again later."


def _schedule(kind: str, ordinal: int = 0) -> FaultSchedule:
    return FaultSchedule(responses={ordinal: kind})


async def _healthy_turn(emu):
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn()
        assert events[-2]["response"]["status"] == "completed"


async def test_drop_cuts_the_connection_mid_response(start):
    """drop: after a few deltas the TCP connection closes with no close frame (1006)."""
    emu = await start(schedule=_schedule("drop"))
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        deltas = 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                if (await client.recv())["type"] == "response.output_text.delta":
                    deltas += 1
        assert closed.value.reason.code == 1006
        assert deltas == 2
        assert "response.done" not in types_of(client.seen)
    assert emu.stats.faults_injected["drop"] == 1
    await _healthy_turn(emu)


async def test_server_error_fails_the_response(start):
    """server_error: response.done failed with a server_error error."""
    emu = await start(schedule=_schedule("server_error"))
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn()
        done = events[-2]["response"]
        assert types_of(events) == ["response.created", "response.done", "rate_limits.updated"]
        assert done["status"] == "failed"
        error = done["status_details"]["error"]
        assert (error["type"], error["code"]) == ("server_error", "server_error")
        assert error["message"].startswith("The server had an error while processing")
        assert (await client.turn())[-2]["response"]["status"] == "completed"


async def test_rate_limit_fault_fails_the_response(start):
    """rate_limit: response.done failed with rate_limit_exceeded in the real wording."""
    emu = await start(schedule=_schedule("rate_limit"))
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn()
        error = events[-2]["response"]["status_details"]["error"]
        assert (error["type"], error["code"]) == ("tokens", "rate_limit_exceeded")
        assert error["message"].startswith(
            "Rate limit reached for gpt-realtime in organization "
            "org-emulator on tokens per min (TPM): Limit "
        )
        # A plausible "try again in" (what clients pace by), never an hours-long wait.
        assert 0.2 <= retry_hint(error["message"]) <= 2.0
        assert emu.stats.rate_limited == 1


async def test_stall_goes_silent_but_connection_lives(start, autojump_clock):
    """stall: created + one delta, then silence; pings and other events still answered."""
    emu = await start(schedule=_schedule("stall"))
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        await client.recv_until("response.output_text.delta")
        with trio.move_on_after(30) as silent:
            await client.recv()
        assert silent.cancelled_caught
        with trio.fail_after(1):
            await client.ws.ping(b"still there?")
        await client.send({"type": "response.create", "response": {"conversation": "none"}})
        events = await client.recv_until("rate_limits.updated")
        assert events[-2]["response"]["status"] == "completed"
        await client.send({"type": "response.cancel"})
        events = await client.recv_until("rate_limits.updated")
        assert events[-2]["response"]["status"] == "cancelled"


async def test_invalid_frame_then_normal_completion(start):
    """invalid_frame: one non-JSON frame mid-stream, then the response completes."""
    emu = await start(schedule=_schedule("invalid_frame"))
    async with connect(emu) as client:
        await client.text_session()
        await client.send({"type": "response.create"})
        frames = []
        while True:
            frame = await client.ws.get_message()
            try:
                event = json.loads(frame)
            except ValueError:
                frames.append("<invalid>")
                continue
            frames.append(event["type"])
            if event["type"] == "rate_limits.updated":
                break
        assert frames.count("<invalid>") == 1
        assert frames[frames.index("<invalid>") - 1] == "response.output_text.delta"
        assert "response.done" in frames


@pytest.mark.parametrize(
    "kind,code",
    [
        ("server_error", "server_error"),
        ("rate_limit", "rate_limit_exceeded"),
        ("rpd", "rate_limit_exceeded"),
        ("inference_rate_limit", "inference_rate_limit_exceeded"),
    ],
)
async def test_transcription_faults_fail_the_transcription(start, kind, code):
    """Transcription faults end in conversation.item.input_audio_transcription.failed."""
    emu = await start(schedule=_schedule(kind))
    async with connect(emu, query="intent=transcription") as client:
        await client.transcription_session("gpt-4o-mini-transcribe")
        await client.commit_audio(4800)
        failed = (await client.recv_until("conversation.item.input_audio_transcription.failed"))[-1]
        assert failed["error"]["code"] == code


async def test_inference_rate_limit_fault_is_the_capacity_refusal(start):
    """inference_rate_limit: response.done failed, invalid_request_error, no wait named."""
    emu = await start(schedule=_schedule("inference_rate_limit"))
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn()
        assert types_of(events) == ["response.created", "response.done", "rate_limits.updated"]
        assert events[-2]["response"]["status_details"] == {
            "type": "failed",
            "error": {
                "type": "invalid_request_error",
                "code": "inference_rate_limit_exceeded",
                "message": CAPACITY_MESSAGE,
            },
        }
        assert (await client.turn())[-2]["response"]["status"] == "completed"
    assert emu.stats.rate_limited == 1


@pytest.mark.parametrize("rpd,limit,wait", [(None, 1000, "1m26.4s"), (50, 50, "28m48s")])
async def test_rpd_fault_speaks_the_daily_limit(start, rpd, limit, wait):
    """rpd: the captured RPD wording; the limit is --rpd (else 1000), the wait a day / limit."""
    emu = await start(schedule=_schedule("rpd"), rpd=rpd)
    async with connect(emu) as client:
        await client.text_session()
        error = (await client.turn())[-2]["response"]["status_details"]["error"]
        assert error == {
            "type": "requests",
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached for gpt-realtime in organization org-emulator on "
            f"requests per day (RPD): Limit {limit}, Used {limit}, Requested 1. Please try "
            f"again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn "
            "more.",
        }
        assert retry_hint(error["message"]) == 86_400 / limit


ACCOUNT_FATAL = [
    (
        "account_deactivated",
        "invalid_request_error",
        "This key is associated with a deactivated account. If you feel this is an error, "
        "contact us through our help center at help.openai.com.",
        3000,
    ),
    (
        "billing_hard_limit_reached",
        "invalid_request_error",
        "Billing hard limit has been reached",
        4000,
    ),
    (
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        4000,
    ),
]


async def _fatal_turn(client, error_type: str, code: str, message: str, close_code: int):
    """A response.create on a dead account: one error, no response, then the server closes."""
    await client.send({"type": "response.create"})
    event = await client.recv()
    assert event["type"] == "error"
    assert event["error"] == {
        "type": error_type,
        "code": code,
        "message": message,
        "param": None,
        "event_id": None,
    }
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv()
    assert closed.value.reason.code == close_code
    assert closed.value.reason.reason == f"invalid_request_error.{code}"


@pytest.mark.parametrize("code,error_type,message,close_code", ACCOUNT_FATAL)
async def test_account_fatal_fails_every_later_generation_and_closes(
    start, code, error_type, message, close_code
):
    """account_fatal: from its ordinal on, each generation gets the code's error and a close."""
    emu = await start(schedule=_schedule("account_fatal", 1), account_fatal_code=code)
    async with connect(emu) as client:
        await client.text_session()
        assert (await client.turn())[-2]["response"]["status"] == "completed"
        await _fatal_turn(client, error_type, code, message, close_code)
    # The account stays dead: a new connection opens, its first generation is refused.
    async with connect(emu) as client:
        await client.text_session()
        await _fatal_turn(client, error_type, code, message, close_code)
    assert emu.stats.closed_codes[close_code] == 2
    assert emu.stats.faults_injected["account_fatal"] == 1
    assert (emu.stats.responses, emu.stats.rate_limited) == (1, 0)


async def test_account_fatal_ends_a_transcription_session(start):
    """A commit that would transcribe on a dead account: the error, then close 4000."""
    emu = await start(faults={"account_fatal": 1.0})
    async with connect(emu, query="intent=transcription") as client:
        await client.transcription_session("gpt-4o-mini-transcribe")
        await client.commit_audio(4800)
        error = (await client.recv_until("error"))[-1]["error"]
        assert error["code"] == "insufficient_quota"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await client.recv()
        assert closed.value.reason.code == 4000
        assert closed.value.reason.reason == "invalid_request_error.insufficient_quota"


async def test_random_faults_are_reproducible_with_a_seed(start):
    """The same seed and rates inject the same faults at the same ordinals."""
    runs = []
    for _ in range(2):
        emu = await start(faults={"server_error": 0.5}, seed=7)
        async with connect(emu) as client:
            await client.text_session()
            statuses = [(await client.turn())[-2]["response"]["status"] for _ in range(8)]
        runs.append(statuses)
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"failed", "completed"}


async def test_session_expiry_minutes(start, autojump_clock):
    """After session_max_seconds: session_expired error, then close 1001."""
    emu = await start(session_max_seconds=120)
    async with connect(emu) as client:
        start_time = trio.current_time()
        event = await client.recv()
        assert trio.current_time() - start_time == pytest.approx(120, abs=0.01)
        assert event["error"]["code"] == "session_expired"
        assert event["error"]["message"] == "Your session hit the maximum duration of 2 minutes."
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.reason.code == 1001
        assert closed.value.reason.reason == "Your session hit the maximum duration of 2 minutes."


async def test_session_expiry_close_reason_is_the_captured_sentence(start, autojump_clock):
    """At the default 60 minutes the close reason is the captured frame's sentence."""
    emu = await start()
    async with connect(emu) as client:
        event = await client.recv()
        assert event["error"]["code"] == "session_expired"
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert (closed.value.reason.code, closed.value.reason.reason) == (
            1001,
            "Your session hit the maximum duration of 60 minutes.",
        )
    assert emu.connections[0].close_code == 1001


async def test_session_expiry_abandons_in_flight_response(start, autojump_clock):
    """An in-flight response at expiry gets no response.done; the message uses seconds."""
    emu = await start(session_max_seconds=2.5, latency_ms=10_000)
    async with connect(emu) as client:
        assert client.seen[0]["session"]["expires_at"] > 0
        await client.text_session()
        await client.send({"type": "response.create"})
        events = await client.recv_until("error")
        assert events[-1]["error"]["message"] == (
            "Your session hit the maximum duration of 2.5 seconds."
        )
        assert "response.done" not in types_of(events)
        with pytest.raises(ConnectionClosed):
            await client.recv()
