"""What a job file will cost before anything is sent: the core of ``rtbatch estimate``.

The file is streamed once; each job is priced by :class:`~rtbatch.job_estimate.Estimator`
(its rules, assumptions and stated errors are :mod:`rtbatch.job_estimate`'s) and the
figures are added up per model, in whole nano-dollars.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rtbatch.cost import NANOS_PER_USD, format_usd
from rtbatch.defaults import MAX_TOOL_ROUNDS
from rtbatch.errors import BadAudio
from rtbatch.job_estimate import (
    DEFAULT_ASSUMPTIONS,
    Assumptions,
    CostRange,
    Estimator,
    JobEstimate,
    Probe,
    Tokens,
    audio_duration_s,
    message_tokens,
    text_tokens,
)
from rtbatch.jobs import Job, JobProblem
from rtbatch.models import PRICES_AS_OF

# The pricing of one job is named here too, where callers look for it.
__all__ = [
    "DEFAULT_ASSUMPTIONS",
    "MAX_NOTES",
    "Assumptions",
    "CostRange",
    "Estimate",
    "Estimator",
    "JobEstimate",
    "ModelEstimate",
    "Tokens",
    "estimate",
    "message_tokens",
    "text_tokens",
]

#: Probe failures named in an estimate; the rest are only counted.
MAX_NOTES = 20


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    """The jobs one model will do, added up."""

    model: str
    jobs: int
    tokens: Tokens
    audio_s: float
    usd: CostRange | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "model": self.model,
            "jobs": self.jobs,
            "tokens": {
                "input_text": self.tokens.text_in,
                "input_audio": self.tokens.audio_in,
                "output_text": self.tokens.text_out,
                "output_audio": self.tokens.audio_out,
            },
            "audio_s": round(self.audio_s, 3),
            **(self.usd.to_dict() if self.usd else {"expected_usd": None}),
        }


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a job file is expected to cost.

    Attributes:
        jobs: valid jobs read.
        invalid: invalid lines (left out).
        unprobed: jobs whose audio could not be probed (left out; see ``notes``).
        unpriced: jobs whose model has no prices in the catalogue (left out of ``usd``).
        usd: the priced jobs' cost.
        by_model: the same per model, in order of first appearance.
        assumptions: what the figures assume.
        notes: the first :data:`MAX_NOTES` probe failures.
    """

    jobs: int
    invalid: int
    unprobed: int
    unpriced: int
    usd: CostRange
    by_model: tuple[ModelEstimate, ...]
    assumptions: Assumptions
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``rtbatch estimate --json``."""
        return {
            "jobs": self.jobs,
            "invalid": self.invalid,
            "unprobed": self.unprobed,
            "unpriced": self.unpriced,
            **self.usd.to_dict(),
            "prices_as_of": PRICES_AS_OF,
            "by_model": [m.to_dict() for m in self.by_model],
            "method": list(self.assumptions.method()),
            "notes": list(self.notes),
        }

    def render(self) -> str:
        """Human lines: the total and its range, each model, the method."""
        u = self.usd
        lines = [
            f"estimate: {format_usd(u.expected)} for {self.jobs} job(s) at the prices of "
            f"{PRICES_AS_OF} (range {format_usd(u.low)} to {format_usd(u.high)})"
        ]
        for m in self.by_model:
            cost_text = (
                f"{format_usd(m.usd.expected)} ({format_usd(m.usd.low)} to "
                f"{format_usd(m.usd.high)})"
                if m.usd
                else "unknown (no prices in the catalogue)"
            )
            t = m.tokens
            lines.append(
                f"  {m.model}: {m.jobs} job(s), {cost_text}; tokens in {t.text_in} text + "
                f"{t.audio_in} audio, out {t.text_out} text + {t.audio_out} audio; "
                f"audio {m.audio_s:.1f} s"
            )
        left_out = [
            f"{n} {what}"
            for n, what in (
                (self.invalid, "invalid line(s)"),
                (self.unprobed, "job(s) whose audio could not be probed"),
                (self.unpriced, "job(s) of a model without prices"),
            )
            if n
        ]
        if left_out:
            lines.append("left out: " + ", ".join(left_out))
        lines.extend(f"  {note}" for note in self.notes)
        lines.append("method:")
        lines.extend(f"  {rule}" for rule in self.assumptions.method())
        return "\n".join(lines)


def estimate(
    items: Iterable[Job | JobProblem],
    *,
    model: str,
    transcription_model: str,
    probe: Probe = audio_duration_s,
    instructions: str | None = None,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
    max_tool_rounds: int = MAX_TOOL_ROUNDS,
) -> Estimate:
    """Estimate what running ``items`` will cost, streaming them once.

    Args:
        items: the job file's items (:func:`rtbatch.jobs.read_jobs`); invalid
            lines are counted and left out.
        model: the run's realtime model (text, respond and conversation jobs).
        transcription_model: the run's transcription model, for transcribe jobs
            that do not name their own.
        probe: returns an audio file's duration in seconds.
        instructions: the run's instructions, for jobs without their own.
        assumptions: what the figures assume.
        max_tool_rounds: the run's bound on tool rounds (a tool job's high figure).

    Returns:
        The expected cost, its range and the figures per model. Jobs whose audio
        the probe cannot read (:class:`~rtbatch.errors.BadAudio`, ``OSError``) are
        counted, named in ``notes`` and left out.
    """
    estimator = Estimator(
        model, transcription_model, probe, instructions, assumptions, max_tool_rounds
    )
    tallies: dict[str, _Tally] = {}
    jobs = invalid = unprobed = unpriced = 0
    notes: list[str] = []
    for item in items:
        if isinstance(item, JobProblem):
            invalid += 1
            continue
        jobs += 1
        try:
            job = estimator.job(item)
        except (BadAudio, OSError) as exc:
            unprobed += 1
            if len(notes) < MAX_NOTES:
                notes.append(f"line {item.line} ({item.id}): {exc}")
            continue
        unpriced += job.usd is None
        tallies.setdefault(job.model, _Tally()).add(job)
    low, expected, high = (
        sum(t.nanos[i] for t in tallies.values()) / NANOS_PER_USD for i in range(3)
    )
    return Estimate(
        jobs=jobs,
        invalid=invalid,
        unprobed=unprobed,
        unpriced=unpriced,
        usd=CostRange(low, expected, high),
        by_model=tuple(t.result(name) for name, t in tallies.items()),
        assumptions=assumptions,
        notes=tuple(notes),
    )


@dataclass(slots=True)
class _Tally:
    """Running sums for one model: jobs, tokens, audio, nano-dollars."""

    jobs: int = 0
    tokens: Tokens = field(default_factory=Tokens)
    audio_s: float = 0.0
    priced: int = 0
    nanos: list[int] = field(default_factory=lambda: [0, 0, 0])  # low, expected, high

    def add(self, job: JobEstimate) -> None:
        self.jobs += 1
        self.tokens += job.tokens
        self.audio_s += job.audio_s
        if job.usd is not None:
            self.priced += 1
            for i, usd in enumerate((job.usd.low, job.usd.expected, job.usd.high)):
                self.nanos[i] += round(usd * NANOS_PER_USD)

    def result(self, model: str) -> ModelEstimate:
        low, expected, high = (n / NANOS_PER_USD for n in self.nanos)
        usd = CostRange(low, expected, high) if self.priced else None
        return ModelEstimate(model, self.jobs, self.tokens, self.audio_s, usd)
