"""The result file: one JSON line per job, the resume index, the run lock, totals.

The result file is the source of truth. Lines are appended whole and flushed
one at a time, so a run killed at any instant leaves at most one torn last line;
:func:`prepare_resume` drops it (and the lines of jobs that will run again) by
rewriting the file under a temporary name and renaming it into place.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from rtbatch.idindex import IdIndex
from rtbatch.jobs import Job, JobProblem

STATUSES = ("completed", "incomplete", "failed")
# Statuses that end a job for good: a rerun skips them.
FINAL_STATUSES = frozenset({"completed", "incomplete"})


@dataclass(slots=True)
class Outcome:
    """How one job ended; becomes exactly one result line."""

    job_id: str | None
    status: str
    kind: str
    line: int
    attempts: int = 0
    output: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    response_id: str | None = None
    latency_ms: int | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        """The result line, newline included."""
        record: dict[str, Any] = {
            "id": self.job_id,
            "status": self.status,
            "kind": self.kind,
            "output": self.output,
            "usage": self.usage,
            "response_id": self.response_id,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "metadata": self.metadata,
        }
        if self.error is not None and self.error.get("type") == "invalid_job":
            record["line"] = self.line
        return orjson.dumps(record) + b"\n"


def invalid_outcome(problem: JobProblem) -> Outcome:
    """The failed result recorded for an invalid line under ``--skip-invalid``."""
    return Outcome(
        job_id=problem.job_id,
        status="failed",
        kind="invalid",
        line=problem.line,
        error={"type": "invalid_job", "code": "invalid_job", "message": str(problem)},
    )


def job_key(item: Job | JobProblem) -> str:
    """The resume key: the job id, or the line for an invalid line."""
    if isinstance(item, Job):
        return item.id
    return f"line:{item.line}"


def _record_key(record: dict[str, Any]) -> str | None:
    error = record.get("error") or {}
    if isinstance(error, dict) and error.get("type") == "invalid_job":
        return f"line:{record.get('line')}"
    job_id = record.get("id")
    return job_id if isinstance(job_id, str) else None


@dataclass(slots=True)
class ResumeIndex:
    """What an earlier run on the same result file already settled."""

    done: IdIndex = field(default_factory=IdIndex)
    kept: Counter[str] = field(default_factory=Counter)
    dropped_torn: int = 0
    dropped_retry: int = 0


def prepare_resume(path: Path, *, retry_failed: bool) -> ResumeIndex:
    """Read an existing result file, repair it, and index the settled jobs.

    A torn or unreadable line is dropped; so is a ``failed`` line when failed
    jobs are to be retried, and any second line for one job. When anything is
    dropped the file is rewritten atomically.
    """
    index = ResumeIndex()
    if not path.exists():
        return index
    keep: list[bytes] = []
    changed = False
    for raw, record in _read_records(path):
        key = _record_key(record) if record is not None else None
        if record is None or key is None:
            index.dropped_torn += 1
            changed = True
            continue
        status = record.get("status")
        settled = status in FINAL_STATUSES or (status == "failed" and not retry_failed)
        if not settled or key in index.done:
            index.dropped_retry += status == "failed"
            changed = True
            continue
        index.done.add(key)
        index.kept[str(status)] += 1
        keep.append(raw if raw.endswith(b"\n") else raw + b"\n")
    if changed:
        _rewrite(path, keep)
    return index


def _read_records(path: Path) -> Iterator[tuple[bytes, dict[str, Any] | None]]:
    with path.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                yield raw, None  # torn: the writer died mid-line
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                record = None
            yield raw, record if isinstance(record, dict) else None


def _rewrite(path: Path, lines: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.writelines(lines)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ResultFile:
    """Append-only JSONL output, flushed after every line."""

    def __init__(self, stream: IO[bytes], *, owned: bool) -> None:
        self._stream = stream
        self._owned = owned

    @classmethod
    def open(cls, path: Path | None) -> ResultFile:
        """Append to ``path``, or write to stdout when it is None."""
        if path is None:
            return cls(sys.stdout.buffer, owned=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path.open("ab"), owned=True)

    def write(self, outcome: Outcome) -> None:
        """Write one line and hand it to the OS before returning."""
        self._stream.write(outcome.to_json())
        self._stream.flush()

    def close(self) -> None:
        """Close the file (stdout is left open)."""
        if self._owned:
            self._stream.close()


class LockBusy(Exception):
    """Raised when another run holds the result file's lock."""


class RunLock:
    """An exclusive lock beside the result file, so overlapping runs cannot collide.

    ``flock`` is released by the kernel when the holder dies, so a killed run
    never leaves a stale lock behind.
    """

    def __init__(self, results: Path) -> None:
        self.path = results.with_name(results.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(
                f"{self.path}: another rtbatch run is writing this result file"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(slots=True)
class UsageTotals:
    """Token usage summed over a run, as the server reported it.

    ``input_tokens`` already includes cached tokens; ``cached_tokens`` says how
    many of them were cached, and is never added to the input a second time.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    transcription_seconds: float = 0.0

    def add(self, usage: dict[str, Any] | None) -> None:
        """Add one result's usage (response or transcription form)."""
        if not usage:
            return
        if usage.get("type") == "duration":
            self.transcription_seconds += float(usage.get("seconds") or 0)
            return
        self.input_tokens += int(usage.get("input_tokens") or 0)
        self.output_tokens += int(usage.get("output_tokens") or 0)
        inp = usage.get("input_token_details") or {}
        out = usage.get("output_token_details") or {}
        self.input_text_tokens += int(inp.get("text_tokens") or 0)
        self.input_audio_tokens += int(inp.get("audio_tokens") or 0)
        self.cached_tokens += int(inp.get("cached_tokens") or 0)
        self.output_text_tokens += int(out.get("text_tokens") or 0)
        self.output_audio_tokens += int(out.get("audio_tokens") or 0)

    @property
    def total_tokens(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Summary:
    """The run's figures, for stderr and ``--summary``."""

    counts: Counter[str] = field(default_factory=Counter)
    usage: UsageTotals = field(default_factory=UsageTotals)
    skipped: int = 0
    not_started: int = 0
    wall_s: float = 0.0
    stopped: str | None = None

    def add(self, outcome: Outcome) -> None:
        """Count one written result."""
        self.counts[outcome.status] += 1
        self.usage.add(outcome.usage)

    @property
    def finished(self) -> int:
        """Results written by this run."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written by ``--summary``."""
        usage = {name: getattr(self.usage, name) for name in self.usage.__slots__}
        usage["total_tokens"] = self.usage.total_tokens
        return {
            "counts": {s: self.counts.get(s, 0) for s in STATUSES},
            "skipped": self.skipped,
            "not_started": self.not_started,
            "usage": usage,
            "wall_s": round(self.wall_s, 3),
            "jobs_per_s": round(self.finished / self.wall_s, 2) if self.wall_s > 0 else None,
            "stopped": self.stopped,
        }

    def render(self) -> str:
        """A few human lines for stderr."""
        d = self.to_dict()
        c, u = d["counts"], self.usage
        lines = [
            f"jobs: {c['completed']} completed, {c['incomplete']} incomplete, "
            f"{c['failed']} failed, {self.skipped} skipped (already done), "
            f"{self.not_started} not started",
            f"tokens: {u.input_tokens} in (text {u.input_text_tokens}, audio "
            f"{u.input_audio_tokens}, of which cached {u.cached_tokens}), "
            f"{u.output_tokens} out (text {u.output_text_tokens}, audio {u.output_audio_tokens})",
            f"time: {self.wall_s:.2f} s, {d['jobs_per_s'] or 0} jobs/s",
        ]
        if u.transcription_seconds:
            lines.insert(
                2, f"transcribed audio billed by duration: {u.transcription_seconds:.1f} s"
            )
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return "\n".join(lines)
