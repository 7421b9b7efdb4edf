"""The real command in a subprocess, against an emulator in the test's trio run.

Rules: loopback only, port 0, the emulator started in pytest-trio's nursery; the
CLI runs as ``python -m rtbatch`` so signals and exit codes are the real ones.
The kill test places each SIGKILL at a moment it observes in the result file
(polled in a bounded loop, never a sleep standing in for an event) and asserts
where each kill landed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import orjson
import trio

from rtbatch.exitcodes import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK
from tests.harness import by_id, prompt_jobs, read_results, start_emulator, write_jobs

SECRET = "sk-live-DO-NOT-SHOW-9f8e7d6c5b4a"


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtbatch", "run", *args]


def _env(key: str = "sk-test-cli") -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": key, "PYTHONUNBUFFERED": "1"}


#: Polls of the result file before a wait is given up (at POLL_S apart: 60 s).
POLLS = 12_000
POLL_S = 0.005


def _lines(path: Path) -> int:
    """Whole lines in the file now (a torn last line does not count)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _has_lines(path: Path, count: int) -> bool:
    return _lines(path) >= count


async def _poll(ready: Callable[[], bool], what: str) -> None:
    for _ in range(POLLS):
        if ready():
            return
        await trio.sleep(POLL_S)
    raise AssertionError(f"gave up waiting: {what}")


async def _kill(proc: trio.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL  # killed, not finished on its own


async def test_sigkill_before_and_during_the_run_then_rerun(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Kills before the first line and mid-run, then a rerun: every job exactly once."""
    # Before the first line: an emulator that answers only after 30 s, so a run
    # that holds the lock (it has read the jobs and is starting its workers)
    # cannot have written a line yet when it is killed.
    slow = await start_emulator(nursery, tmp_path, latency_ms=30_000, record=False)
    fast = await start_emulator(nursery, tmp_path, latency_ms=20, record=False)
    total = 400
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(total))
    out = tmp_path / "results.jsonl"
    lock = out.with_name(out.name + ".lock")

    def run(url: str) -> list[str]:
        return _cmd(str(jobs), "-o", str(out), "--url", url, "-c", "8", "-q")

    for _ in range(2):
        lock.unlink(missing_ok=True)  # no run holds it: the last one was killed
        proc = await trio.lowlevel.open_process(
            run(slow.emulator.url), env=_env(), stderr=subprocess.DEVNULL
        )
        await _poll(lock.exists, "the run to take its lock")
        await _kill(proc)
        assert _lines(out) == 0, "a kill meant to land before the first line landed after it"

    # Mid-run: each run is killed once it has added lines of its own, while the
    # file still lacks some jobs; each kill must leave it short of the whole.
    seen = []
    for step in range(1, 6):
        before = _lines(out)
        target = min(before + 25, total - 1)
        proc = await trio.lowlevel.open_process(
            run(fast.emulator.url), env=_env(), stderr=subprocess.DEVNULL
        )
        await _poll(partial(_has_lines, out, target), f"kill {step}: {target} lines")
        await _kill(proc)
        seen.append(_lines(out))
        assert before < seen[-1] < total, f"kill {step} did not land mid-run: {seen}"

    done = await trio.run_process(
        run(fast.emulator.url), env=_env(), capture_stderr=True, check=False
    )
    assert done.returncode == EXIT_OK, done.stderr.decode()
    results = read_results(out)
    assert len(by_id(results)) == total
    assert {r["status"] for r in results} == {"completed"}
    assert out.read_bytes().endswith(b"\n")


async def test_sigterm_finishes_in_flight_and_exits_130(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """SIGTERM mid-run: in-flight jobs finish, every written line is whole, exit 130."""
    h = await start_emulator(nursery, tmp_path, latency_ms=200, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(300))
    proc = await trio.lowlevel.open_process(
        _cmd(str(jobs), "-o", "-", "--url", h.emulator.url, "-c", "10", "-q"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = await proc.stdout.receive_some(1)  # the first result is being written
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = bytearray(first), bytearray()
    async with trio.open_nursery() as readers:

        async def drain(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
            while chunk := await stream.receive_some():
                into += chunk

        readers.start_soon(drain, proc.stdout, stdout)
        readers.start_soon(drain, proc.stderr, stderr)
    assert await proc.wait() == EXIT_INTERRUPTED
    lines = bytes(stdout).splitlines()
    results = [orjson.loads(line) for line in lines]
    assert bytes(stdout).endswith(b"\n")
    assert 1 <= len(by_id(results)) < 300
    assert {r["status"] for r in results} == {"completed"}
    text = stderr.decode()
    assert f"{len(results)} completed" in text
    assert "interrupted" in text
    assert "Traceback" not in text


async def test_wrong_key_exits_3_and_is_never_shown(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A refused key: exit 3, one clear message, no results, the key nowhere in any output."""
    h = await start_emulator(nursery, tmp_path, api_key="sk-the-right-one", record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(25))
    out = tmp_path / "results.jsonl"
    summary = tmp_path / "summary.json"
    done = await trio.run_process(
        _cmd(
            str(jobs),
            "-o",
            str(out),
            "--url",
            h.emulator.url,
            "-c",
            "4",
            "-vv",
            "--summary",
            str(summary),
        ),
        env=_env(SECRET),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == EXIT_FATAL
    stderr = done.stderr.decode()
    assert "run-fatal" in stderr and "API key" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() or out.read_bytes() == b""
    assert orjson.loads(summary.read_bytes())["not_started"] == 25
    for blob in (
        done.stdout,
        done.stderr,
        summary.read_bytes(),
        out.read_bytes() if out.exists() else b"",
    ):
        assert SECRET.encode() not in blob
        assert SECRET[-10:].encode() not in blob


async def test_invalid_file_is_refused_before_any_connection(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """An invalid line stops the run with exit 2 and its location; nothing is sent."""
    h = await start_emulator(nursery, tmp_path)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "promt": "y"}\n')
    done = await trio.run_process(
        _cmd(str(jobs), "--url", h.emulator.url),
        env=_env(),
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"{jobs}:2: promt:" in done.stderr.decode()
    assert h.emulator.stats.handshakes == 0
    skip = await trio.run_process(
        _cmd(str(jobs), "--url", h.emulator.url, "--skip-invalid", "-o", str(tmp_path / "r.jsonl")),
        env=_env(),
        capture_stderr=True,
        check=False,
    )
    assert skip.returncode == 1
    results = read_results(tmp_path / "r.jsonl")
    assert sorted(r["status"] for r in results) == ["completed", "failed"]
    failed = next(r for r in results if r["status"] == "failed")
    assert failed["line"] == 2 and "promt" in failed["error"]["message"]


async def test_second_run_on_the_same_file_is_refused(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """While a run holds the result file, another refuses with exit 2 naming the lock."""
    from rtbatch.output.lock import RunLock

    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(2))
    out = tmp_path / "r.jsonl"
    with RunLock(out):
        done = await trio.run_process(
            _cmd(str(jobs), "-o", str(out), "--emulate"),
            env=_env(),
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 2
    assert "another rtbatch run" in done.stderr.decode()


async def test_emulate_demo_run(tmp_path: Path) -> None:
    """--emulate runs the example jobs end to end with no key and no server."""
    out = tmp_path / "demo.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    demo = Path(__file__).parent.parent / "jobs" / "demo.jsonl"
    done = await trio.run_process(
        _cmd(str(demo), "--emulate", "-o", str(out)), env=env, capture_stderr=True, check=False
    )
    assert done.returncode == EXIT_OK, done.stderr.decode()
    assert {r["status"] for r in read_results(out)} == {"completed"}
    assert "completed" in done.stderr.decode()


async def test_jobs_from_stdin_resolve_audio_against_the_working_directory(
    tmp_path: Path,
) -> None:
    """`run -`: jobs from a pipe, audio paths from the cwd, results on stdout."""
    from tests.audio.samples import write_wav

    write_wav(tmp_path / "a.wav", 24000, 24000)
    lines = b'{"id": "t", "audio": "a.wav", "task": "transcribe"}\n{"id": "p", "prompt": "hi"}\n'
    done = await trio.run_process(
        _cmd("-", "--emulate"),
        stdin=lines,
        cwd=tmp_path,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"},
    )
    assert done.returncode == EXIT_OK, done.stderr.decode()
    results = by_id([orjson.loads(x) for x in done.stdout.splitlines()])
    assert "24000 samples" in results["t"]["output"]["transcript"]
    bad = await trio.run_process(
        _cmd("-", "--emulate"),
        stdin=b'{"id": "x"}\n',
        cwd=tmp_path,
        capture_stderr=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("-:1:")


async def test_unwritable_result_path_is_a_usage_error(tmp_path: Path) -> None:
    """A result file that cannot be created: exit 2 naming it, no traceback, nothing sent."""
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(2))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = await trio.run_process(
        _cmd(str(jobs), "--emulate", "-o", str(blocker / "r.jsonl")),
        env=_env(),
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert "not-a-dir" in stderr and "Traceback" not in stderr
