"""SIGINT/SIGTERM in the middle of a run, delivered for real to this process.

Network rules as in tests/harness.py. The signals are sent at chosen instants of
trio's virtual clock from the run's progress hook, so the order of events is
exact: the emulator answers each job 1 s after it starts.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import trio
import trio.testing

from rtbatch.exitcodes import EXIT_INTERRUPTED
from rtbatch.jobs import read_jobs
from rtbatch.output.results import ResultFile
from rtbatch.run import Run, RunReport
from tests.harness import Harness, prompt_jobs, read_results, start_emulator, write_jobs


async def _run_with_signals(
    h: Harness, tmp: Path, at: list[float]
) -> tuple[RunReport, list[dict[str, Any]]]:
    jobs = write_jobs(tmp / "jobs.jsonl", prompt_jobs(50))
    out_path = tmp / "r.jsonl"
    out = ResultFile.open(out_path)

    async def send_signals(run: Run) -> None:
        start = trio.current_time()
        for when in at:
            await trio.sleep_until(start + when)
            os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep_forever()

    run = Run(
        h.config(concurrency=5, grace_s=60.0),
        read_jobs(jobs),
        out,
        total=50,
        handle_signals=True,
        progress=send_signals,
    )
    report = await run.run()
    out.close()
    return report, read_results(out_path)


async def test_first_signal_lets_in_flight_jobs_finish(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """One SIGTERM: no new jobs start, the five in flight finish and are written, exit 130."""
    h = await start_emulator(nursery, tmp_path, latency_ms=1000)
    report, results = await _run_with_signals(h, tmp_path, at=[0.5])
    assert report.exit_code == EXIT_INTERRUPTED
    assert [r["status"] for r in results] == ["completed"] * 5
    assert report.summary.not_started == 45
    assert 1.0 <= report.summary.wall_s < 2.0  # not the 60 s grace


async def test_second_signal_cancels_now(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Two SIGTERMs: jobs in flight are cancelled at once and write nothing; exit 130."""
    h = await start_emulator(nursery, tmp_path, latency_ms=1000)
    report, results = await _run_with_signals(h, tmp_path, at=[0.5, 0.6])
    assert report.exit_code == EXIT_INTERRUPTED
    assert results == []
    assert report.summary.wall_s < 1.0
