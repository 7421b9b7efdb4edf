"""The account's limits, enforced on trio's clock: RPM, TPM, RPD, capacity, rate_limits.updated.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; every time-dependent test runs
on ``autojump_clock`` and asserts the exact ``trio.current_time()`` at which a limit
refuses or admits; no real sleeps.
"""

from __future__ import annotations

import pytest
import trio
from click.testing import CliRunner
from trio_websocket import ConnectionClosed

from rtbatch.emulator import EmulatorConfig, FaultSchedule
from rtbatch.emulator.cli import serve
from rtbatch.emulator.ratelimit import format_wait
from rtbatch.retry import retry_hint
from tests.emulator.helpers import connect, types_of

OOB = {"conversation": "none", "input": []}
RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
CAPACITY_ERROR = {
    "type": "invalid_request_error",
    "code": "inference_rate_limit_exceeded",
    "message": "We're currently processing too many requests - please try again later.",
}


def _rate_message(
    unit: str, limit: int, used: int, requested: int, wait: str, model: str = "gpt-realtime"
) -> str:
    return (
        f"Rate limit reached for {model} in organization org-emulator on {unit}: "
        f"Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait}. "
        f"Visit {RATE_LIMITS_URL} to learn more."
    )


async def _status(client) -> tuple[str, dict | None]:
    """One out-of-band turn: its final status and its error, if failed."""
    done = (await client.turn(OOB))[-2]["response"]
    details = done["status_details"] or {}
    return done["status"], details.get("error")


async def _sleep_until(instant: float) -> None:
    await trio.sleep_until(instant)
    assert trio.current_time() == instant


async def test_rpm_refuses_the_61st_request_until_the_bucket_refills(start, autojump_clock):
    """rpm=60: 60 requests at t=0, the 61st refused with the exact refill time, then admitted."""
    emu = await start(rpm=60, reply_words=1)
    async with connect(emu) as client:
        await client.text_session()
        t0 = trio.current_time()
        for _ in range(60):
            assert (await _status(client))[0] == "completed"
        assert trio.current_time() == t0
        status, error = await _status(client)
        assert status == "failed"
        assert error == {
            "type": "requests",
            "code": "rate_limit_exceeded",
            "message": _rate_message("requests per min (RPM)", 60, 60, 1, "1s"),
        }
        assert retry_hint(error["message"]) == 1.0
        await _sleep_until(t0 + 0.25)
        assert "try again in 750ms." in (await _status(client))[1]["message"]
        await _sleep_until(t0 + 0.999)
        assert "try again in 1ms." in (await _status(client))[1]["message"]
        await _sleep_until(t0 + 1.0)
        assert (await _status(client))[0] == "completed"
        assert "try again in 1s." in (await _status(client))[1]["message"]
    assert emu.limits.refused["requests"] == 4
    assert emu.stats.rate_limited == 4


async def test_connections_and_plain_commits_cost_no_request(start, autojump_clock):
    """Only generations count: handshakes, session updates and untranscribed commits are free."""
    emu = await start(rpm=2, reply_words=1)
    for _ in range(5):
        async with connect(emu) as client:
            await client.text_session()
            await client.commit_audio(4800)
            await client.recv_until("input_audio_buffer.committed")
    async with connect(emu) as client:
        await client.text_session()
        statuses = [(await _status(client))[0] for _ in range(3)]
        assert statuses == ["completed", "completed", "failed"]


async def test_a_commit_that_transcribes_is_a_request(start, autojump_clock):
    """Each committed buffer that is transcribed takes one request from the RPM bucket."""
    emu = await start(rpm=2)
    async with connect(emu, query="intent=transcription") as client:
        await client.transcription_session("gpt-4o-mini-transcribe")
        for _ in range(2):
            await client.commit_audio(4800)
            await client.recv_until("conversation.item.input_audio_transcription.completed")
        await client.commit_audio(4800)
        failed = await client.recv_until("conversation.item.input_audio_transcription.failed")
        assert failed[-1]["error"] == {
            "type": "requests",
            "code": "rate_limit_exceeded",
            "message": _rate_message(
                "requests per min (RPM)", 2, 2, 1, "30s", model="gpt-4o-mini-transcribe"
            ),
            "param": None,
        }


async def test_tpm_refusal_names_the_tokens_and_their_refill_time(start, autojump_clock):
    """tpm=20: a 16-token request after a 16-token one waits (16 - 4) / (20/60 s) = 36 s."""
    emu = await start(tpm=20, reply_words=1)
    async with connect(emu) as client:
        await client.text_session()
        t0 = trio.current_time()
        first = await client.turn(OOB)
        used = first[-2]["response"]["usage"]["total_tokens"]
        assert used == 16
        assert first[-1]["rate_limits"] == [
            {"name": "tokens", "limit": 20, "remaining": 4, "reset_seconds": 48.0}
        ]
        status, error = await _status(client)
        assert (status, error["type"]) == ("failed", "tokens")
        assert error["message"] == _rate_message("tokens per min (TPM)", 20, 16, 16, "36s")
        await _sleep_until(t0 + 35.999)
        assert "try again in 1ms." in (await _status(client))[1]["message"]
        await _sleep_until(t0 + 36)
        assert (await _status(client))[0] == "completed"


async def test_rpd_refuses_with_the_daily_message_until_a_request_frees(start, autojump_clock):
    """rpd=3: the 4th request waits a third of a day (8h0m0s); at that instant one is admitted."""
    emu = await start(rpd=3, reply_words=1, session_max_seconds=100_000)
    async with connect(emu) as client:
        await client.text_session()
        t0 = trio.current_time()
        assert [(await _status(client))[0] for _ in range(3)] == ["completed"] * 3
        status, error = await _status(client)
        assert status == "failed"
        assert error == {
            "type": "requests",
            "code": "rate_limit_exceeded",
            "message": _rate_message("requests per day (RPD)", 3, 3, 1, "8h0m0s"),
        }
        await _sleep_until(t0 + 28_799.999)
        assert "try again in 1ms." in (await _status(client))[1]["message"]
        await _sleep_until(t0 + 28_800)
        assert (await _status(client))[0] == "completed"
        assert "try again in 8h0m0s." in (await _status(client))[1]["message"]
    assert emu.limits.refused["rpd"] == 3


async def test_the_limit_that_frees_last_is_named(start, autojump_clock):
    """With RPM and RPD both spent, the refusal names RPD: its wait is the one that decides."""
    emu = await start(rpm=2, rpd=2, reply_words=1)
    async with connect(emu) as client:
        await client.text_session()
        await _status(client)
        await _status(client)
        message = (await _status(client))[1]["message"]
        assert "on requests per day (RPD): Limit 2, Used 2" in message
        assert "try again in 12h0m0s." in message


async def test_max_inflight_refuses_capacity_across_connections(start, autojump_clock):
    """max_inflight=2: a third response anywhere is refused for capacity, no wait named."""
    emu = await start(max_inflight=2, latency_ms=1000, reply_words=1)
    async with connect(emu) as a, connect(emu) as b:
        await a.text_session()
        await b.text_session()
        t0 = trio.current_time()
        for _ in range(2):
            await a.send({"type": "response.create", "response": OOB})
            await a.recv_until("response.created")
        await b.send({"type": "response.create", "response": OOB})
        refused = await b.recv_until("rate_limits.updated")
        assert trio.current_time() == t0
        assert types_of(refused) == ["response.created", "response.done", "rate_limits.updated"]
        done = refused[1]["response"]
        assert done["status"] == "failed"
        assert done["status_details"] == {"type": "failed", "error": CAPACITY_ERROR}
        assert retry_hint(CAPACITY_ERROR["message"]) is None
        for _ in range(2):
            assert (await a.recv_until("rate_limits.updated"))[-2]["response"]["status"] == (
                "completed"
            )
        assert trio.current_time() == t0 + 1.0
        assert (await _status(b))[0] == "completed"
        assert trio.current_time() == t0 + 2.0
    assert (emu.limits.peak_inflight, emu.limits.inflight) == (2, 0)
    assert emu.limits.refused["inflight"] == 1 and emu.stats.rate_limited == 1


async def test_max_inflight_refuses_a_transcription_with_the_failed_event(start, autojump_clock):
    """max_inflight=1: a second transcription at once fails with inference_rate_limit_exceeded."""
    emu = await start(max_inflight=1, latency_ms=1000)
    async with connect(emu, query="intent=transcription") as client:
        await client.transcription_session("gpt-4o-mini-transcribe")
        t0 = trio.current_time()
        await client.commit_audio(4800)
        await client.commit_audio(4800)
        failed = (await client.recv_until("conversation.item.input_audio_transcription.failed"))[-1]
        assert failed["error"] == {**CAPACITY_ERROR, "param": None}
        await client.recv_until("conversation.item.input_audio_transcription.completed")
        assert trio.current_time() == t0 + 1.0
    assert emu.limits.inflight == 0


async def test_an_abandoned_response_frees_its_slot(start, autojump_clock):
    """A response cut by a dropped link leaves the in-flight count; the next one is admitted."""
    emu = await start(max_inflight=1, schedule=FaultSchedule(responses={0: "drop"}))
    async with connect(emu) as client:
        await client.text_session()
        with pytest.raises(ConnectionClosed):
            await client.turn(OOB)
    async with connect(emu) as client:
        await client.text_session()
        assert (await _status(client))[0] == "completed"
    assert emu.limits.inflight == 0


async def test_ga_rate_limits_updated_is_one_tokens_entry_after_done(start, autojump_clock):
    """GA: one `tokens` entry after response.done, from the bucket (reset = spent / rate)."""
    emu = await start(tpm=6000, rpm=100)
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn(OOB)
        assert types_of(events)[-2:] == ["response.done", "rate_limits.updated"]
        used = events[-2]["response"]["usage"]["total_tokens"]
        assert events[-1]["rate_limits"] == [
            {
                "name": "tokens",
                "limit": 6000,
                "remaining": 6000 - used,
                "reset_seconds": round(used / 100, 3),
            }
        ]


async def test_beta_rate_limits_updated_keeps_requests_and_tokens(start, autojump_clock):
    """Beta: a `requests` entry (one of 100 spent, back in 0.6 s) and a `tokens` entry."""
    emu = await start(tpm=6000, rpm=100, accept_beta=True)
    async with connect(emu, "beta") as client:
        await client.text_session()
        events = await client.turn(OOB)
        used = events[-2]["response"]["usage"]["total_tokens"]
        assert events[-1]["rate_limits"] == [
            {"name": "requests", "limit": 100, "remaining": 99, "reset_seconds": 0.6},
            {
                "name": "tokens",
                "limit": 6000,
                "remaining": 6000 - used,
                "reset_seconds": round(used / 100, 3),
            },
        ]


@pytest.mark.parametrize(
    "seconds,text",
    [
        (0.035, "35ms"),
        (0.0001, "1ms"),
        (0.75, "750ms"),
        (1.0, "1s"),
        (1.342, "1.342s"),
        (86.4, "1m26.4s"),
        (432.0, "7m12s"),
        (28_800.0, "8h0m0s"),
        (0.0, "0s"),
    ],
)
def test_waits_are_written_as_the_service_writes_them(seconds, text):
    """format_wait: ms below a second, then h/m/s with up to 3 decimals, rounded up."""
    assert format_wait(seconds) == text


@pytest.mark.parametrize(
    "options,field",
    [
        ({"rpd": 0}, "rpd"),
        ({"max_inflight": 0}, "max_inflight"),
        ({"account_fatal_code": "out_of_luck"}, "account_fatal_code"),
    ],
)
def test_config_rejects_bad_limit_fields_by_name(options, field):
    """EmulatorConfig names the bad limit field."""
    with pytest.raises(ValueError, match=field):
        EmulatorConfig(**options)


def test_serve_forwards_the_limit_options(monkeypatch):
    """--rpd, --max-inflight and --account-fatal-code (and their variables) reach the config."""
    captured: dict = {}
    monkeypatch.setattr("rtbatch.emulator.main.run_forever", lambda **kw: captured.update(kw))
    monkeypatch.setenv("RTBATCH_SERVE_MAX_INFLIGHT", "8")
    args = ["--rpd", "1000", "--account-fatal-code", "billing_hard_limit_reached"]
    result = CliRunner().invoke(serve, [*args, "--fault", "account_fatal=0.5"])
    assert result.exit_code == 0, result.output
    assert (captured["rpd"], captured["max_inflight"]) == (1000, 8)
    assert captured["account_fatal_code"] == "billing_hard_limit_reached"
    assert captured["faults"] == {"account_fatal": 0.5}
    EmulatorConfig(**{k: v for k, v in captured.items() if k not in ("certfile", "keyfile")})
    assert CliRunner().invoke(serve, ["--account-fatal-code", "nope"]).exit_code == 2
