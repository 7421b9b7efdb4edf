"""How one job ended: the :class:`Outcome` that becomes exactly one result line.

A line reads::

    {"id", "status", "kind", "model", "output", "usage", "cost_usd",
     "response_id", "attempts", "latency_ms", "latency", "error", "metadata"}

plus ``"line"`` for an invalid job line; ``"checks"`` and ``"passed"`` for a
job with an ``expect`` (:mod:`rtbatch.evals.checks`; absent from other lines); and
``"wer"`` for a transcribe job with a ``reference``: ``{"wer", "substitutions",
"deletions", "insertions", "hits", "reference_words"}`` of its transcript against the reference
(:mod:`rtbatch.evals.wer`), ``null`` when it has no transcript to score (it failed).
A score never changes a job's status, nor whether it is retried.

``model`` is the model that did the work
(the realtime model of a text or respond job, the transcription model of a
transcribe job) and ``cost_usd`` what its usage cost at the catalogue's prices
(:func:`rtbatch.cost.outcome_cost`); both are ``null`` where unknown. ``latency_ms``
runs from the job's start to its line; ``latency`` gives the stages of its last try
(:mod:`rtbatch.latency`), ``null`` for a job that did not answer.

A job with tools (:mod:`rtbatch.tool_rounds`) adds to its ``output``::

    "tool_calls": [{"name", "arguments", "call_id", "round", "output", "error"?}],
    "rounds": [{"round", "response_id", "status", "usage", "cost_usd", "text"?}]

``arguments`` parsed from JSON (the raw string, with an ``error``, when they are
not JSON), ``output`` what rtbatch answered (``null`` when it did not answer: the
round bound, or a response cut short); its ``text`` is the last response's, its
``usage`` and ``cost_usd`` the rounds' sums (:func:`rtbatch.cost.priced_rounds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from rtbatch.errors import InvalidJob
from rtbatch.jobs import JobProblem
from rtbatch.output.resume import INVALID_KIND


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
    latency: dict[str, int] | None = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    model: str | None = None
    cost_usd: float | None = None
    #: Each check's ``{"check", "passed", "detail"}``; None: the job has no ``expect``.
    checks: list[dict[str, Any]] | None = None
    #: Every check passed (False for a job whose checks did not run).
    passed: bool | None = None
    #: The job has a reference: its line carries ``wer`` (None: nothing was scored).
    has_reference: bool = False
    wer: dict[str, Any] | None = None

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
            "latency": self.latency,
            "error": self.error,
            "metadata": self.metadata,
        }
        if self.checks is not None:
            record["checks"] = self.checks
            record["passed"] = self.passed
        if self.kind == INVALID_KIND or (self.error or {}).get("type") == InvalidJob.kind:
            record["line"] = self.line
        if self.has_reference:
            record["wer"] = self.wer
        return orjson.dumps(record) + b"\n"


def recorded_calls(output: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """The function calls a line's ``output`` records: its own, or each of its turns'."""
    whole = output or {}
    for part in [whole, *(whole.get("turns") or ())]:
        yield from part.get("tool_calls") or ()


def invalid_outcome(problem: JobProblem) -> Outcome:
    """The failed result recorded for an invalid line under ``--skip-invalid``."""
    return Outcome(
        job_id=problem.job_id,
        status="failed",
        kind=INVALID_KIND,
        line=problem.line,
        error={"type": InvalidJob.kind, "code": InvalidJob.kind, "message": str(problem)},
    )
