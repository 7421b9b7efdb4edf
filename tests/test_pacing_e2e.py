"""Pacing against the emulator's real limits, on virtual time: when does a run finish?

Issue 10's scenarios. The emulator runs in the test's trio run with trio's
``autojump_clock``, so its buckets refill on the same virtual clock the client
paces by; every assertion is about *when* the run ended, not only that it did.
Network rules as in tests/harness.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from rtbatch import errors
from rtbatch.config import RetryPolicy
from rtbatch.emulator import FaultSchedule
from rtbatch.emulator.defaults import ACCOUNT_FATAL_CODES
from rtbatch.exitcodes import EXIT_FATAL, EXIT_OK, EXIT_TRY_LATER
from tests.harness import by_id, prompt_jobs, start_emulator, write_jobs


async def test_a_rate_limited_account_is_used_whole(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """1,800 jobs under a 1,200 RPM bucket: the first 1,200 at once, then 20/s: done by 33 s."""
    h = await start_emulator(nursery, tmp_path, rpm=1200, latency_ms=200)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1800))
    report, results = await h.run(jobs, concurrency=50)
    assert report.exit_code == EXIT_OK
    assert {r["status"] for r in by_id(results).values()} == {"completed"}
    assert report.summary.wall_s <= 33.0
    assert {r["attempts"] for r in results} == {1}  # refusals never spent an attempt


async def _wall(nursery: trio.Nursery, tmp: Path, **emulator: object) -> float:
    h = await start_emulator(nursery, tmp, latency_ms=1000, seed=5, **emulator)
    jobs = write_jobs(tmp / "jobs.jsonl", prompt_jobs(400))
    report, results = await h.run(jobs, concurrency=40)
    assert report.exit_code == EXIT_OK
    assert len(by_id(results)) == 400
    return report.summary.wall_s


@pytest.mark.parametrize("fault", ["handshake_429", "rate_limit"])
async def test_refusals_slow_a_run_in_proportion(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock, fault: str
) -> None:
    """20 % refused upgrades or responses (1 s answers, 0.2-2 s hints): within 3x fault-free."""
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    clean = await _wall(nursery, tmp_path / "clean")
    faulty = await _wall(nursery, tmp_path / "faulty", faults={fault: 0.2})
    assert faulty <= 3 * clean, (faulty, clean)


async def test_a_daily_limit_stops_the_run_to_try_later(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """RPD spent: the run stops with 75, says when it resets, and burns no attempt."""
    h = await start_emulator(nursery, tmp_path, rpd=20)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(50))
    report, results = await h.run(jobs, concurrency=4, retry=RetryPolicy(max_wait_s=300.0))
    assert report.exit_code == EXIT_TRY_LATER
    assert isinstance(report.try_later, errors.TryLaterError | errors.RateLimited)
    assert report.resets_in_s is not None and report.resets_in_s > 300.0
    assert len(results) == 20
    assert {r["status"] for r in results} == {"completed"}  # nobody failed for the limit
    assert report.summary.wall_s < 60.0  # stopped, not waited out


@pytest.mark.parametrize("code", ACCOUNT_FATAL_CODES)
async def test_account_fatal_codes_stop_the_run(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock, code: str
) -> None:
    """Deactivated, over the billing limit, out of quota: exit 3 at once, jobs not failed."""
    h = await start_emulator(
        nursery,
        tmp_path,
        account_fatal_code=code,
        schedule=FaultSchedule(responses={3: "account_fatal"}),
    )
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(40))
    report, results = await h.run(jobs, concurrency=2)
    assert report.exit_code == EXIT_FATAL
    assert isinstance(report.fatal, errors.RunFatalError)
    assert code in (report.fatal.code or "") or code in report.fatal.message
    assert all(r["status"] == "completed" for r in results)
    assert len(results) < 40


async def test_a_service_with_room_for_ten_runs_ten_at_once(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The emulator runs 10 generations at once, -c 40: a trial finds the 10 and keeps it.

    300 one-second jobs take the service's own 30 s, within 10 % (without the trial,
    measured once: 33.4 s and 3,158 refusals; with it, 31.4 s and 1,758, most of them
    before the first trial, which waits for twice the longest answer seen).
    """
    h = await start_emulator(nursery, tmp_path, max_inflight=10, latency_ms=1000, seed=5)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(300))
    report, results = await h.run(jobs, concurrency=40)
    assert report.exit_code == EXIT_OK
    assert {r["status"] for r in by_id(results).values()} == {"completed"}
    assert len(results) == 300
    assert report.summary.wall_s <= 1.1 * 300 / 10
    assert h.last is not None
    pacer = h.last.pacer
    assert pacer.capacity_trials[1] >= 1
    assert 9 <= pacer.concurrency <= 12


async def test_random_capacity_refusals_leave_the_concurrency(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A fifth of generations refused whatever runs: the trial is undone, -c 40 stays."""
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    clean = await _wall(nursery, tmp_path / "clean")
    h = await start_emulator(
        nursery, tmp_path / "faulty", latency_ms=1000, seed=5, faults={"inference_rate_limit": 0.2}
    )
    jobs = write_jobs(tmp_path / "faulty" / "jobs.jsonl", prompt_jobs(400))
    report, results = await h.run(jobs, concurrency=40)
    assert report.exit_code == EXIT_OK
    assert len(by_id(results)) == 400
    assert h.last is not None
    assert h.last.pacer.capacity_trials[1] == 0
    assert h.last.pacer.concurrency == 40
    # Each refused job waits its own jittered backoff; the run is not held for them.
    assert report.summary.wall_s <= 1.3 * clean, (report.summary.wall_s, clean)


async def test_a_token_limited_account_is_used_whole_and_rarely_refused(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """24,000 TPM, 1,750 jobs at -c 50: within 2 % of the limit's time, under 1 % refused.

    The first bucket goes at once, then the refill (400 tokens/s) paces the rest: the
    limit's time is ``(tokens - 24000) / 400``. The figures of a ``rate_limits.updated``
    read only when the next job on its session starts (up to a second late) are aged
    to the moment they were made: before that, each stale "remaining" released a
    burst the bucket could not take (108 refusals here, 8 % in make bench).
    """
    h = await start_emulator(nursery, tmp_path, tpm=24000, latency_ms=200, seed=1)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1750))
    report, results = await h.run(jobs, concurrency=50)
    assert report.exit_code == EXIT_OK
    assert len(by_id(results)) == 1750
    tokens = sum(r["usage"]["total_tokens"] for r in results)
    limit_s = (tokens - 24000) / 400
    assert report.summary.wall_s <= 1.02 * limit_s, (report.summary.wall_s, limit_s)
    assert h.emulator.stats.rate_limited <= 0.01 * 1750
