"""resume.py: repairing and indexing an earlier run's result file, in one streaming pass."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.jobs import Job, JobProblem
from rtbatch.output import resume
from rtbatch.output.outcome import Outcome, invalid_outcome
from rtbatch.output.resume import job_key, prepare_resume

TORN = b'{"id": "torn", "stat'


def _line(job_id: str, status: str, **fields: Any) -> bytes:
    return Outcome(job_id=job_id, status=status, kind="text", line=1, **fields).to_json()


def _ids(path: Path) -> list[str | None]:
    return [orjson.loads(x)["id"] for x in path.read_bytes().splitlines() if x.strip()]


def _leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def test_resume_drops_torn_line_and_failed_jobs(tmp_path: Path) -> None:
    """A torn last line and failed lines go; completed and incomplete stay; file rewritten."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        _line("a", "completed") + _line("b", "failed") + _line("c", "incomplete") + TORN
    )
    index = prepare_resume(path, retry_failed=True)
    assert ("a" in index.done, "b" in index.done, "c" in index.done) == (True, False, True)
    assert len(index.done) == 2
    assert index.dropped_torn == 1
    assert _ids(path) == ["a", "c"]
    assert _leftovers(path) == []


def test_resume_keeps_failed_when_not_retrying(tmp_path: Path) -> None:
    """With --no-retry-failed, failed jobs count as settled and their lines stay."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(_line("a", "completed") + _line("b", "failed"))
    done = prepare_resume(path, retry_failed=False).done
    assert "a" in done and "b" in done and len(done) == 2
    assert path.read_bytes() == _line("a", "completed") + _line("b", "failed")


def test_resume_drops_duplicates(tmp_path: Path) -> None:
    """A second line for a settled job is dropped, so each job has exactly one."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(_line("a", "completed") + _line("b", "completed") + _line("a", "completed"))
    prepare_resume(path, retry_failed=True)
    assert path.read_bytes() == _line("a", "completed") + _line("b", "completed")


def test_a_retried_job_keeps_its_later_line(tmp_path: Path) -> None:
    """A failed line followed by the rerun's completed line: the completed one stays."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(_line("a", "failed") + _line("a", "completed", attempts=2))
    index = prepare_resume(path, retry_failed=True)
    assert "a" in index.done
    assert path.read_bytes() == _line("a", "completed", attempts=2)


def test_unreadable_lines_go_wherever_they_are(tmp_path: Path) -> None:
    """A line that is not a JSON object, or has no id, is dropped like a torn one."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        _line("a", "completed") + b"not json\n" + b"[1, 2]\n" + b'{"status": "completed"}\n'
    )
    index = prepare_resume(path, retry_failed=True)
    assert index.dropped_torn == 3
    assert path.read_bytes() == _line("a", "completed")


def test_an_over_long_line_is_dropped_without_being_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line over the cap is read past in blocks and dropped; the lines after it stay."""
    monkeypatch.setattr(resume, "MAX_RESULT_LINE_BYTES", 300)
    path = tmp_path / "r.jsonl"
    long = _line("long", "completed", output={"text": "x" * 500})
    path.write_bytes(_line("a", "completed") + long + _line("b", "completed"))
    index = prepare_resume(path, retry_failed=True)
    assert (index.dropped_torn, "long" in index.done) == (1, False)
    assert _ids(path) == ["a", "b"]


def test_nothing_is_written_when_nothing_changes(tmp_path: Path) -> None:
    """A clean file is only read: same inode, same bytes, no temporary file."""
    path = tmp_path / "r.jsonl"
    content = _line("a", "completed") + b"\n" + _line("b", "incomplete")
    path.write_bytes(content)
    before = os.stat(path)
    index = prepare_resume(path, retry_failed=True)
    after = os.stat(path)
    assert len(index.done) == 2
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_bytes() == content
    assert _leftovers(path) == []


def test_a_repaired_file_keeps_its_permissions(tmp_path: Path) -> None:
    """The repaired copy takes the mode of the file it replaces, not a private 0600."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(_line("a", "completed") + TORN)
    path.chmod(0o640)
    prepare_resume(path, retry_failed=True)
    assert (path.read_bytes(), path.stat().st_mode & 0o777) == (_line("a", "completed"), 0o640)


def test_the_unchanged_head_is_copied_byte_for_byte(tmp_path: Path) -> None:
    """Lines before the first change keep their exact bytes, blank lines included."""
    path = tmp_path / "r.jsonl"
    head = b'{"id":"a",  "status":"completed","kind":"text"}\n\n' + _line("b", "completed")
    path.write_bytes(head + _line("c", "failed") + _line("d", "completed") + TORN)
    prepare_resume(path, retry_failed=True)
    assert path.read_bytes() == head + _line("d", "completed")


def test_a_failed_rename_leaves_the_file_and_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the repaired copy cannot replace the file, the error rises and the copy is gone."""
    path = tmp_path / "r.jsonl"
    content = _line("a", "completed") + TORN
    path.write_bytes(content)

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        prepare_resume(path, retry_failed=True)
    assert path.read_bytes() == content
    assert _leftovers(path) == []


def test_resume_of_missing_file(tmp_path: Path) -> None:
    """No file: nothing is settled, nothing is created."""
    assert len(prepare_resume(tmp_path / "none.jsonl", retry_failed=True).done) == 0
    assert list(tmp_path.iterdir()) == []


def test_invalid_lines_are_keyed_by_line_and_jobs_by_id(tmp_path: Path) -> None:
    """An invalid line's result settles its line; a job that failed as invalid keeps its id."""
    path = tmp_path / "r.jsonl"
    problem = JobProblem(path="j.jsonl", line=4, field=None, message="not JSON", job_id="x")
    rejected = Outcome(
        job_id="hot",
        status="failed",
        kind="text",
        line=9,
        error={"type": "invalid_job", "code": "unsupported_option", "message": "temperature"},
    )
    path.write_bytes(invalid_outcome(problem).to_json() + rejected.to_json())
    done = prepare_resume(path, retry_failed=False).done
    job = Job(id="hot", line=9, kind="text", prompt="p")
    assert (job_key(problem) in done, job_key(job) in done, "x" in done) == (True, True, False)


@pytest.mark.parametrize("first_change", ["torn tail", "first line failed"])
def test_memory_stays_flat_in_the_file_size(tmp_path: Path, first_change: str) -> None:
    """A 30 MiB file is repaired with a peak far below its size, whichever line changes."""
    path = tmp_path / "r.jsonl"
    text = "Emulated reply " + "amber basil cedar delta " * 120  # a 3 KiB line
    lines = 10_000
    failed_first = first_change == "first line failed"
    kept_bytes = 0
    with path.open("wb") as out:
        for i in range(lines):
            line = _line(
                f"job-{i:07d}",
                "failed" if i == 0 and failed_first else "completed",
                output={"text": text},
            )
            kept_bytes += 0 if i == 0 and failed_first else len(line)
            out.write(line)
        out.write(TORN)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        index = prepare_resume(path, retry_failed=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 28 * 2**20
    assert (len(index.done), path.stat().st_size) == (lines - failed_first, kept_bytes)
    # The index of 10,000 ids is ~200 KiB and a copy block 1 MiB; holding the
    # kept lines, as resume once did, would peak above the file's size.
    assert peak < 2 * 2**20, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"


@pytest.mark.parametrize(("retry_failed", "counted"), [(True, 1), (False, 2)])
def test_settled_lines_that_did_not_pass_their_checks_are_counted(
    tmp_path: Path, retry_failed: bool, counted: int
) -> None:
    """Only settled lines count: a failed line that runs again is the rerun's to judge."""
    path = tmp_path / "r.jsonl"
    checks = [{"check": "contains", "passed": False, "detail": ""}]
    path.write_bytes(
        _line("pass", "completed", checks=[], passed=True)
        + _line("miss", "completed", checks=checks, passed=False)
        + _line("miss", "completed", checks=checks, passed=False)  # a duplicate: dropped
        + _line("lost", "failed", checks=checks, passed=False)
        + _line("plain", "completed")
    )
    assert prepare_resume(path, retry_failed=retry_failed).failed_checks == counted
