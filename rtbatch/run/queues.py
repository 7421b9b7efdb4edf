"""Work waiting for a worker: a FIFO queue per session kind under one bound.

Workers keep their session's kind (a new kind is a new connection), so they take
from their own kind's queue first and from the other only when theirs is empty.
"""

from __future__ import annotations

from collections import deque

import trio

from rtbatch.jobs import Job
from rtbatch.protocol import SessionKind
from rtbatch.run.ledger import Attempt


def session_kind(job: Job) -> SessionKind:
    """The kind of session a job runs on."""
    return "transcription" if job.kind == "transcribe" else "realtime"


class WorkQueues:
    """A queue per session kind (retries first) under one bound, taken with a preference.

    :meth:`take` returns a job of the preferred kind while there is one, else a
    job of the other kind, else waits. New jobs wait for room (the bound);
    retries never do, since each comes from a job already counted as pending.
    """

    def __init__(self, bound: int) -> None:
        # Each entry says whether it holds room under the bound (a new job) or not
        # (a retry), so room is given back exactly once per new job.
        self._queues: dict[SessionKind, deque[tuple[Attempt, bool]]] = {
            "realtime": deque(),
            "transcription": deque(),
        }
        self._room = bound
        self._takers = trio.lowlevel.ParkingLot()
        self._putters = trio.lowlevel.ParkingLot()
        self._closed = False

    async def put(self, attempt: Attempt) -> None:
        """Queue a new job, waiting for room; returns at once when closed."""
        while self._room <= 0 and not self._closed:
            await self._putters.park()
        await trio.lowlevel.checkpoint()
        self._room -= 1
        self._push(attempt, holds_room=True)

    def put_retry(self, attempt: Attempt) -> None:
        """Queue a job again, at once, ahead of the new ones.

        A retry has waited its backoff already, and the run ends with its slowest
        job: behind a full queue of new ones, every retry of a chain would wait
        for ``bound`` jobs to be taken first.
        """
        self._push(attempt, holds_room=False)

    def _push(self, attempt: Attempt, *, holds_room: bool) -> None:
        if self._closed:
            return
        queue = self._queues[session_kind(attempt.job)]
        if holds_room:
            queue.append((attempt, holds_room))
        else:
            queue.appendleft((attempt, holds_room))
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
                    attempt, holds_room = self._queues[kind].popleft()
                    if holds_room:
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
