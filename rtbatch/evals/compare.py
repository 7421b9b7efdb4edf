"""``rtbatch compare A B``: what changed between two result files, job by job and overall.

Both files are streamed, never held. Memory grows with A's jobs only, a few dozen
bytes each, as resume's does: A's ids in an :class:`~rtbatch.idindex.IdIndex`
(18-36 bytes), and per id its status, whether its checks passed, and a 64-bit
digest of its checks and of its function calls (names and arguments). The passes:

1. A: its figures (:class:`~rtbatch.evals.figures.ResultTotals`) and each id's print;
2. B: its figures; each id's print against A's: a difference is a *change*, kept
   with B's side; an id A lacks is *only in B*;
3. A again, only when there is something to name: A's side of each change, and
   the ids B lacked (*only in A*).

Within a file an id's first line counts; a later line of the same id is counted
as a duplicate and skipped (a result file rtbatch wrote has none). A digest that
collides hides a change with odds of one in 2⁶⁴ per id.
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rtbatch.evals.figures import (
    ResultTotals,
    checks_of,
    failing_checks,
    obj,
    passed_of,
    tool_calls,
)
from rtbatch.evals.records import Unreadable, records
from rtbatch.idindex import IdIndex
from rtbatch.summary import STATUSES

#: What can change about one id, in the order it is told.
ASPECTS = ("status", "checks", "tool_calls")
_OTHER_STATUS = len(STATUSES)
_PASSED_CODES = {None: 0, True: 1, False: 2}


def _digest(value: object) -> int:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _status_code(record: dict[str, Any]) -> int:
    status = record.get("status")
    return STATUSES.index(status) if status in STATUSES else _OTHER_STATUS


def _checks_print(record: dict[str, Any]) -> int:
    return _digest([[c.get("check"), c.get("passed")] for c in checks_of(record)])


def _ok(status: str | None, passed: bool | None) -> bool:
    """Completed, and no check failed."""
    return status == "completed" and passed is not False


def side(record: dict[str, Any]) -> dict[str, Any]:
    """One file's side of a change: what the id's line says of each aspect."""
    return {
        "status": record.get("status"),
        "error": obj(record, "error").get("type"),
        "passed": passed_of(record),
        "failing_checks": failing_checks(record),
        "tool_calls": tool_calls(record),
    }


@dataclass(slots=True)
class Change:
    """One id whose line differs between the files, in ``aspects``."""

    id: str
    aspects: tuple[str, ...]
    b: dict[str, Any]
    a: dict[str, Any] = field(default_factory=dict)

    @property
    def new_failure(self) -> bool:
        """It was fine in A (completed, checks passed) and is not in B."""
        a, b = self.a, self.b
        return _ok(a.get("status"), a.get("passed")) and not _ok(b["status"], b["passed"])

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON: its id, what changed, and both sides."""
        return {"id": self.id, "changed": list(self.aspects), "a": self.a, "b": self.b}


@dataclass(slots=True)
class FileSide:
    """One file as compared: its path, figures, and the lines that did not count."""

    path: str
    totals: ResultTotals = field(default_factory=ResultTotals)
    unreadable: Unreadable = field(default_factory=Unreadable)
    duplicates: int = 0


@dataclass(slots=True)
class Comparison:
    """What changed from A to B."""

    a: FileSide
    b: FileSide
    changes: list[Change] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)

    @property
    def new_failures(self) -> int:
        """Ids fine in A and not in B."""
        return sum(change.new_failure for change in self.changes)

    def changed(self, aspect: str) -> int:
        """How many ids changed in one aspect."""
        return sum(aspect in change.aspects for change in self.changes)


class _Prints:
    """A's per-id prints, by the ordinal the id index gives each id."""

    __slots__ = ("checks", "ids", "passed", "seen", "status", "tools")

    def __init__(self) -> None:
        self.ids = IdIndex()
        self.status = array("B")
        self.passed = array("B")
        self.checks = array("Q")
        self.tools = array("Q")
        self.seen = bytearray()  # B had the id

    def add(self, record: dict[str, Any]) -> None:
        self.status.append(_status_code(record))
        self.passed.append(_PASSED_CODES[passed_of(record)])
        self.checks.append(_checks_print(record))
        self.tools.append(_digest(tool_calls(record)))
        self.seen.append(0)

    def differences(self, ordinal: int, record: dict[str, Any]) -> tuple[str, ...]:
        found = []
        if self.status[ordinal] != _status_code(record):
            found.append("status")
        same_checks = self.checks[ordinal] == _checks_print(record)
        if self.passed[ordinal] != _PASSED_CODES[passed_of(record)] or not same_checks:
            found.append("checks")
        if self.tools[ordinal] != _digest(tool_calls(record)):
            found.append("tool_calls")
        return tuple(found)


def compare(path_a: str | Path, path_b: str | Path) -> Comparison:
    """Compare two result files, streaming each (A twice when a change needs naming).

    Raises:
        ResultFileError: a file cannot be read, or holds no result line.
    """
    found = Comparison(FileSide(str(path_a)), FileSide(str(path_b)))
    prints = _Prints()
    for _, key, record in records(found.a.path, found.a.unreadable):
        if prints.ids.setdefault(key, len(prints.status)) != len(prints.status):
            found.a.duplicates += 1
            continue
        prints.add(record)
        found.a.totals.add(record)
    changed = _read_b(found, prints)
    if changed or not all(prints.seen):
        _name_a(found, prints, changed)
    found.changes = list(changed.values())
    return found


def _read_b(found: Comparison, prints: _Prints) -> dict[int, Change]:
    """Pass 2: B's figures, its ids against A's prints; the changes, by A's ordinal."""
    count_a = len(prints.status)
    changed: dict[int, Change] = {}
    for _, key, record in records(found.b.path, found.b.unreadable):
        fresh = count_a + len(found.only_in_b)
        ordinal = prints.ids.setdefault(key, fresh)
        if ordinal == fresh:
            found.only_in_b.append(key)
        elif ordinal >= count_a or prints.seen[ordinal]:
            found.b.duplicates += 1
            continue
        else:
            prints.seen[ordinal] = 1
            aspects = prints.differences(ordinal, record)
            if aspects:
                changed[ordinal] = Change(key, aspects, side(record))
        found.b.totals.add(record)
    return changed


def _name_a(found: Comparison, prints: _Prints, changed: dict[int, Change]) -> None:
    """Pass 3: A's side of each change, and the ids only A has, in A's order."""
    ordinal = 0
    for _, key, record in records(found.a.path, Unreadable()):
        if prints.ids.setdefault(key, ordinal) != ordinal:
            continue  # a duplicate line: its id's first line was named already
        if ordinal in changed:
            changed[ordinal].a = side(record)
        if not prints.seen[ordinal]:
            found.only_in_a.append(key)
        ordinal += 1
