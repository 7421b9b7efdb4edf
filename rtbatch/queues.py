"""Work waiting for a worker: a FIFO queue per session kind under one bound.

Workers keep their session's kind (a new kind is a new connection), so they take
from their own kind's queue first and from the other only when theirs is empty.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import trio

from rtbatch.jobs import Job
from rtbatch.output.checkpoint import contiguous
from rtbatch.output.transcript import SegmentRecord
from rtbatch.protocol import SessionKind


@dataclass(slots=True)
class Attempt:
    """A job on its way through the pool: the one owner of its tries' bookkeeping.

    ``attempts`` counts tries that ran; ``refusals`` counts tries the service
    refused before running them (rate or capacity limits). Only
    :meth:`rtbatch.pool.Run._conclude` changes them.
    """

    job: Job
    attempts: int = 0
    refusals: int = 0
    first_at: float | None = None
    #: A long file's segments transcribed so far, by index (kept across tries).
    segments: dict[int, SegmentRecord] = field(default_factory=dict)

    def done_segments(self) -> list[SegmentRecord]:
        """The contiguous run of finished segments from the file's start."""
        return contiguous(self.segments)


def session_kind(job: Job) -> SessionKind:
    """The kind of session a job runs on."""
    return "transcription" if job.kind == "transcribe" else "realtime"


class WorkQueues:
    """A FIFO queue per session kind under one bound, taken with a preference.

    :meth:`take` returns a job of the preferred kind while there is one, else a
    job of the other kind, else waits. New jobs wait for room (the bound);
    retries never do, since each comes from a job already counted as pending.
    """

    def __init__(self, bound: int) -> None:
        self._queues: dict[SessionKind, deque[Attempt]] = {
            "realtime": deque(),
            "transcription": deque(),
        }
        self._room = bound
        self._fresh: set[int] = set()
        self._takers = trio.lowlevel.ParkingLot()
        self._putters = trio.lowlevel.ParkingLot()
        self._closed = False

    async def put(self, attempt: Attempt) -> None:
        """Queue a new job, waiting for room; returns at once when closed."""
        while self._room <= 0 and not self._closed:
            await self._putters.park()
        await trio.lowlevel.checkpoint()
        self._room -= 1
        self._fresh.add(id(attempt))
        self._push(attempt)

    def put_retry(self, attempt: Attempt) -> None:
        """Queue a job again, at once."""
        self._push(attempt)

    def _push(self, attempt: Attempt) -> None:
        if self._closed:
            return
        self._queues[session_kind(attempt.job)].append(attempt)
        self._takers.unpark()

    async def take(self, prefer: SessionKind | None) -> Attempt | None:
        """The next job, preferring ``prefer``'s queue; None once closed."""
        while not self._closed:
            order: tuple[SessionKind, ...] = ("realtime", "transcription")
            if prefer == "transcription" or (
                prefer is None
                and len(self._queues["transcription"]) > len(self._queues["realtime"])
            ):
                order = ("transcription", "realtime")
            for kind in order:
                if self._queues[kind]:
                    attempt = self._queues[kind].popleft()
                    if id(attempt) in self._fresh:
                        self._fresh.discard(id(attempt))
                        self._room += 1
                        self._putters.unpark()
                    return attempt
            await self._takers.park()
        return None

    def close(self) -> None:
        """Wake every taker with None; later puts are dropped."""
        self._closed = True
        self._takers.unpark_all()
        self._putters.unpark_all()
