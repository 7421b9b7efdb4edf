"""A run whose endpoint accepts no connection stops at its patience, not after minutes.

Before this, each worker retried its jobs against a closed port until their
attempts ran out (365 s seen by hand) and failed them. Now the run's start tries
one connection, with a doubling pause (0.5, 1, 2, 4 s …) for
``Timeouts.unreachable_s``, then stops run-fatal: exit 3, the host and port named,
no job charged, so a rerun starts them all. A service that comes up within the
patience is waited for. On the virtual clock, so the stop falls exactly at the
patience and the first connection exactly at the first try after the server
listened. Network rules as in tests/harness.py.
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio
import trio.testing

from rtbatch import errors
from rtbatch.config import Timeouts
from rtbatch.defaults import UNREACHABLE_PATIENCE_S
from rtbatch.emulator import EmulatorConfig, serve
from rtbatch.exitcodes import EXIT_FATAL, EXIT_OK
from tests.harness import Harness, by_id, prompt_jobs, start_emulator, write_jobs


def _closed_port() -> int:
    """A loopback port where nothing listens (bound for a moment, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_nothing_listening_stops_the_run_at_its_patience(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Run-fatal at exactly the patience; every job left for the rerun, none failed."""
    h = await start_emulator(nursery, tmp_path)  # only for the harness: its URL is not used
    port = _closed_port()
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(5))
    start = trio.current_time()
    report, results = await h.run(
        jobs,
        url=f"ws://127.0.0.1:{port}/v1/realtime",
        concurrency=4,
        timeouts=Timeouts(job_s=30.0, unreachable_s=10.0),
    )
    assert trio.current_time() - start == pytest.approx(10.0)
    assert report.exit_code == EXIT_FATAL
    assert isinstance(report.fatal, errors.EndpointUnreachable)
    assert f"127.0.0.1:{port}" in report.fatal.message
    assert "refused" in report.fatal.message.lower()
    assert results == []
    assert report.summary.not_started == 5


async def test_a_service_that_comes_up_within_the_patience_is_waited_for(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The server listens from t = 2 s: the tries at 0, 0.5 and 1.5 s fail, 3.5 s opens."""
    port = _closed_port()

    async def late_server() -> None:
        await trio.sleep(2.0)
        await nursery.start(serve, EmulatorConfig(port=port, record=True))

    nursery.start_soon(late_server)
    url = f"ws://127.0.0.1:{port}/v1/realtime"
    h = Harness(tmp_path, SimpleNamespace(url=url))  # type: ignore[arg-type]  # listens later
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(5))
    start = trio.current_time()
    report, results = await h.run(
        jobs, concurrency=4, timeouts=Timeouts(job_s=30.0, unreachable_s=10.0)
    )
    assert report.exit_code == EXIT_OK
    assert {r["status"] for r in by_id(results).values()} == {"completed"}
    assert all(r["attempts"] == 1 for r in results)
    # The check's fourth try, at 0.5 + 1 + 2 s, is the first to connect; the jobs
    # (an emulator with no latency) take no virtual time after it.
    assert trio.current_time() - start == pytest.approx(3.5)


def test_the_readme_states_the_code_s_patience() -> None:
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert f"the run tries again for {UNREACHABLE_PATIENCE_S:g} s" in readme
    assert f"accepts no connection for {UNREACHABLE_PATIENCE_S:g} s" in readme
