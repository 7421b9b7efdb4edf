"""What a run used and cost: usage and cost totals, the summary, progress snapshots, a budget.

Cost is computed once per job, when its line is written (:func:`outcome_cost`),
from the usage the service reported and the catalogue's prices
(:func:`rtbatch.models.cost`); the summary adds up the lines' figures, so its
total is the sum of the file's ``cost_usd``. Amounts are kept as whole
nano-dollars (:data:`COST_DECIMALS` places): a line's ``cost_usd`` is exact at
that precision, and sums of a million of them stay exact too, where adding
floats would drift.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rtbatch import errors
from rtbatch.exitcodes import (
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_FATAL,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TRY_LATER,
)
from rtbatch.models import PRICES_AS_OF, CostBreakdown, MinutePrice, cost, lookup
from rtbatch.progress import Snapshot

if TYPE_CHECKING:
    from rtbatch.results import Outcome

#: Every status a result line can have, in the order the summary lists them.
STATUSES = ("completed", "incomplete", "failed")
#: Decimal places of USD amounts: a billionth of a dollar, far below one token's price
#: (the cheapest, $0.06 per million, is 60 of them), so rounding never shows in a total.
COST_DECIMALS = 9
NANOS_PER_USD: int = 10**COST_DECIMALS
#: The cost buckets of the summary, in its order; ``duration`` is per-minute billing.
MODALITIES = ("text", "audio", "image", "duration")
#: The name a line's cost is filed under when it does not say which model did the work.
UNRECORDED_MODEL = "(model not recorded)"


def cost_parts(
    model_id: str | None, usage: dict[str, Any] | None, audio_s: float | None = None
) -> tuple[int, int, int, int] | None:
    """What one job cost, in nano-dollars per modality (text, audio, image, duration).

    Args:
        model_id: the model that did the work.
        usage: the job's ``usage`` as the service reported it.
        audio_s: seconds of audio sent, for a duration-billed model whose usage
            does not say.

    Returns:
        The four amounts, or None when the catalogue has no prices for the model
        or the usage cannot be priced.
    """
    row = lookup(model_id) if model_id else None
    breakdown = cost(row, usage, audio_s=audio_s) if row is not None else None
    return None if breakdown is None else _nanos(breakdown)


def _nanos(breakdown: CostBreakdown) -> tuple[int, int, int, int]:
    parts = (breakdown.text, breakdown.audio, breakdown.image, breakdown.by_duration)
    t, a, i, d = (round(p * NANOS_PER_USD) for p in parts)
    return t, a, i, d


def outcome_cost(
    model_id: str | None, usage: dict[str, Any] | None, audio_s: float | None = None
) -> float | None:
    """A result line's ``cost_usd``: the job's usage at the catalogue's prices.

    Args:
        model_id: the model that did the work (the run's realtime model for text
            and respond jobs, the transcription model for transcribe jobs).
        usage: the job's ``usage`` as the service reported it.
        audio_s: seconds of audio sent, for a duration-billed model whose usage
            does not say.

    Returns:
        USD rounded to :data:`COST_DECIMALS` places, or None when the model has no
        prices in the catalogue or there is no usage to price.
    """
    parts = cost_parts(model_id, usage, audio_s)
    return None if parts is None else sum(parts) / NANOS_PER_USD


def format_usd(usd: float) -> str:
    """An amount for people: cents for large sums, more places for small ones."""
    if usd == 0:
        return "$0"
    if usd >= 100:
        return f"${usd:,.2f}"
    if usd >= 0.01:
        return f"${usd:.4f}"
    return f"${usd:.6f}"


@dataclass(slots=True)
class UsageTotals:
    """Token usage summed over a run, as the server reported it.

    ``input_tokens`` already includes cached tokens; ``cached_tokens`` says how
    many of them were cached, and is never added to the input a second time.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    transcription_seconds: float = 0.0

    def add(self, usage: dict[str, Any] | None) -> None:
        """Add one result's usage (response or transcription form)."""
        if not usage:
            return
        if usage.get("type") == "duration":
            self.transcription_seconds += float(usage.get("seconds") or 0)
            return
        self.input_tokens += int(usage.get("input_tokens") or 0)
        self.output_tokens += int(usage.get("output_tokens") or 0)
        inp = usage.get("input_token_details") or {}
        out = usage.get("output_token_details") or {}
        self.input_text_tokens += int(inp.get("text_tokens") or 0)
        self.input_audio_tokens += int(inp.get("audio_tokens") or 0)
        self.cached_tokens += int(inp.get("cached_tokens") or 0)
        self.output_text_tokens += int(out.get("text_tokens") or 0)
        self.output_audio_tokens += int(out.get("audio_tokens") or 0)

    @property
    def total_tokens(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class CostTotals:
    """The lines' ``cost_usd`` summed, by model and by modality, in nano-dollars.

    A job whose usage cannot be priced (its model has no prices in the catalogue)
    is counted in ``unknown_jobs`` and its model named in ``unpriced_models``.
    """

    nanos: int = 0
    by_model: dict[str, list[int]] = field(default_factory=dict)  # model -> [jobs, nanos]
    by_modality: list[int] = field(default_factory=lambda: [0] * len(MODALITIES))
    unknown_jobs: int = 0
    unpriced_models: set[str] = field(default_factory=set)

    def add(self, model: str | None, usage: dict[str, Any] | None, cost_usd: float | None) -> None:
        """Add one result line's cost.

        Args:
            model: the line's ``model``.
            usage: the line's ``usage``, to split the cost by modality.
            cost_usd: the line's ``cost_usd``.
        """
        name = model or UNRECORDED_MODEL
        if cost_usd is None:
            if usage:  # work was done, but we cannot say what it cost
                self.unknown_jobs += 1
                self.unpriced_models.add(name)
            return
        nanos = round(cost_usd * NANOS_PER_USD)
        self.nanos += nanos
        entry = self.by_model.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += nanos
        for i, part in enumerate(self._split(model, usage, nanos)):
            self.by_modality[i] += part

    @staticmethod
    def _split(model: str | None, usage: dict[str, Any] | None, nanos: int) -> tuple[int, ...]:
        row = lookup(model) if model else None
        if row is not None and isinstance(row.prices, MinutePrice):
            return (0, 0, 0, nanos)  # priced from the audio sent, maybe not from usage
        parts = cost_parts(model, usage) or (0, 0, 0, 0)
        # A line priced elsewhere than by outcome_cost may differ by rounding:
        # text takes the residue, so the modalities always add up to the total.
        return (parts[0] + nanos - sum(parts), *parts[1:])

    @property
    def total_usd(self) -> float:
        """Everything priced, in USD."""
        return self.nanos / NANOS_PER_USD

    def to_dict(self) -> dict[str, Any]:
        """The ``cost`` object of the ``--summary`` JSON."""
        return {
            "total_usd": self.total_usd,
            "prices_as_of": PRICES_AS_OF,
            "by_model": {
                name: {"jobs": jobs, "usd": nanos / NANOS_PER_USD}
                for name, (jobs, nanos) in sorted(self.by_model.items())
            },
            "by_modality": {
                name: nanos / NANOS_PER_USD
                for name, nanos in zip(MODALITIES, self.by_modality, strict=True)
            },
            "unknown_cost_jobs": self.unknown_jobs,
            "unpriced_models": sorted(self.unpriced_models),
        }

    def render(self) -> str:
        """One line for stderr: the total, each model, each modality, the unknown."""
        models = ", ".join(
            f"{name} {format_usd(nanos / NANOS_PER_USD)} ({jobs} job{'s' * (jobs != 1)})"
            for name, (jobs, nanos) in sorted(self.by_model.items())
        )
        text, audio, image, duration = (n / NANOS_PER_USD for n in self.by_modality)
        parts = [f"text {format_usd(text)}", f"audio {format_usd(audio)}"]
        if image:
            parts.append(f"image {format_usd(image)}")
        if duration:
            parts.append(f"billed by duration {format_usd(duration)}")
        line = f"cost: {format_usd(self.total_usd)} at the prices of {PRICES_AS_OF}"
        if models:
            line += f" ({models}; {', '.join(parts)})"
        if self.unknown_jobs:
            line += (
                f"; {self.unknown_jobs} job(s) of unknown cost (no prices for "
                f"{', '.join(sorted(self.unpriced_models))})"
            )
        return line


@dataclass(slots=True)
class Summary:
    """The run's figures, for stderr and ``--summary``."""

    counts: Counter[str] = field(default_factory=Counter)
    usage: UsageTotals = field(default_factory=UsageTotals)
    cost: CostTotals = field(default_factory=CostTotals)
    skipped: int = 0
    not_started: int = 0
    wall_s: float = 0.0
    stopped: str | None = None

    def add(self, outcome: Outcome) -> None:
        """Count one written result: its status, usage and cost."""
        self.counts[outcome.status] += 1
        self.usage.add(outcome.usage)
        self.cost.add(outcome.model, outcome.usage, outcome.cost_usd)

    @property
    def finished(self) -> int:
        """Results written by this run."""
        return sum(self.counts.values())

    def snapshot(self, *, in_flight: int, total: int | None, elapsed_s: float) -> Snapshot:
        """The progress figures now.

        Args:
            in_flight: jobs started and not yet written.
            total: items in the job file, when known (already settled ones included).
            elapsed_s: seconds since the run started.
        """
        return Snapshot(
            done=self.finished,
            failed=self.counts.get("failed", 0),
            in_flight=in_flight,
            todo=None if total is None else max(0, total - self.skipped),
            tokens=self.usage.total_tokens,
            cost_usd=self.cost.total_usd,
            elapsed_s=elapsed_s,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written by ``--summary``."""
        usage = {name: getattr(self.usage, name) for name in self.usage.__slots__}
        usage["total_tokens"] = self.usage.total_tokens
        return {
            "counts": {s: self.counts.get(s, 0) for s in STATUSES},
            "skipped": self.skipped,
            "not_started": self.not_started,
            "usage": usage,
            "cost": self.cost.to_dict(),
            "wall_s": round(self.wall_s, 3),
            "jobs_per_s": round(self.finished / self.wall_s, 2) if self.wall_s > 0 else None,
            "stopped": self.stopped,
        }

    def render(self) -> str:
        """A few human lines for stderr."""
        c, u = self.counts, self.usage
        rate = round(self.finished / self.wall_s, 2) if self.wall_s > 0 else 0
        lines = [
            f"jobs: {c['completed']} completed, {c['incomplete']} incomplete, "
            f"{c['failed']} failed, {self.skipped} skipped (already done), "
            f"{self.not_started} not started",
            f"tokens: {u.input_tokens} in (text {u.input_text_tokens}, audio "
            f"{u.input_audio_tokens}, of which cached {u.cached_tokens}), "
            f"{u.output_tokens} out (text {u.output_text_tokens}, audio {u.output_audio_tokens})",
        ]
        if u.transcription_seconds:
            lines.append(f"transcribed audio billed by duration: {u.transcription_seconds:.1f} s")
        lines.append(self.cost.render())
        lines.append(f"time: {self.wall_s:.2f} s, {rate} jobs/s")
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return "\n".join(lines)


class Budget:
    """A spend limit (``--max-cost``): may one more job start without passing it?

    The spend counted against the limit is what finished jobs cost plus the
    estimates of the jobs in flight. A job is admitted when that, plus its own
    estimate, stays within the limit. The first refusal is final: from then on
    no job is admitted, so a run stops starting jobs at one point and a rerun
    (with a larger limit) continues from there. Amounts are kept in nano-dollars,
    so the comparisons are exact.
    """

    __slots__ = ("_in_flight", "_limit", "_spent", "_stopped")

    def __init__(self, limit_usd: float) -> None:
        """Start with nothing spent.

        Args:
            limit_usd: the most the run may spend, in USD.

        Raises:
            ValueError: the limit is negative or not a finite number.
        """
        self._limit = _to_nanos(limit_usd, "max_cost")
        self._spent = 0
        self._in_flight = 0
        self._stopped = False

    @property
    def spent_usd(self) -> float:
        """What finished jobs cost."""
        return self._spent / NANOS_PER_USD

    @property
    def in_flight_usd(self) -> float:
        """The estimates of the jobs started and not yet finished."""
        return self._in_flight / NANOS_PER_USD

    @property
    def stopped(self) -> bool:
        """Whether a job has been refused (and every later one will be)."""
        return self._stopped

    def admit(self, estimate_usd: float) -> bool:
        """Whether a job estimated at ``estimate_usd`` may start.

        Raises:
            ValueError: the estimate is negative or not finite.
        """
        estimate = _to_nanos(estimate_usd, "estimate_usd")
        if not self._stopped and self._spent + self._in_flight + estimate > self._limit:
            self._stopped = True
        return not self._stopped

    def start(self, estimate_usd: float) -> None:
        """A job estimated at ``estimate_usd`` has started."""
        self._in_flight += _to_nanos(estimate_usd, "estimate_usd")

    def finish(self, estimate_usd: float, actual_usd: float | None) -> None:
        """A started job has ended.

        Args:
            estimate_usd: the estimate it was started with.
            actual_usd: what it cost; None when unknown, and then the estimate
                counts as spent.

        Raises:
            ValueError: more is finished than was started, or an amount is
                negative or not finite.
        """
        estimate = _to_nanos(estimate_usd, "estimate_usd")
        if estimate > self._in_flight:
            raise ValueError("finish: no job with that estimate is in flight")
        self._in_flight -= estimate
        self._spent += estimate if actual_usd is None else _to_nanos(actual_usd, "actual_usd")


def _to_nanos(usd: float, name: str) -> int:
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"{name}: must be a non-negative amount in USD, got {usd!r}")
    return round(usd * NANOS_PER_USD)


@dataclass(slots=True)
class RunReport:
    """How the run ended."""

    summary: Summary
    fatal: errors.RtbatchError | None = None
    try_later: errors.RtbatchError | None = None
    resets_in_s: float | None = None
    interrupted: bool = False
    deadline_reached: bool = False
    budget_reached: bool = False

    @property
    def exit_code(self) -> int:
        """The process exit code a scheduler acts on."""
        if isinstance(self.fatal, errors.InternalError):
            return EXIT_INTERNAL
        if self.fatal is not None:
            return EXIT_FATAL
        if self.interrupted or self.deadline_reached:
            return EXIT_INTERRUPTED
        if self.try_later is not None:
            return EXIT_TRY_LATER
        if self.budget_reached:
            return EXIT_BUDGET
        return EXIT_FAILED if self.summary.counts.get("failed") else EXIT_OK
