"""The run's error boundaries, one regression test per leak the review found (issue 9).

Network rules as in tests/harness.py: loopback, port 0, servers in the test's nursery.
Tests that stream audio use real time (decoding runs in threads the virtual clock
cannot see) against an emulator that answers at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing
import trio_websocket as tw
from click.testing import CliRunner

from rtbatch import cli, errors
from rtbatch.config import RetryPolicy
from rtbatch.exitcodes import EXIT_FAILED, EXIT_FATAL, EXIT_INTERNAL, EXIT_USAGE
from rtbatch.jobs import read_jobs
from rtbatch.output.results import ResultFile
from rtbatch.run import Run
from rtbatch.transport import Connection, Headers
from tests.harness import by_id, prompt_jobs, read_results, received, start_emulator, write_jobs

AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"


async def test_unwritable_audio_out_is_run_fatal_not_a_lost_connection(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """--audio-out under a regular file: exit 3 naming the path, before any answer is paid."""
    h = await start_emulator(nursery, tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": f"speak-{i}",
                "audio": str(AUDIO / "question.ogg"),
                "task": "respond",
                "output_modalities": ["audio"],
            }
            for i in range(3)
        ],
    )
    report, results = await h.run(jobs, concurrency=1, audio_out=blocker / "wavs")
    assert report.exit_code == EXIT_FATAL
    assert isinstance(report.fatal, errors.OutputFailed)
    assert "not-a-dir" in report.fatal.message
    assert results == []  # nothing written: the jobs run again once the path is fixed
    assert received(h.emulator, "response.create") == []  # checked before the first job
    assert not list(blocker.parent.glob("**/*.part"))


async def _oops_server(request: tw.WebSocketRequest) -> None:
    """A service whose every response.done carries a malformed output list."""
    ws = await request.accept()
    created = {"type": "session.created", "event_id": "e0", "session": {"expires_at": 0}}
    await ws.send_message(orjson.dumps(created).decode())
    while True:
        try:
            event = orjson.loads(await ws.get_message())
        except tw.ConnectionClosed:
            return
        if event.get("type") == "response.create":
            metadata = event["response"]["metadata"]
            done = {
                "type": "response.done",
                "event_id": "e1",
                "response": {
                    "id": "r",
                    "status": "completed",
                    "output": ["oops"],
                    "metadata": metadata,
                },
            }
            await ws.send_message(orjson.dumps(done).decode())


async def test_a_malformed_server_event_fails_the_job_never_the_run(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """response.done with output ["oops"]: each job is retried, then failed, naming the event."""
    server = await nursery.start(
        partial(tw.serve_websocket, _oops_server, "127.0.0.1", 0, ssl_context=None)
    )
    h = await start_emulator(nursery, tmp_path)  # only for its config helper
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(3))
    report, results = await h.run(
        jobs,
        url=f"ws://127.0.0.1:{server.port}/v1/realtime",
        concurrency=2,
        retry=RetryPolicy(max_attempts=3, initial_s=0.1, max_s=1.0),
    )
    assert report.exit_code == EXIT_FAILED
    assert report.fatal is None
    got = by_id(results)
    assert len(got) == 3
    for record in got.values():
        assert record["status"] == "failed"
        assert record["attempts"] == 3
        assert record["error"]["type"] == "protocol_error"
        assert "response.done" in record["error"]["message"]
        assert "oops" not in record["error"]["message"]


def _broken_connect(
    url: str, headers: Headers, timeouts: Any, ssl_context: Any
) -> Any:  # the designed test seam, raising what no network raises
    @asynccontextmanager
    async def connect() -> AsyncIterator[Connection]:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("a bug in the connect path")
        yield  # pragma: no cover

    return connect()


async def test_an_internal_error_stops_the_run_cleanly(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A bug of ours is not a lost connection: no retries, one clear error, exit 70."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(5))
    results = tmp_path / "results.jsonl"
    out = ResultFile.open(results)
    run = Run(h.config(concurrency=2), read_jobs(jobs), out, connect=_broken_connect)
    report = await run.run()
    out.close()
    assert report.exit_code == EXIT_INTERNAL
    assert isinstance(report.fatal, errors.InternalError)
    assert "RuntimeError: a bug in the connect path" in report.fatal.message
    assert read_results(results) == []  # the jobs run next time
    assert run.connections <= 2  # every worker stopped at its first bug


async def test_mixed_kinds_keep_their_connections(nursery: trio.Nursery, tmp_path: Path) -> None:
    """200 jobs alternating text and transcription at -c 4 open at most 2 x 4 connections."""
    h = await start_emulator(nursery, tmp_path)
    lines: list[dict[str, Any]] = []
    for i in range(100):
        lines.append({"id": f"t-{i}", "prompt": f"q{i}"})
        lines.append({"id": f"a-{i}", "audio": str(AUDIO / "hello.wav"), "task": "transcribe"})
    jobs = write_jobs(tmp_path / "jobs.jsonl", lines)
    _report, results = await h.run(jobs, concurrency=4)
    assert len(by_id(results)) == 200
    assert {r["status"] for r in results} == {"completed"}
    assert len(h.emulator.connections) <= 8


def test_stdin_spool_never_outlives_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused run from stdin exits 2 and leaves no copy of the prompts behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = CliRunner().invoke(
        cli.main,
        ["run", "-", "--url", "http://nope"],
        input='{"id":"a","prompt":"secret"}\n',
        catch_exceptions=False,
    )
    assert result.exit_code == EXIT_USAGE
    assert "ws:// or wss://" in result.output
    assert list(tmp_path.iterdir()) == []
