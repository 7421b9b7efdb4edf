"""The checkpoint: finished segments and turns of unfinished jobs, so a rerun sends only the rest.

A long file is transcribed segment by segment, a conversation answered turn by
turn. Each segment's transcript, and each turn's answer, is recorded here as soon
as it arrives; when the job's result line is written, the job is forgotten. A run
killed at any instant (kill -9 included) and then rerun asks
:meth:`Checkpoint.finished` which segments it may skip, and
:meth:`Checkpoint.finished_turns` which turns it replays instead of asking again.

**The file.** ``RESULTS`` + :data:`CHECKPOINT_SUFFIX` beside the result file
(``out/results.jsonl.segments``), JSON Lines, appended to and flushed to the
OS one whole line at a time (no fsync: a power cut may lose the latest lines,
whose segments are then simply sent again). Three kinds of line::

    {"job": "calls/a.mp3", "index": 0, "start_sample": 0, "end_sample": 14400000,
     "text": "…", "usage": {…}}
    {"job": "chat-7", "turn": 0, "key": "9f…", "output": {"turn": 1, "text": "…", …}}
    {"job": "calls/a.mp3", "forgotten": true}

A turn line holds the turn's entry of ``output.turns`` whole
(:class:`~rtbatch.output.turns.TurnRecord`); which of a job's turns count is the
reader's to decide (:func:`~rtbatch.output.turns.contiguous_turns`, by key).

Samples count from the start of the decoded file at the rate the segmenter
uses (24 kHz for the transcription session); this module checks only that they
are integers that follow on.

**Invariants.**

1. Every line but possibly the last is one whole JSON object and its ``\\n``.
   A last line without one is a write cut short by a kill: :meth:`Checkpoint.open`
   drops it and truncates the file there, so later lines never join it. A
   complete line that is not a valid record (damage) is skipped and counted
   in :attr:`Checkpoint.dropped_lines`; at worst its segment is sent again.
2. A segment or turn line counts until a ``forgotten`` line for its job follows
   it; a job id may come back after its ``forgotten`` line (a retried job) and
   then starts afresh. A later line for the same segment index (or turn) replaces
   an earlier one.
3. :meth:`Checkpoint.finished` (:func:`contiguous`) returns only the contiguous run of segments
   from index 0 and sample 0, each starting where the one before it ended.
4. The file exists only while some job has segments in it: forgetting the last
   one deletes it, and opening a file with nothing left deletes it too.
5. When forgotten jobs hold at least :data:`COMPACT_MIN_DEAD_BYTES` and at
   least :data:`COMPACT_MIN_DEAD_FRACTION` of the file, it is rewritten
   without them, whole (:func:`rtbatch.output.atomic.write_whole`).

**Memory.** The file is read once, at open, line by line; only the segments of
jobs not yet forgotten are kept, so memory is the transcripts of the jobs in
flight (a few, as a run has few long files in flight), whatever the file's size.

**Crash between the result line and forget.** The job's segments stay: the
runner should :meth:`~Checkpoint.forget` every job in :meth:`~Checkpoint.pending`
that the result file already settles.

A checkpoint is used from one thread (one trio task) at a time; the run's lock
on the result file keeps other processes away.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

import orjson

from rtbatch.output.atomic import sync_directory, write_whole
from rtbatch.output.transcript import SegmentRecord
from rtbatch.output.turns import TurnRecord

#: The checkpoint of ``RESULTS`` is ``RESULTS`` + this.
CHECKPOINT_SUFFIX: Final = ".segments"
#: Compact only when forgotten jobs take at least this many bytes (1 MiB) ...
COMPACT_MIN_DEAD_BYTES: Final = 1024 * 1024
#: ... and at least this share of the file.
COMPACT_MIN_DEAD_FRACTION: Final = 0.5


@dataclass(slots=True)
class _Job:
    segments: dict[int, SegmentRecord] = field(default_factory=dict)
    turns: dict[int, TurnRecord] = field(default_factory=dict)
    bytes: int = 0  # every line written for this job since its last forgotten line


def contiguous(segments: Mapping[int, SegmentRecord]) -> list[SegmentRecord]:
    """The segments a job may keep: the run from index 0 and sample 0, in order.

    Each must start where the one before it ended; the first gap, or a segment
    that does not follow on, ends the run (invariant 3). The one rule for a
    rerun's checkpoint and for a retried job's segments alike.

    Args:
        segments: finished segments by index.
    """
    done: list[SegmentRecord] = []
    sample = 0
    while (segment := segments.get(len(done))) is not None and segment.start_sample == sample:
        done.append(segment)
        sample = segment.end_sample
    return done


def checkpoint_path(results_path: Path) -> Path:
    """The checkpoint file beside ``results_path``."""
    return results_path.with_name(results_path.name + CHECKPOINT_SUFFIX)


class Checkpoint:
    """The finished segments of unfinished jobs, recorded beside the result file.

    Open it with :meth:`open`; see the module's docstring for the file and its
    invariants.
    """

    def __init__(self, path: Path, jobs: dict[str, _Job], size: int, dropped: int) -> None:
        self.path = path
        #: Complete lines skipped at open because they were not valid records.
        self.dropped_lines = dropped
        self._jobs = jobs
        self._size = size  # bytes in the file
        self._stream: io.FileIO | None = None
        self._closed = False

    @classmethod
    def open(cls, results_path: Path) -> Checkpoint:
        """Read the checkpoint beside ``results_path`` (if any) and repair it.

        A torn last line is cut off; a file with nothing left is deleted; one
        mostly made of forgotten jobs is compacted. No file is created until
        the first :meth:`record`.

        Raises:
            OSError: The file exists but cannot be read or repaired.
        """
        path = checkpoint_path(results_path)
        jobs, size, good, dropped = _read(path)
        checkpoint = cls(path, jobs, good, dropped)
        if good < size:
            os.truncate(path, good)
        checkpoint._tidy()
        return checkpoint

    def record(self, job_id: str, segment: SegmentRecord) -> None:
        """Record one finished segment, as one line handed to the OS before returning.

        Raises:
            ValueError: The segment's fields are not integers with
                0 <= start_sample <= end_sample and index >= 0, or the
                checkpoint is closed.
            OSError: The line cannot be written.
        """
        problem = _problem(*_fields(segment))
        if problem is not None:
            raise ValueError(f"segment {segment.index!r} of job {job_id!r}: {problem}")
        written = self._append(_segment_line(job_id, segment))
        job = self._jobs.setdefault(job_id, _Job())
        job.segments[segment.index] = segment
        job.bytes += written

    def record_turn(self, job_id: str, turn: TurnRecord) -> None:
        """Record one finished turn of a conversation, as one line handed to the OS.

        Raises:
            ValueError: The turn's index is not an integer >= 0, or the
                checkpoint is closed.
            OSError: The line cannot be written.
        """
        if type(turn.index) is not int or turn.index < 0:
            raise ValueError(f"turn {turn.index!r} of job {job_id!r}: expected an index >= 0")
        written = self._append(_turn_line(job_id, turn))
        job = self._jobs.setdefault(job_id, _Job())
        job.turns[turn.index] = turn
        job.bytes += written

    def finished_turns(self, job_id: str) -> list[TurnRecord]:
        """The job's recorded turns, by index; :func:`~rtbatch.output.turns.contiguous_turns`
        decides which still answer the job's turns."""
        job = self._jobs.get(job_id)
        return [] if job is None else [job.turns[i] for i in sorted(job.turns)]

    def finished(self, job_id: str) -> list[SegmentRecord]:
        """The job's segments that need not be sent again: :func:`contiguous` of its record."""
        job = self._jobs.get(job_id)
        return [] if job is None else contiguous(job.segments)

    def forget(self, job_id: str) -> None:
        """Drop a job's segments, once its result line is written.

        The last job forgotten deletes the file; otherwise a ``forgotten`` line
        is appended, and the file compacted when that is worth it.

        Raises:
            ValueError: The checkpoint is closed.
            OSError: The file cannot be written, compacted or deleted.
        """
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        if self._jobs:
            self._append(orjson.dumps({"job": job_id, "forgotten": True}) + b"\n")
        self._tidy()

    def pending(self) -> list[str]:
        """The ids of the jobs that have segments or turns recorded, sorted."""
        return sorted(self._jobs)

    def close(self) -> None:
        """Close the file; recorded lines are already with the OS. Idempotent."""
        self._closed = True
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the file -------------------------------------------------------------------------

    def _append(self, line: bytes) -> int:
        if self._closed:
            raise ValueError(f"{self.path}: checkpoint is closed")
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = io.FileIO(self.path, "a")
        view = memoryview(line)
        while view:  # unbuffered: one write call a line, looping only if the OS took part
            view = view[self._stream.write(view) or 0 :]
        self._size += len(line)
        return len(line)

    def _tidy(self) -> None:
        """Delete the file when nothing is left in it; compact it when that is worth it."""
        if not self._jobs:
            self._drop_stream()
            if self._size or self.path.exists():
                with suppress(FileNotFoundError):
                    self.path.unlink()
                sync_directory(self.path.parent)
            self._size = 0
            return
        dead = self._size - sum(job.bytes for job in self._jobs.values())
        if dead >= COMPACT_MIN_DEAD_BYTES and dead >= COMPACT_MIN_DEAD_FRACTION * self._size:
            self._compact()

    def _compact(self) -> None:
        self._drop_stream()
        lines: list[bytes] = []
        for job_id, job in self._jobs.items():
            own = [_segment_line(job_id, job.segments[i]) for i in sorted(job.segments)]
            own += [_turn_line(job_id, job.turns[i]) for i in sorted(job.turns)]
            job.bytes = sum(len(line) for line in own)
            lines += own
        write_whole(self.path, lines)
        self._size = sum(len(line) for line in lines)

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


# --- lines ------------------------------------------------------------------------------------


_SEGMENT_KEYS = frozenset({"index", "start_sample", "end_sample", "text"})


def _fields(segment: SegmentRecord) -> tuple[object, ...]:
    return (segment.index, segment.start_sample, segment.end_sample, segment.text, segment.usage)


def _segment_line(job_id: str, segment: SegmentRecord) -> bytes:
    record = {
        "job": job_id,
        "index": segment.index,
        "start_sample": segment.start_sample,
        "end_sample": segment.end_sample,
        "text": segment.text,
        "usage": segment.usage,
    }
    return orjson.dumps(record) + b"\n"


def _turn_line(job_id: str, turn: TurnRecord) -> bytes:
    record = {"job": job_id, "turn": turn.index, "key": turn.key, "output": turn.output}
    return orjson.dumps(record) + b"\n"


def _problem(index: object, start: object, end: object, text: object, usage: object) -> str | None:
    """What is wrong with a segment's fields, or None (they come from callers and files)."""
    for name, value in (("index", index), ("start_sample", start), ("end_sample", end)):
        if type(value) is not int or value < 0:
            return f"{name}: expected an integer >= 0, got {value!r}"
    if isinstance(start, int) and isinstance(end, int) and end < start:
        return f"end_sample {end} is before start_sample {start}"
    if not isinstance(text, str):
        return f"text: expected a string, got {type(text).__name__}"
    if usage is not None and not isinstance(usage, dict):
        return f"usage: expected an object or null, got {type(usage).__name__}"
    return None


def _read(path: Path) -> tuple[dict[str, _Job], int, int, int]:
    """Index a checkpoint file in one pass.

    Returns:
        The live jobs, the file's size, the size up to its last whole line,
        and how many whole lines were not valid records.
    """
    jobs: dict[str, _Job] = {}
    size = good = dropped = 0
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return jobs, 0, 0, 0
    with stream:
        for raw in stream:
            size += len(raw)
            if not raw.endswith(b"\n"):
                break  # torn: only ever the last line
            good = size
            parsed = _parse(raw)
            if parsed is None:
                dropped += 1
            elif isinstance(parsed, str):  # forgotten
                jobs.pop(parsed, None)
            else:
                job_id, piece = parsed
                job = jobs.setdefault(job_id, _Job())
                if isinstance(piece, TurnRecord):
                    job.turns[piece.index] = piece
                else:
                    job.segments[piece.index] = piece
                job.bytes += len(raw)
    return jobs, size, good, dropped


def _parse(raw: bytes) -> tuple[str, SegmentRecord | TurnRecord] | str | None:
    """A segment or turn line as (job id, record), a forgotten line as the job id, else None."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not isinstance(job_id := record.get("job"), str):
        return None
    if record.get("forgotten") is True:
        return job_id
    if "turn" in record:
        index, key, output = record["turn"], record.get("key"), record.get("output")
        if type(index) is not int or index < 0 or not isinstance(key, str):
            return None
        return (job_id, TurnRecord(index, key, output)) if isinstance(output, dict) else None
    if not record.keys() >= _SEGMENT_KEYS:
        return None
    index, start, end = record["index"], record["start_sample"], record["end_sample"]
    text, usage = record["text"], record.get("usage")
    if _problem(index, start, end, text, usage) is not None:
        return None
    return job_id, SegmentRecord(index, start, end, text, usage)
