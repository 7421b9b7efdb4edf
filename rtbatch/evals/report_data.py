"""What ``rtbatch report`` shows, collected from one pass over a result file in flat memory.

Besides the file's figures (:class:`~rtbatch.evals.figures.ResultTotals`: counts and
value counts), the page lists jobs, and every list is bounded: the first
:data:`~rtbatch.defaults.REPORT_LISTED` failed jobs, jobs with failing checks and
saved answers, and the transcripts with the worst WER (a heap of that size); each
quotes at most :data:`~rtbatch.defaults.REPORT_TEXT_CHARS` of a text. What does
not fit is counted. A million-line file costs the memory of a thousand-line one.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from rtbatch.defaults import REPORT_LISTED, REPORT_TEXT_CHARS
from rtbatch.evals.figures import ResultTotals, checks_of, obj, passed_of
from rtbatch.evals.records import Unreadable, records

_T = TypeVar("_T")


def clip(text: object, limit: int = REPORT_TEXT_CHARS) -> str:
    """A text as the page quotes it: at most ``limit`` characters, cut with an ellipsis."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(slots=True)
class Listed(Generic[_T]):
    """The first items of a kind, and how many more there were."""

    items: list[_T] = field(default_factory=list)
    more: int = 0

    def add(self, item: _T) -> None:
        """Keep the item while there is room; count it otherwise."""
        if len(self.items) < REPORT_LISTED:
            self.items.append(item)
        else:
            self.more += 1

    @property
    def total(self) -> int:
        """Items seen."""
        return len(self.items) + self.more


@dataclass(frozen=True, slots=True)
class Problem:
    """A job that did not complete, or whose checks failed."""

    id: str
    kind: str
    status: str
    error: str
    message: str
    failing: tuple[tuple[str, str], ...] = ()  # (check, detail)


@dataclass(frozen=True, slots=True)
class Scored:
    """A transcript with its WER."""

    wer: float
    id: str
    transcript: str
    counts: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """A spoken answer saved to a file."""

    id: str
    audio_path: Path
    transcript: str


@dataclass(slots=True)
class ReportData:
    """Everything the page shows."""

    path: str
    totals: ResultTotals = field(default_factory=ResultTotals)
    unreadable: Unreadable = field(default_factory=Unreadable)
    failed: Listed[Problem] = field(default_factory=Listed)
    failing_checks: Listed[Problem] = field(default_factory=Listed)
    answers: Listed[Answer] = field(default_factory=Listed)
    #: The worst-scored transcripts, a min-heap by (wer, order) of REPORT_LISTED at most.
    _worst: list[tuple[float, int, Scored]] = field(default_factory=list)
    scored: int = 0

    def add(self, record: dict[str, Any]) -> None:
        """Take one record into the figures and the bounded lists."""
        self.totals.add(record)
        status = str(record.get("status"))
        if status != "completed":
            self.failed.add(_problem(record, status))
        if passed_of(record) is False:
            self.failing_checks.add(_problem(record, status))
        output = obj(record, "output")
        if isinstance(output.get("audio_path"), str):
            transcript = clip(output.get("transcript") or output.get("text"))
            self.answers.add(Answer(_id(record), Path(output["audio_path"]), transcript))
        wer = record.get("wer")
        if isinstance(wer, dict) and isinstance(wer.get("wer"), int | float):
            self.scored += 1
            scored = Scored(float(wer["wer"]), _id(record), clip(output.get("transcript")), wer)
            entry = (scored.wer, -self.scored, scored)  # ties: the earlier line stays
            if len(self._worst) < REPORT_LISTED:
                heapq.heappush(self._worst, entry)
            else:
                heapq.heappushpop(self._worst, entry)

    @property
    def worst(self) -> list[Scored]:
        """The worst-scored transcripts, worst first."""
        return [entry[2] for entry in sorted(self._worst, key=lambda e: (-e[0], -e[1]))]


def _id(record: dict[str, Any]) -> str:
    job_id = record.get("id")
    return job_id if isinstance(job_id, str) else f"line {record.get('line')}"


def _problem(record: dict[str, Any], status: str) -> Problem:
    error = obj(record, "error")
    failing = tuple(
        (str(c.get("check")), clip(c.get("detail") or "not run", 300))
        for c in checks_of(record)
        if c.get("passed") is not True
    )
    kind = "/".join(str(error.get(k)) for k in ("type", "code") if error.get(k))
    output = obj(record, "output")
    return Problem(
        id=_id(record),
        kind=str(record.get("kind")),
        status=status,
        error=kind or (str(output.get("reason")) if output.get("reason") else ""),
        message=clip(error.get("message")),
        failing=failing,
    )


def collect(path: str | Path) -> ReportData:
    """Read a result file once into what its report shows.

    Raises:
        ResultFileError: the file cannot be read, or holds no result line.
    """
    data = ReportData(str(path))
    for _, _, record in records(path, data.unreadable):
        data.add(record)
    return data
