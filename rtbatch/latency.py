"""Latency by stage: what a job's result line records, and the run's percentiles.

A result line's ``latency`` object gives, in whole milliseconds on the monotonic
clock, when each stage of the job's work was reached, counted from the moment its
request left (the ``response.create``; for a respond job, after its audio was
committed; for a conversation, its first turn asked in the try):

``created``
    the first ``response.created``;
``first_text``
    the first text delta of the answer (``response.output_text.delta``);
``first_audio``
    the first audio delta of the answer (``response.output_audio.delta``);
``done``
    the last ``response.done`` (a tool job's last round, a conversation's last turn);
``transcript``
    a transcribe job's only stage: from a commit to its transcript, the slowest
    of the job's segments.

A stage the job never reached is absent (a text-only answer has no
``first_audio``). A job that failed has no ``latency``.

The summary gives, for each model and stage, the count, p50, p90, p95, p99 and
max, by the nearest-rank rule: the p-th percentile is the smallest recorded value
that at least p % of the values do not exceed. Values are counted by the
millisecond, so the percentiles are exact and the memory grows with the number of
distinct values, not of jobs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import trio

from rtbatch.stages import STAGES

#: The percentiles the summary gives, besides the maximum.
PERCENTILES = (50, 90, 95, 99)


class Stages:
    """The stages of one job as they happen; reset for each try.

    ``begin()`` when the job's request leaves; ``reached(stage)`` as events
    arrive (only the first time counts, and nothing before ``begin()``).
    """

    __slots__ = ("_at", "_started")

    def __init__(self) -> None:
        self._started: float | None = None
        self._at: dict[str, float] = {}

    def reset(self) -> None:
        """Forget the previous try's stages."""
        self._started = None
        self._at = {}

    def begin(self) -> None:
        """The job's request left now (a later request of the same job changes nothing)."""
        if self._started is None:
            self._started = trio.current_time()

    def reached(self, stage: str) -> None:
        """A stage was reached now; only its first time counts."""
        if self._started is not None and stage not in self._at:
            self._at[stage] = trio.current_time() - self._started

    def finished(self, stage: str) -> None:
        """A stage that counts its last time (``done`` of a job of several responses)."""
        if self._started is not None:
            self._at[stage] = trio.current_time() - self._started

    def longest(self, stage: str, seconds: float) -> None:
        """A stage measured by the caller, of which the slowest counts (a segment's transcript)."""
        self._at[stage] = max(self._at.get(stage, 0.0), seconds)

    def as_ms(self) -> dict[str, int]:
        """The stages reached, in whole milliseconds, in stage order."""
        return {s: round(self._at[s] * 1000) for s in STAGES if s in self._at}


def percentile(counts: Mapping[int, int], p: float) -> int | None:
    """The nearest-rank p-th percentile of values given as value → how often."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")


def distribution(counts: Mapping[int, int]) -> dict[str, int | None]:
    """``count``, ``p50`` … ``p99`` and ``max`` of values given as value → how often."""
    figures: dict[str, int | None] = {"count": sum(counts.values())}
    for p in PERCENTILES:
        figures[f"p{p}"] = percentile(counts, p)
    figures["max"] = max(counts) if counts else None
    return figures


class LatencyTotals:
    """The stages of a run's lines, counted by model and stage."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, Counter[int]]] = {}

    def add(self, model: str, latency: Mapping[str, Any] | None) -> None:
        """Count one line's ``latency`` object (values that are not whole ms are skipped)."""
        if not latency:
            return
        by_stage = self._counts.setdefault(model, {})
        for stage in STAGES:
            value = latency.get(stage)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                by_stage.setdefault(stage, Counter())[value] += 1

    def counts(self, model: str, stage: str) -> Counter[int]:
        """The values of one model's stage, value → how often (empty when none)."""
        return self._counts.get(model, {}).get(stage, Counter())

    def to_dict(self) -> dict[str, dict[str, dict[str, int | None]]]:
        """``{model: {stage: {count, p50, p90, p95, p99, max}}}``, stages in order."""
        return {
            model: {stage: distribution(by_stage[stage]) for stage in STAGES if stage in by_stage}
            for model, by_stage in sorted(self._counts.items())
        }

    def render(self) -> list[str]:
        """One line per model for stderr: each stage's p50 / p95 / max."""
        lines = []
        for model, stages in self.to_dict().items():
            parts = ", ".join(
                f"{stage} {d['p50']}/{d['p95']}/{d['max']}" for stage, d in stages.items()
            )
            lines.append(f"latency ms p50/p95/max, {model}: {parts}")
        return lines
