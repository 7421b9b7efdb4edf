"""What a run used and cost: usage and cost totals, and the summary of a run.

The totals add up the result lines' own figures (their ``usage`` and
``cost_usd``, :mod:`rtbatch.cost`), so the summary's cost is the sum of the file's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rtbatch.cost import MODALITIES, NANOS_PER_USD, cost_parts, format_usd
from rtbatch.evals.totals import CheckTotals
from rtbatch.evals.wer import WerTotals
from rtbatch.latency import LatencyTotals
from rtbatch.models import PRICES_AS_OF, MinutePrice, lookup
from rtbatch.output.outcome import Outcome, recorded_calls
from rtbatch.progress import Snapshot

#: Every status a result line can have, in the order the summary lists them.
STATUSES = ("completed", "incomplete", "failed")
#: The name a line's cost is filed under when it does not say which model did the work.
UNRECORDED_MODEL = "(model not recorded)"


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
    #: Function calls the results record (``output.tool_calls``), by function name.
    tool_calls: Counter[str] = field(default_factory=Counter)
    latency: LatencyTotals = field(default_factory=LatencyTotals)
    #: The lines' checks (``expect``): pass rate and failures by check name.
    checks: CheckTotals = field(default_factory=CheckTotals)
    #: The corpus word error rate of the transcribe jobs with a reference.
    wer: WerTotals = field(default_factory=WerTotals)

    def add(self, outcome: Outcome) -> None:
        """Count one written result: its status, usage, cost, latency, calls, checks, WER."""
        self.counts[outcome.status] += 1
        self.usage.add(outcome.usage)
        self.cost.add(outcome.model, outcome.usage, outcome.cost_usd)
        self.latency.add(outcome.model or UNRECORDED_MODEL, outcome.latency)
        for call in recorded_calls(outcome.output):
            self.tool_calls[str(call.get("name"))] += 1
        self.checks.add(outcome.checks, outcome.passed)
        if outcome.has_reference:
            self.wer.add(outcome.wer)

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
            "tool_calls": dict(sorted(self.tool_calls.items())),
            "latency_ms": self.latency.to_dict(),
            "checks": self.checks.to_dict(),
            "wer": self.wer.to_dict(),
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
        if self.tool_calls:
            calls = ", ".join(f"{name} {n}" for name, n in sorted(self.tool_calls.items()))
            lines.append(f"tool calls: {sum(self.tool_calls.values())} ({calls})")
        lines.extend(self.latency.render())
        if (checks := self.checks.render()) is not None:
            lines.append(checks)
        if (wer := self.wer.render()) is not None:
            lines.append(wer)
        lines.append(f"time: {self.wall_s:.2f} s, {rate} jobs/s")
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return "\n".join(lines)
