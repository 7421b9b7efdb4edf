"""A run survives faults: retries, expiry, rate limits, fatal errors, deadlines.

Network rules as in tests/harness.py; all of these run on trio's virtual clock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from rtbatch import errors
from rtbatch.config import RetryPolicy, Timeouts
from rtbatch.emulator import FaultSchedule
from rtbatch.exitcodes import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK
from rtbatch.jobs import read_jobs
from rtbatch.output.results import ResultFile
from rtbatch.run import Run
from tests.harness import by_id, prompt_jobs, read_results, received, start_emulator, write_jobs

FAULTS = [
    "drop",
    "server_error",
    "rate_limit",
    "stall",
    "invalid_frame",
    "handshake_429",
    "handshake_500",
    "handshake_503",
]
REFUSALS = ("rate_limit", "handshake_429")
PATIENT = RetryPolicy(max_attempts=12, initial_s=0.1, max_s=5.0)


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_matrix_every_job_exactly_once(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock, fault: str
) -> None:
    """500 jobs with one fault at 20 %: all complete, each exactly once."""
    h = await start_emulator(nursery, tmp_path, faults={fault: 0.2}, seed=11, latency_ms=50)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(500))
    report, results = await h.run(
        jobs, concurrency=20, retry=PATIENT, timeouts=Timeouts(job_s=10.0)
    )
    got = by_id(results)
    assert len(got) == 500
    assert {r["status"] for r in results} == {"completed"}
    assert report.exit_code == EXIT_OK
    assert h.emulator.stats.faults_injected[fault] > 0
    if fault in REFUSALS:  # refused before running: not an attempt, and never a failure
        assert max(r["attempts"] for r in results) == 1
    elif fault != "invalid_frame":  # a garbled frame is skipped, not retried
        assert max(r["attempts"] for r in results) > 1


async def test_sessions_are_recycled_before_they_expire(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Sessions are replaced before the service's maximum duration: no job meets an expiry."""
    h = await start_emulator(nursery, tmp_path, session_max_seconds=20, latency_ms=1000)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1500))  # 30 s at 50 in flight
    report, results = await h.run(jobs, concurrency=50, retry=PATIENT)
    assert report.exit_code == EXIT_OK
    assert len(by_id(results)) == 1500
    assert {r["attempts"] for r in results} == {1}
    assert len(h.emulator.connections) > 50  # sessions were replaced...
    assert [c.close_code for c in h.emulator.connections if c.close_code] == []  # ...by us


async def test_a_session_that_expires_mid_job_loses_no_job(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Jobs longer than the recycling margin meet the expiry, and are retried on a new session."""
    h = await start_emulator(nursery, tmp_path, session_max_seconds=20, latency_ms=3500)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1000))  # 60 s at 50 in flight
    report, results = await h.run(jobs, concurrency=50, retry=PATIENT)
    assert report.exit_code == EXIT_OK
    assert {r["status"] for r in by_id(results).values()} == {"completed"}
    assert any(c.close_code == 1001 for c in h.emulator.connections)
    assert max(r["attempts"] for r in results) > 1


async def test_wrong_key_stops_the_run_and_never_shows_the_key(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused key is run-fatal: exit 3, no result lines, the key in no log or result."""
    caplog.set_level(logging.DEBUG)
    secret = "sk-wrong-SECRET-0123456789abcdef"
    h = await start_emulator(nursery, tmp_path, api_key="sk-right-key")
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(40))
    report, results = await h.run(jobs, concurrency=5, key=secret)
    assert report.exit_code == EXIT_FATAL
    assert isinstance(report.fatal, errors.AuthenticationFailed)
    assert results == []
    assert report.summary.not_started == 40
    assert secret not in caplog.text
    assert secret[-8:] not in caplog.text
    assert secret not in repr(report)


async def test_unknown_model_is_run_fatal(nursery: trio.Nursery, tmp_path: Path) -> None:
    """An unknown model stops the run with exit 3 and writes nothing."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(10))
    report, results = await h.run(jobs, model="no-such-model")
    assert isinstance(report.fatal, errors.ModelUnavailable)
    assert report.exit_code == EXIT_FATAL
    assert results == []


async def test_rate_limits_far_below_concurrency_converge(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """rpm 60 against concurrency 50: the run slows down, completes, and stops hammering."""
    h = await start_emulator(nursery, tmp_path, rpm=60, latency_ms=100)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(150))
    report, results = await h.run(jobs, concurrency=50, retry=PATIENT)
    assert report.exit_code == EXIT_OK
    assert {r["status"] for r in results} == {"completed"}
    assert len(by_id(results)) == 150
    # Refusals are bounded by the pacing (it learns the limit from their figures),
    # not proportional to jobs × attempts.
    assert h.emulator.stats.rate_limited <= 50
    # A bucket of 60 refilling at 1/s: 150 requests need at least 90 s, and pacing
    # from the server's figures should come close to that bound.
    assert 90 <= report.summary.wall_s <= 95


async def test_client_side_rpm_cap_avoids_refusals(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """With --rpm at the account's limit, the server never has to refuse."""
    h = await start_emulator(nursery, tmp_path, rpm=120)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(60))
    report, _ = await h.run(jobs, concurrency=20, rpm=100)
    assert report.exit_code == EXIT_OK
    assert h.emulator.stats.rate_limited == 0


async def test_deadline_stops_and_the_next_run_finishes(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """--deadline writes only finished jobs and exits 130; a rerun completes the rest once."""
    h = await start_emulator(nursery, tmp_path, latency_ms=1000)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(100))
    results_path = tmp_path / "r.jsonl"
    report, first = await h.run(jobs, results_path, concurrency=10, deadline_s=3.5)
    assert report.exit_code == EXIT_INTERRUPTED
    assert report.deadline_reached
    assert 10 <= len(first) < 100
    assert {r["status"] for r in first} == {"completed"}
    report, final = await h.run(jobs, results_path, concurrency=10)
    assert report.exit_code == EXIT_OK
    assert len(by_id(final)) == 100
    assert report.summary.skipped == len(first)


async def test_failed_jobs_are_retried_on_rerun(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A job that exhausted its attempts is run again by the next run, leaving one line."""
    schedule = FaultSchedule(responses={0: "server_error", 1: "server_error"})
    h = await start_emulator(nursery, tmp_path, schedule=schedule)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1))
    results_path = tmp_path / "r.jsonl"
    report, first = await h.run(jobs, results_path, retry=RetryPolicy(max_attempts=2))
    assert first[0]["status"] == "failed"
    assert first[0]["error"]["type"] == "server_error"
    assert first[0]["attempts"] == 2
    report, final = await h.run(jobs, results_path, retry=RetryPolicy(max_attempts=2))
    assert [r["status"] for r in final] == ["completed"]
    # --no-retry-failed keeps a failed line as final.
    path2 = tmp_path / "r2.jsonl"
    path2.write_bytes((tmp_path / "r.jsonl").read_bytes().replace(b'"completed"', b'"failed"'))
    report, kept = await h.run(jobs, path2, retry_failed=False)
    assert [r["status"] for r in kept] == ["failed"]
    assert report.summary.skipped == 1
    assert read_results(path2) == kept
    assert len(received(h.emulator, "response.create")) == 3


@pytest.fixture
def full_disk() -> Iterator[ResultFile]:
    """A result file on /dev/full: every flush fails with ENOSPC, as on a full disk."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    results = ResultFile.open(Path("/dev/full"))
    yield results
    with contextlib.suppress(OSError):  # its buffered bytes can never be flushed
        results.close()


async def test_a_full_disk_stops_the_run_cleanly(
    nursery: trio.Nursery, tmp_path: Path, full_disk: ResultFile
) -> None:
    """Results that cannot be written (ENOSPC) are run-fatal, not a traceback."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(30))
    report = await Run(h.config(concurrency=4), read_jobs(jobs), full_disk, total=30).run()
    assert isinstance(report.fatal, errors.OutputFailed)
    assert "No space left" in report.fatal.message
    assert report.exit_code == EXIT_FATAL
    assert report.summary.finished == 0
