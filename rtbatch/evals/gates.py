"""``rtbatch compare``'s regression gates: the thresholds B may not pass, and their verdicts.

Each gate is off unless given. Rates are compared in percentage points (a pass rate
of 95 % falling to 92 % is a drop of 3 points); latency and cost in per cent of A's
figure (a p95 of 400 ms rising to 460 ms is +15 %). A gate whose figure one of the
files lacks (no checks, no latency, no reference) cannot be judged: it says so and
does not fail, since the gates on completion and new failures already catch a B
that answered nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtbatch.defaults import COMPARE_LATENCY_FIGURE
from rtbatch.evals.figures import ResultTotals
from rtbatch.latency import PERCENTILES
from rtbatch.stages import STAGES

#: The figures of a stage a latency gate may hold.
FIGURES = (*(f"p{p}" for p in PERCENTILES), "max")


@dataclass(frozen=True, slots=True)
class LatencyGate:
    """``STAGE[@FIGURE]=PCT``: B's figure of the stage at most PCT % above A's."""

    stage: str
    figure: str
    pct: float


def latency_gate(text: str) -> LatencyGate:
    """Parse ``--max-latency-increase`` (``done=20``, ``first_audio@p99=50``).

    Raises:
        ValueError: the text names no known stage or figure, or no number.
    """
    where = f"--max-latency-increase {text!r}"
    head, sep, number = text.partition("=")
    stage, _, figure = head.partition("@")
    figure = figure or COMPARE_LATENCY_FIGURE
    if not sep or stage not in STAGES:
        raise ValueError(f"{where}: expected STAGE[@FIGURE]=PCT, STAGE one of {', '.join(STAGES)}")
    if figure not in FIGURES:
        raise ValueError(f"{where}: the figure is one of {', '.join(FIGURES)}")
    try:
        pct = float(number.removesuffix("%"))
    except ValueError:
        raise ValueError(f"{where}: PCT is a number of per cent, such as 20") from None
    if not pct >= 0:
        raise ValueError(f"{where}: PCT must be 0 or more")
    return LatencyGate(stage, figure, pct)


@dataclass(frozen=True, slots=True)
class Gates:
    """The thresholds given on the command line; None (or empty) is no gate."""

    pass_rate_drop: float | None = None
    completed_drop: float | None = None
    new_failures: int | None = None
    latency: tuple[LatencyGate, ...] = ()
    cost_increase: float | None = None
    wer_increase: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One gate judged: what it holds, the value B reached, whether B passed it."""

    gate: str
    limit: float
    value: float | None
    unit: str
    failed: bool
    note: str = ""

    def render(self) -> str:
        """One line: ``pass rate drop: 5.0 points > 2 points: FAIL``."""
        if self.value is None:
            return f"{self.gate}: not judged ({self.note})"
        mark = "FAIL" if self.failed else "ok"
        sign = ">" if self.failed else "<="
        value = f"{self.value:g}" if self.unit == "ids" else f"{self.value:+.2f}"
        return f"{self.gate}: {value} {self.unit} {sign} {self.limit:g} {self.unit}: {mark}"

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON."""
        return {
            "gate": self.gate,
            "limit": self.limit,
            "value": self.value,
            "unit": self.unit,
            "failed": self.failed,
            "note": self.note if self.value is None else None,
        }


def _points(rate_a: float | None, rate_b: float | None) -> float | None:
    """How far B's rate fell below A's, in percentage points (negative: it rose)."""
    if rate_a is None or rate_b is None:
        return None
    return (rate_a - rate_b) * 100


def _increase(a: float | None, b: float | None) -> float | None:
    """B's rise over A, in per cent of A (a rise from 0 counts as infinite)."""
    if a is None or b is None:
        return None
    if a == 0:
        return 0.0 if b == 0 else float("inf")
    return (b - a) / a * 100


def _verdict(gate: str, limit: float, value: float | None, unit: str, note: str) -> Verdict:
    return Verdict(gate, limit, value, unit, value is not None and value > limit, note)


def judge(gates: Gates, a: ResultTotals, b: ResultTotals, new_failures: int) -> list[Verdict]:
    """Every gate given, judged on the two files' figures.

    Args:
        gates: the thresholds.
        a, b: the two files' figures.
        new_failures: ids in both files that completed (and passed their checks) in
            A and did not in B.
    """
    found: list[Verdict] = []
    if gates.pass_rate_drop is not None:
        value = _points(a.pass_rate, b.pass_rate)
        note = "a file has no line with checks"
        found.append(_verdict("pass rate drop", gates.pass_rate_drop, value, "points", note))
    if gates.completed_drop is not None:
        value = _points(a.completed_rate, b.completed_rate)
        found.append(_verdict("completed drop", gates.completed_drop, value, "points", ""))
    if gates.new_failures is not None:
        found.append(_verdict("new failures", gates.new_failures, float(new_failures), "ids", ""))
    for gate in gates.latency:
        value = _increase(a.stage(gate.stage)[gate.figure], b.stage(gate.stage)[gate.figure])
        name = f"{gate.stage} {gate.figure} increase"
        found.append(_verdict(name, gate.pct, value, "%", f"a file has no {gate.stage} stage"))
    if gates.cost_increase is not None:
        value = _increase(a.cost_per_job_usd, b.cost_per_job_usd)
        note = "a file has no priced line"
        found.append(_verdict("cost per job increase", gates.cost_increase, value, "%", note))
    if gates.wer_increase is not None:
        wer_a, wer_b = a.wer.wer, b.wer.wer
        value = None if wer_a is None or wer_b is None else (wer_b - wer_a) * 100
        note = "a file has no scored transcript"
        found.append(_verdict("corpus WER increase", gates.wer_increase, value, "points", note))
    return found
