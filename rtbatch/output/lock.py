"""The one lock on a result file: ``RESULTS.lock`` beside it, held with ``flock``.

A run holds it exclusively while it appends, so overlapping runs (cron) cannot
collide; ``rtbatch merge`` holds it shared while it reads, so it never merges a
file a run is still writing. ``flock`` is released by the kernel when the holder
dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Final

#: The lock of ``RESULTS`` is ``RESULTS`` + this.
LOCK_SUFFIX: Final = ".lock"


class LockBusy(Exception):
    """Raised when another process holds the result file's lock in a conflicting mode."""


class RunLock:
    """The lock beside ``results``: exclusive for a run, shared for a reader (a merge).

    Use as a context manager. The exclusive form creates the lock file when it is
    missing. The shared form only takes a lock file that exists: a merge must work
    on a read-only copy of the results and must not leave lock files behind, and a
    file no run ever locked is not being written by one; :attr:`held` says whether
    it took the lock.

    Raises:
        LockBusy: another process holds the lock (from ``__enter__``).
        OSError: the lock file cannot be created or opened (from ``__enter__``).
    """

    def __init__(self, results: Path, *, shared: bool = False) -> None:
        self.results = results
        self.path = results.with_name(results.name + LOCK_SUFFIX)
        self.shared = shared
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def __enter__(self) -> RunLock:
        if self.shared:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return self
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if self.shared:
                raise LockBusy(
                    f"{self.results}: a run is still writing it ({self.path} is held)"
                ) from None
            raise LockBusy(
                f"{self.path}: another rtbatch run is writing this result file"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
