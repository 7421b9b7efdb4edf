"""Streaming resume: read an earlier run's result file, repair it, index what it settled.

Rerunning a command resumes it: the result file says which jobs are done, and only
the others run. A run killed at any instant leaves at most one torn last line
(lines are appended whole and flushed one at a time), so the file may need repair
before the next run appends to it.

Memory is flat in the file's size: the file is read once, line by line, and no
line outlives its turn of the loop. The only thing that grows is the index of
settled keys (:class:`~rtbatch.idindex.IdIndex`, 18-36 bytes a job), needed to
skip them. Repair writes a temporary file beside the result file, started only at
the first line that must go: the unchanged bytes before it are copied in blocks,
then every later line that stays is written through. The temporary file replaces
the result file by an atomic rename when the pass ends, and is removed if
anything goes wrong, so no reader ever sees a half-repaired file. A file that
needs no repair is only read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from rtbatch.idindex import IdIndex
from rtbatch.jobs import Job, JobProblem
from rtbatch.output.atomic import AtomicFile

#: Statuses that end a job for good: a rerun skips them (``failed`` too, unless
#: failed jobs are retried).
FINAL_STATUSES = frozenset({"completed", "incomplete"})
#: The ``kind`` of the line recorded for an invalid job line under ``--skip-invalid``;
#: such a line is keyed by its line number, since it may have no usable id.
INVALID_KIND = "invalid"
#: A result line longer than this is treated as unreadable (and its job runs
#: again), so that a corrupt file without newlines cannot make resume read it whole.
#: Far above any real line: outputs are text, audio goes to files.
MAX_RESULT_LINE_BYTES = 64 * 1024 * 1024
#: Block size for copying the unchanged head of the file into the repaired copy.
COPY_BLOCK_BYTES = 1024 * 1024


def job_key(item: Job | JobProblem) -> str:
    """The resume key of a job-file item: the job id, or the line of an invalid line."""
    if isinstance(item, Job):
        return item.id
    return f"line:{item.line}"


def record_key(record: dict[str, Any]) -> str | None:
    """The resume key of a parsed result line, or None when it has none.

    Args:
        record: one result line, decoded.

    Returns:
        The same key :func:`job_key` gives the item the line was written for.
    """
    if record.get("kind") == INVALID_KIND:
        line = record.get("line")
        return f"line:{line}" if isinstance(line, int) else None
    job_id = record.get("id")
    return job_id if isinstance(job_id, str) else None


@dataclass(slots=True)
class ResumeIndex:
    """What an earlier run on the same result file already settled.

    Attributes:
        done: the keys (:func:`job_key`) of settled jobs.
        dropped_torn: torn or unreadable lines removed by the repair.
        failed_checks: settled lines whose checks did not pass (``passed`` false):
            skipped by the rerun, yet still part of the file ``--fail-on-check`` answers for.
    """

    done: IdIndex = field(default_factory=IdIndex)
    dropped_torn: int = 0
    failed_checks: int = 0


def prepare_resume(path: Path, *, retry_failed: bool) -> ResumeIndex:
    """Read an existing result file in one pass, repair it, and index the settled jobs.

    A line goes when it is torn or unreadable, when it is ``failed`` and failed
    jobs are to be retried, or when an earlier line already settled its job. When
    any line goes, the file is replaced atomically by a copy without those lines;
    otherwise nothing is written. Blank lines stay as they are.

    Args:
        path: the result file; a missing file settles nothing.
        retry_failed: whether ``failed`` jobs run again (their lines are dropped).

    Returns:
        The settled keys and how many torn lines were dropped.

    Raises:
        OSError: the file cannot be read, or its repaired copy cannot be written
            or renamed; the result file is then unchanged and no copy is left.
    """
    index = ResumeIndex()
    try:
        source = path.open("rb")
    except FileNotFoundError:
        return index
    with source, _Repair(path) as repair:
        for number, raw in enumerate(result_lines(source), start=1):
            if raw is not None and not raw.strip():
                repair.keep(raw)  # blank: nothing to index, nothing to repair
                continue
            record = decode_result(raw)
            key = record_key(record) if record is not None else None
            if raw is None or record is None or key is None:
                index.dropped_torn += 1
                repair.drop()
                continue
            status = record.get("status")
            settled = status in FINAL_STATUSES or (status == "failed" and not retry_failed)
            # One probe of the index: a key first seen on an earlier line is a duplicate.
            if not settled or index.done.setdefault(key, number) != number:
                repair.drop()
                continue
            repair.keep(raw)
            index.failed_checks += record.get("passed") is False
    return index


class _Repair:
    """The repaired copy of a result file, written only from the first dropped line.

    Until a line is dropped, kept lines only advance the length of the unchanged
    head. The first drop starts an :class:`~rtbatch.output.atomic.AtomicFile`
    (with the file's own mode) and copies that head into it; from then on kept
    lines are written to it. On a clean exit the copy replaces the file; on any
    exception it is removed.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._head_bytes = 0
        self._out: AtomicFile | None = None

    def __enter__(self) -> _Repair:
        return self

    def keep(self, raw: bytes) -> None:
        """A line stays (``raw`` ends with its newline)."""
        if self._out is None:
            self._head_bytes += len(raw)
        else:
            self._out.stream.write(raw)

    def drop(self) -> None:
        """A line goes: from here on, the file is rewritten."""
        if self._out is not None:
            return
        self._out = out = AtomicFile(self._path, mode=stat.S_IMODE(os.stat(self._path).st_mode))
        left = self._head_bytes
        block = memoryview(bytearray(min(COPY_BLOCK_BYTES, left)))  # one buffer, reused
        with self._path.open("rb", buffering=0) as head:
            while left > 0:
                n = head.readinto(block[: min(len(block), left)])
                if not n:
                    raise OSError(f"{self._path}: file shrank while being resumed")
                out.stream.write(block[:n])
                left -= n

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._out is None:
            return
        with self._out as out:
            if exc_type is None:
                out.commit()


def result_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line with its newline (the last may lack it); None for an over-long line."""
    while raw := stream.readline(MAX_RESULT_LINE_BYTES + 1):
        if len(raw) > MAX_RESULT_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(COPY_BLOCK_BYTES)) and not rest.endswith(b"\n"):
                pass  # read to the end of the line in blocks, holding none of it
            yield None
        else:
            yield raw


def decode_result(raw: bytes | None) -> dict[str, Any] | None:
    """The line's object, or None for a torn (no newline) or unreadable line."""
    if raw is None or not raw.endswith(b"\n"):
        return None  # torn: the writer died mid-line
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
