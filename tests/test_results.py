"""results.py: result lines, resume repair, the run lock, usage totals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rtbatch.results import (
    LockBusy,
    Outcome,
    ResultFile,
    RunLock,
    Summary,
    UsageTotals,
    prepare_resume,
)


def _line(job_id: str, status: str) -> bytes:
    return Outcome(job_id=job_id, status=status, kind="text", line=1).to_json()


def test_outcome_line_has_the_documented_fields() -> None:
    """A result line has the documented fields: id, status, output, usage, attempts, …"""
    record = orjson.loads(
        Outcome(
            job_id="a", status="completed", kind="text", line=3, attempts=2, metadata={"x": 1}
        ).to_json()
    )
    assert set(record) == {
        "id",
        "status",
        "kind",
        "output",
        "usage",
        "response_id",
        "attempts",
        "latency_ms",
        "error",
        "metadata",
    }
    assert record["attempts"] == 2
    assert record["metadata"] == {"x": 1}


def test_resume_drops_torn_line_and_failed_jobs(tmp_path: Path) -> None:
    """A torn last line and failed lines go; completed and incomplete stay; file rewritten."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        _line("a", "completed")
        + _line("b", "failed")
        + _line("c", "incomplete")
        + b'{"id": "d", "stat'
    )
    index = prepare_resume(path, retry_failed=True)
    assert ("a" in index.done, "b" in index.done, "c" in index.done) == (True, False, True)
    assert len(index.done) == 2
    assert index.dropped_torn == 1
    assert [orjson.loads(x)["id"] for x in path.read_bytes().splitlines()] == ["a", "c"]


def test_resume_keeps_failed_when_not_retrying(tmp_path: Path) -> None:
    """With --no-retry-failed, failed jobs count as settled."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(_line("a", "completed") + _line("b", "failed"))
    done = prepare_resume(path, retry_failed=False).done
    assert "a" in done and "b" in done and len(done) == 2
    assert path.read_bytes() == _line("a", "completed") + _line("b", "failed")


def test_resume_drops_duplicates(tmp_path: Path) -> None:
    """A second line for a settled job is dropped, so each job has exactly one."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(_line("a", "completed") + _line("a", "completed"))
    prepare_resume(path, retry_failed=True)
    assert path.read_bytes() == _line("a", "completed")


def test_resume_of_missing_file(tmp_path: Path) -> None:
    """No file: nothing is settled."""
    assert len(prepare_resume(tmp_path / "none.jsonl", retry_failed=True).done) == 0


def test_result_file_appends_whole_lines(tmp_path: Path) -> None:
    """Each write is a whole line on disk before the next call."""
    path = tmp_path / "out" / "r.jsonl"
    results = ResultFile.open(path)
    results.write(Outcome(job_id="a", status="completed", kind="text", line=1))
    assert path.read_bytes().endswith(b"\n")
    results.close()


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    """A second run on the same result file is refused with a message naming the lock."""
    results = tmp_path / "r.jsonl"
    with RunLock(results), pytest.raises(LockBusy, match="another rtbatch run"):
        RunLock(results).__enter__()
    with RunLock(results):
        pass  # released on exit


def test_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    """flock dies with its process: a killed run leaves no stale lock."""
    results = tmp_path / "r.jsonl"
    code = (
        "import os, sys; from pathlib import Path; from rtbatch.results import RunLock;"
        f"RunLock(Path({str(results)!r})).__enter__(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with RunLock(results):
        pass


def test_usage_totals_do_not_count_cached_twice() -> None:
    """Cached tokens are a part of input, reported beside it, not added to it."""
    totals = UsageTotals()
    usage = {
        "total_tokens": 30,
        "input_tokens": 20,
        "output_tokens": 10,
        "input_token_details": {"text_tokens": 12, "audio_tokens": 8, "cached_tokens": 16},
        "output_token_details": {"text_tokens": 4, "audio_tokens": 6},
    }
    totals.add(usage)
    totals.add(usage)
    totals.add({"type": "duration", "seconds": 2.5})
    assert (totals.input_tokens, totals.cached_tokens, totals.total_tokens) == (40, 32, 60)
    assert totals.output_audio_tokens == 12
    assert totals.transcription_seconds == 2.5


def test_summary_json_shape() -> None:
    """The --summary JSON lists counts by status, usage and rates."""
    summary = Summary()
    summary.add(
        Outcome(
            job_id="a",
            status="completed",
            kind="text",
            line=1,
            usage={"input_tokens": 3, "output_tokens": 4},
        )
    )
    summary.wall_s = 2.0
    data = summary.to_dict()
    assert data["counts"] == {"completed": 1, "incomplete": 0, "failed": 0}
    assert data["usage"]["total_tokens"] == 7
    assert data["jobs_per_s"] == 0.5
    assert "1 completed" in summary.render()
