"""The result file's writer: one JSON line per job, appended and flushed whole.

The result file is the source of truth. Lines are appended whole and flushed
one at a time, so a run killed at any instant leaves at most one torn last line;
the next run repairs it (:mod:`rtbatch.output.resume`). The line itself is
:class:`rtbatch.output.outcome.Outcome`; the lock that keeps a second run away
is :mod:`rtbatch.output.lock`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from rtbatch.output.outcome import Outcome


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
