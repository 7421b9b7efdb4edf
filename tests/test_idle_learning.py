"""The idle deadline a run learns, end to end on virtual time (rtbatch/silences.py).

Network rules as in tests/harness.py: the real emulator over loopback sockets. The
emulator reads its settings live, so a test can slow it down mid-run, as a busy hour
slows the service: the scenario's timeline is virtual time, not synchronisation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing

from rtbatch.defaults import IDLE_FLOOR_S, IDLE_SILENCE_FACTOR
from rtbatch.emulator import FaultSchedule
from rtbatch.exitcodes import EXIT_OK
from tests.harness import Harness, by_id, prompt_jobs, start_emulator, write_jobs

_STALL = re.compile(r"no server event for ([\d.]+) s \(idle deadline\)")


def _stalls(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(m.group(1)) for r in caplog.records if (m := _STALL.search(r.getMessage()))]


async def _slow_down(h: Harness, at_s: float, latency_ms: float, started: list[int]) -> None:
    await trio.sleep(at_s)
    h.emulator.config = replace(h.emulator.config, latency_ms=latency_ms)
    started.append(h.emulator.stats.responses)


async def test_answers_that_slow_down_mid_run_are_waited_for_not_failed(
    nursery: trio.Nursery,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """0.1-s answers teach a 0.5 s deadline; from 1 s on, every answer takes 1.5 s.

    No answer can teach the longer silence while every one is given up at 0.5 s:
    the stalls are the evidence. Once most recent tries stall, each stall doubles
    that job's deadline (0.5, 1, 2 s), the 2-s tries answer, and the run learns
    3 s from them. Every job completes; without the back-off every job started
    after the slowdown failed after its five attempts.
    """
    caplog.set_level(logging.INFO, logger="rtbatch.run")
    h = await start_emulator(nursery, tmp_path, latency_ms=100, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(300))
    started: list[int] = []
    nursery.start_soon(_slow_down, h, 1.0, 1500, started)
    report, results = await h.run(jobs, concurrency=20)
    assert report.exit_code == EXIT_OK
    assert {r["status"] for r in by_id(results).values()} == {"completed"}
    stalls = _stalls(caplog)
    assert stalls, "the slowdown was never taken for a stall: the test proves nothing"
    # Stalls at 0.5 s, then at 1 s once doubled; the tries given 2 s answered.
    assert max(stalls) == pytest.approx(2 * IDLE_FLOOR_S, abs=0.01)
    # Had every job not yet asked at 1 s been answered slowly with no stall at all,
    # the run would take `slow_only` (7 s here). What teaching the run costs: the
    # jobs in hand when it slowed stall at 0.5 s, 0.5 s and 1 s (about 2 s each, with
    # their retries) before a 2-s try answers and the run learns 3 s (11.1 s here).
    slow_only = 1.0 + (300 - started[0]) * 1.5 / 20
    assert report.summary.wall_s < 2 * slow_only, (report.summary.wall_s, slow_only)


async def test_a_stream_that_stops_is_given_up_sooner_than_an_answer_not_begun(
    nursery: trio.Nursery,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1-s answers teach a 2 s wait for the first delta; a stream, once it flows, has
    its own deadline (the floor here: the emulator's deltas come at once)."""
    caplog.set_level(logging.INFO, logger="rtbatch.run")
    schedule = FaultSchedule(responses={30: "stall"})  # after the run has learned
    h = await start_emulator(nursery, tmp_path, latency_ms=1000, schedule=schedule)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(40))
    report, results = await h.run(jobs, concurrency=2)
    assert report.exit_code == EXIT_OK
    assert sorted(r["attempts"] for r in results)[-2:] == [1, 2]
    (stall,) = _stalls(caplog)
    assert IDLE_FLOOR_S <= stall < IDLE_FLOOR_S + 0.01
    assert stall < IDLE_SILENCE_FACTOR * 1.0  # the wait's deadline would have been 2 s
