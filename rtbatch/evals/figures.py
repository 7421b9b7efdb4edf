"""The figures of one result file, added up line by line: what ``compare`` and ``report`` show.

Every figure is a count or a sum, so memory does not grow with the file: statuses,
checks passed (the ``passed`` of lines that have one; a line without it has no
checks), usage and cost (:class:`~rtbatch.summary.CostTotals`, the run summary's
own), latency by model and stage and over all models (:mod:`rtbatch.latency`'s
value counts), the corpus WER (:class:`~rtbatch.evals.wer.WerTotals`) and function
calls by name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rtbatch.cost import NANOS_PER_USD
from rtbatch.evals.wer import WerTotals
from rtbatch.latency import LatencyTotals, distribution
from rtbatch.stages import STAGES
from rtbatch.summary import STATUSES, UNRECORDED_MODEL, CostTotals, UsageTotals

#: The model name the latency of every model together is counted under.
ALL_MODELS = "(all models)"


def obj(record: dict[str, Any], name: str) -> dict[str, Any]:
    """A line's object field (``output``, ``error``…); {} when absent or not an object."""
    value = record.get(name)
    return value if isinstance(value, dict) else {}


def tool_calls(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A line's function calls as ``{name, arguments}``, in the order they were made."""
    calls = obj(record, "output").get("tool_calls")
    if not isinstance(calls, list):
        return []
    return [
        {"name": call.get("name"), "arguments": call.get("arguments")}
        for call in calls
        if isinstance(call, dict)
    ]


def checks_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A line's checks (``{check, passed, detail}``); [] without.

    A check's ``passed`` is true, false, or null for a check that did not run (the
    job did not answer), as :mod:`rtbatch.evals.checks` writes them.
    """
    checks = record.get("checks")
    if not isinstance(checks, list):
        return []
    return [c for c in checks if isinstance(c, dict)]


def failing_checks(record: dict[str, Any]) -> list[str]:
    """The names of a line's checks that did not pass: failed, or ``(not run)``."""
    return [
        str(c.get("check")) + ("" if c.get("passed") is False else " (not run)")
        for c in checks_of(record)
        if c.get("passed") is not True
    ]


def passed_of(record: dict[str, Any]) -> bool | None:
    """The line's ``passed``: None for a line without checks."""
    passed = record.get("passed")
    return passed if isinstance(passed, bool) else None


@dataclass(slots=True)
class ResultTotals:
    """One result file's figures, from its records in any order."""

    lines: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    #: Lines with checks, and those whose checks all passed.
    checked: int = 0
    passed: int = 0
    #: Failed checks by check name.
    failed_checks: Counter[str] = field(default_factory=Counter)
    usage: UsageTotals = field(default_factory=UsageTotals)
    cost: CostTotals = field(default_factory=CostTotals)
    #: Lines whose cost is known (the mean cost per job divides by them).
    priced: int = 0
    latency: LatencyTotals = field(default_factory=LatencyTotals)
    latency_all: LatencyTotals = field(default_factory=LatencyTotals)
    wer: WerTotals = field(default_factory=WerTotals)
    tool_calls: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        """Count one record (a decoded result line)."""
        self.lines += 1
        self.counts[str(record.get("status"))] += 1
        passed = passed_of(record)
        if passed is not None:
            self.checked += 1
            self.passed += passed
            self.failed_checks.update(
                str(c.get("check")) for c in checks_of(record) if c.get("passed") is False
            )
        model = record.get("model") if isinstance(record.get("model"), str) else None
        usage = obj(record, "usage") or None
        cost = record.get("cost_usd")
        cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
        self.usage.add(usage)
        self.cost.add(model, usage, cost)
        self.priced += cost is not None
        latency = obj(record, "latency")
        self.latency.add(model or UNRECORDED_MODEL, latency)
        self.latency_all.add(ALL_MODELS, latency)
        if "wer" in record:
            self.wer.add(record["wer"])
        for call in tool_calls(record):
            self.tool_calls[str(call["name"])] += 1

    @property
    def pass_rate(self) -> float | None:
        """Lines whose checks passed over lines with checks; None without any."""
        return self.passed / self.checked if self.checked else None

    @property
    def completed_rate(self) -> float | None:
        """Completed lines over all lines; None for no line."""
        return self.counts["completed"] / self.lines if self.lines else None

    @property
    def cost_per_job_usd(self) -> float | None:
        """The mean cost of a priced line, in USD; None when no line has a cost."""
        return self.cost.nanos / self.priced / NANOS_PER_USD if self.priced else None

    def stage(self, stage: str) -> dict[str, int | None]:
        """One stage's count, percentiles and max over every model."""
        return distribution(self.latency_all.counts(ALL_MODELS, stage))

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON: counts, checks, cost, latency by stage (and by model), WER."""
        stages = {s: self.stage(s) for s in STAGES if self.latency_all.counts(ALL_MODELS, s)}
        return {
            "lines": self.lines,
            "counts": {s: self.counts.get(s, 0) for s in STATUSES},
            "completed_rate": self.completed_rate,
            "checks": {
                "jobs": self.checked,
                "passed": self.passed,
                "pass_rate": self.pass_rate,
                "failed_by_check": dict(sorted(self.failed_checks.items())),
            },
            "cost": {**self.cost.to_dict(), "per_job_usd": self.cost_per_job_usd},
            "latency_ms": stages,
            "latency_ms_by_model": self.latency.to_dict(),
            "wer": self.wer.to_dict(),
            "tool_calls": dict(sorted(self.tool_calls.items())),
        }
