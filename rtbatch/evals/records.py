"""A result file read for evaluation: its lines, streamed, decoded, and the ones that are not.

``compare`` and ``report`` read result files the way resume does
(:func:`rtbatch.output.resume.result_lines`): line by line, one line's memory at a
time, an over-long line skipped in blocks. A line is a *record* when it is a JSON
object with a resume key (:func:`~rtbatch.output.resume.record_key`) and a string
``status``; anything else (a torn last line, a line that is not JSON, a stray
object) is counted as unreadable, and the first one's line number is kept so
that the reader can be told where to look. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbatch.output.resume import decode_result, record_key, result_lines


class ResultFileError(Exception):
    """Raised when a result file cannot be read, or holds no result line at all."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot read result file {path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(slots=True)
class Unreadable:
    """The lines of a result file that were not records: how many, and the first."""

    count: int = 0
    first_line: int | None = None

    def add(self, line: int) -> None:
        """One more unreadable line."""
        self.count += 1
        if self.first_line is None:
            self.first_line = line

    def warning(self) -> str | None:
        """What a reader is told (after the file's name), or None when every line was read."""
        if not self.count:
            return None
        return (
            f"{self.count} unreadable line(s) skipped (torn, not JSON, or not a result), "
            f"the first on line {self.first_line}"
        )


def records(path: str | Path, unreadable: Unreadable) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Stream a result file's records: (line number, resume key, the decoded line).

    Args:
        path: the result file.
        unreadable: counts the lines that are not records, as they pass.

    Raises:
        ResultFileError: the file cannot be opened or read, or (at its end) it
            has lines but not one record: it is not a result file.
    """
    found = 0
    try:
        with open(path, "rb") as stream:
            for number, raw in enumerate(result_lines(stream), start=1):
                if raw is not None and not raw.strip():
                    continue
                record = decode_result(raw)
                key = record_key(record) if record is not None else None
                if record is None or key is None or not isinstance(record.get("status"), str):
                    unreadable.add(number)
                    continue
                found += 1
                yield number, key, record
    except OSError as exc:
        raise ResultFileError(path, exc.strerror or str(exc)) from exc
    if not found and unreadable.count:
        first = unreadable.first_line
        raise ResultFileError(path, f"not one of its lines is a result (line {first} is not)")
