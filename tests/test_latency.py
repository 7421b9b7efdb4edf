"""Latency by stage (issue 19): each stage lands where the emulator's timings put it.

The emulator runs in the test's trio run, so on the virtual clock its
``latency_ms`` (before the first output event) and ``token_delay_ms`` (between
deltas) decide every stage to the millisecond. Percentiles are checked against
a plain sorted-list reference on generated distributions.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import orjson
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from rtbatch.config import RetryPolicy
from rtbatch.exitcodes import EXIT_OK
from rtbatch.latency import LatencyTotals, distribution, percentile
from tests.harness import by_id, start_emulator, write_jobs
from tests.threadclock import jump_when_idle

LATENCY_MS = 250
TOKEN_DELAY_MS = 40
WORDS = 5  # the emulator's answer: five word deltas, the last one not followed by a pause
AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"
DONE_MS = LATENCY_MS + (WORDS - 1) * TOKEN_DELAY_MS


@pytest.fixture
def settled_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only after 20 real ms of quiet: a frame still in the
    kernel's loopback never lets it jump past a stage (autojump at 0 s can, loaded)."""
    return trio.testing.MockClock(autojump_threshold=0.02)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_response_stages_land_where_the_emulator_puts_them(
    nursery: trio.Nursery, tmp_path: Path, settled_clock: trio.testing.MockClock, dialect: str
) -> None:
    """created at once, the first delta after latency_ms, done after the last of five deltas."""
    h = await start_emulator(
        nursery,
        tmp_path,
        latency_ms=LATENCY_MS,
        token_delay_ms=TOKEN_DELAY_MS,
        reply_words=WORDS,
    )
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "text", "prompt": "Hello?"},
            {"id": "spoken", "prompt": "Say hello", "output_modalities": ["audio"]},
        ],
    )
    model = "gpt-realtime" if dialect == "beta" else "gpt-realtime-1.5"
    report, results = await h.run(jobs, concurrency=1, dialect=dialect, model=model)
    assert report.exit_code == EXIT_OK
    got = by_id(results)
    assert got["text"]["latency"] == {"created": 0, "first_text": LATENCY_MS, "done": DONE_MS}
    assert got["spoken"]["latency"] == {
        "created": 0,
        "first_audio": LATENCY_MS,
        "done": DONE_MS,
    }
    stages = report.summary.to_dict()["latency_ms"][model]
    assert stages["done"] == {
        "count": 2,
        "p50": DONE_MS,
        "p90": DONE_MS,
        "p95": DONE_MS,
        "p99": DONE_MS,
        "max": DONE_MS,
    }
    assert stages["first_text"]["count"] == 1 and stages["first_audio"]["count"] == 1


async def test_a_tool_job_counts_done_at_its_last_round(
    nursery: trio.Nursery, tmp_path: Path, settled_clock: trio.testing.MockClock
) -> None:
    """Two rounds: the first delta and created come from the first, done from the second."""
    h = await start_emulator(
        nursery, tmp_path, latency_ms=LATENCY_MS, token_delay_ms=TOKEN_DELAY_MS, reply_words=WORDS
    )
    tool = {
        "type": "function",
        "name": "get_time",
        "description": "The time now.",
        "parameters": {"type": "object", "properties": {}},
    }
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": "t",
                "prompt": "What time is it? Use get_time.",
                "tools": [tool],
                "tool_outputs": {"get_time": [{"output": {"time": "12:00"}}]},
            }
        ],
    )
    report, results = await h.run(jobs, concurrency=1)
    assert report.exit_code == EXIT_OK
    (line,) = results
    assert [r["round"] for r in line["output"]["rounds"]] == [1, 2]
    latency = line["latency"]
    assert latency["created"] == 0
    # The first round streams its call's arguments, no text: the first text is the
    # second round's, after the first round ended; that round is one whole answer.
    assert latency["first_text"] > LATENCY_MS
    assert latency["done"] - latency["first_text"] == (WORDS - 1) * TOKEN_DELAY_MS


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only while no task waits on a decoding thread."""
    return trio.testing.MockClock()


async def test_a_transcript_lands_latency_ms_after_its_commit(
    nursery: trio.Nursery, tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    """whisper-1 sends its transcript in one delta: completed latency_ms after the commit."""
    nursery.start_soon(jump_when_idle, clock)
    h = await start_emulator(
        nursery, tmp_path, latency_ms=LATENCY_MS, token_delay_ms=TOKEN_DELAY_MS
    )
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": "hello",
                "audio": str(AUDIO / "hello.wav"),
                "task": "transcribe",
                "transcription": {"model": "whisper-1"},
            }
        ],
    )
    report, results = await h.run(jobs, concurrency=1)
    assert report.exit_code == EXIT_OK
    (line,) = results
    assert line["latency"] == {"transcript": LATENCY_MS}
    assert report.summary.to_dict()["latency_ms"]["whisper-1"]["transcript"]["p99"] == LATENCY_MS


async def test_a_failed_job_has_no_latency(
    nursery: trio.Nursery, tmp_path: Path, settled_clock: trio.testing.MockClock
) -> None:
    """Every try refused by the server: no stages on the line, none in the summary."""
    h = await start_emulator(nursery, tmp_path, faults={"server_error": 1.0})
    jobs = write_jobs(tmp_path / "jobs.jsonl", [{"id": "a", "prompt": "Hi"}])
    report, results = await h.run(
        jobs, concurrency=1, retry=RetryPolicy(max_attempts=2, initial_s=0.05)
    )
    (line,) = results
    assert line["status"] == "failed"
    assert line["latency"] is None
    assert report.summary.to_dict()["latency_ms"] == {}


def _reference(values: list[int], p: float) -> int:
    """Nearest rank on the sorted list, as textbooks state it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def test_percentiles_of_one_to_a_hundred() -> None:
    """1..100 ms once each: p50 is 50, p90 90, p95 95, p99 99, max 100."""
    counts = Counter(range(1, 101))
    assert distribution(counts) == {
        "count": 100,
        "p50": 50,
        "p90": 90,
        "p95": 95,
        "p99": 99,
        "max": 100,
    }


@given(
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=300),
    st.floats(min_value=0.1, max_value=100),
)
def test_percentile_is_the_nearest_rank(values: list[int], p: float) -> None:
    """Counting by value gives the same percentile as sorting every value."""
    assert percentile(Counter(values), p) == _reference(values, p)


def test_totals_skip_values_that_are_not_whole_milliseconds() -> None:
    """A hand-edited line's odd values are skipped, never a crash of the summary."""
    totals = LatencyTotals()
    totals.add("m", {"done": 10, "created": "x", "first_text": -1, "first_audio": True})
    totals.add("m", orjson.loads(b'{"done": 30.5}'))
    assert totals.to_dict() == {
        "m": {"done": {"count": 1, "p50": 10, "p90": 10, "p95": 10, "p99": 10, "max": 10}}
    }
