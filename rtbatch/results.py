"""The result file: one JSON line per job, its writer, and the run lock.

The result file is the source of truth. Lines are appended whole and flushed
one at a time, so a run killed at any instant leaves at most one torn last line;
the next run repairs it (:mod:`rtbatch.resume`). A line reads::

    {"id", "status", "kind", "model", "output", "usage", "cost_usd",
     "response_id", "attempts", "latency_ms", "error", "metadata"}

plus ``"line"`` for an invalid job line. ``model`` is the model that did the work
(the realtime model of a text or respond job, the transcription model of a
transcribe job) and ``cost_usd`` what its usage cost at the catalogue's prices
(:func:`rtbatch.summary.outcome_cost`); both are ``null`` where unknown.
"""

from __future__ import annotations

import fcntl
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from rtbatch.jobs import JobProblem

# Resume and the summary have their own modules; their names are re-exported
# here for the callers that still import them from this one.
from rtbatch.resume import INVALID_KIND, ResumeIndex, job_key, prepare_resume
from rtbatch.summary import Summary

__all__ = [
    "LockBusy",
    "Outcome",
    "ResultFile",
    "ResumeIndex",
    "RunLock",
    "Summary",
    "invalid_outcome",
    "job_key",
    "prepare_resume",
]


@dataclass(slots=True)
class Outcome:
    """How one job ended; becomes exactly one result line.

    ``model`` is the model that did the work and ``cost_usd`` what it cost, both
    None where unknown (a job that never reached a model, a model without prices).
    """

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
    model: str | None = None
    cost_usd: float | None = None

    def to_json(self) -> bytes:
        """The result line, newline included."""
        record: dict[str, Any] = {
            "id": self.job_id,
            "status": self.status,
            "kind": self.kind,
            "model": self.model,
            "output": self.output,
            "usage": self.usage,
            "cost_usd": self.cost_usd,
            "response_id": self.response_id,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "metadata": self.metadata,
        }
        if self.kind == INVALID_KIND or (self.error or {}).get("type") == "invalid_job":
            record["line"] = self.line
        return orjson.dumps(record) + b"\n"


def invalid_outcome(problem: JobProblem) -> Outcome:
    """The failed result recorded for an invalid line under ``--skip-invalid``."""
    return Outcome(
        job_id=problem.job_id,
        status="failed",
        kind=INVALID_KIND,
        line=problem.line,
        error={"type": "invalid_job", "code": "invalid_job", "message": str(problem)},
    )


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
