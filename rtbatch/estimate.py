"""What a job file will cost before anything is sent: the core of ``rtbatch estimate``.

Each job is priced as the service would bill it (:func:`rtbatch.models.cost`), from
token counts estimated here:

* **Text input**: UTF-8 bytes / :data:`TEXT_BYTES_PER_TOKEN`, rounded up, plus
  :data:`MESSAGE_OVERHEAD_TOKENS` per message; the instructions count as one
  message (the job's, else the run's, else the session's own, assumed to be
  ``session_instructions_tokens`` long). Error ±:data:`TEXT_ERROR`: four bytes a
  token holds for English prose; code, numbers and other scripts stray further.
* **Audio input**: the probed duration at 10 tokens a second (1 per 100 ms, as
  billed), plus one message's overhead. Exact but for rounding.
* **Replies**: ``reply_tokens`` text tokens, or the job's ``max_output_tokens`` if
  lower. A spoken reply adds 20 audio tokens per second of speech, at
  ``speech_tokens_per_s`` transcript tokens a second, and the cap covers both.
  Range ÷/×:data:`REPLY_FACTOR`, within the cap: how long an answer is depends
  on the prompt and the model, and nothing in the file says.
* **Transcription**: models billed by the minute, the probed duration at their
  price (exact). Models billed by tokens: the audio as input at 10 tokens a
  second plus the prompt as text, and a transcript of ``speech_tokens_per_s``
  tokens a second of audio, ±:data:`SPEECH_ERROR` (speech rate and silences vary).
* Prompt caching is not counted: it lowers the price of long shared prefixes only.

Nothing here opens a connection; audio is probed through the function given (by
default :func:`rtbatch.audio.duration_s`, imported only when a job has audio).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtbatch.cost import NANOS_PER_USD, format_usd, outcome_cost
from rtbatch.errors import BadAudio
from rtbatch.jobs import Job, JobProblem
from rtbatch.models import (
    ASSISTANT_AUDIO_TOKENS_PER_S,
    MESSAGE_OVERHEAD_TOKENS,
    PRICES_AS_OF,
    USER_AUDIO_TOKENS_PER_S,
    MinutePrice,
    lookup,
)

Probe = Callable[[Path], float]

#: UTF-8 bytes per text token: OpenAI's rule of thumb (about 4 characters of English
#: a token); bytes rather than characters, so other scripts are not undercounted.
TEXT_BYTES_PER_TOKEN = 4
#: Text tokens of a reply when the job sets no lower cap: a short paragraph.
REPLY_TOKENS = 150
#: Tokens of the instructions a session has when neither job nor run gives any.
#: The service does not publish its default text; its known versions run to a
#: paragraph, about 100 tokens (UNCONFIRMED).
SESSION_INSTRUCTIONS_TOKENS = 100
#: Transcript tokens per second of speech: about 150 words a minute at about
#: 1.3 tokens a word.
SPEECH_TOKENS_PER_S = 3.3
#: Stated error of text input counts: ±25 %.
TEXT_ERROR = 0.25
#: Stated range of reply lengths: from a third of the assumption to three times it.
REPLY_FACTOR = 3.0
#: Stated error of transcript lengths: ±50 %.
SPEECH_ERROR = 0.5
#: Probe failures named in an estimate; the rest are only counted.
MAX_NOTES = 20


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What the estimate cannot know from the file, with defaults for OpenAI's service.

    Attributes:
        reply_tokens: text tokens of a reply when the job sets no lower cap.
        session_instructions_tokens: tokens of the session's own instructions,
            billed when neither the job nor the run gives any.
        speech_tokens_per_s: transcript tokens per second of speech, for spoken
            replies and transcripts.
    """

    reply_tokens: int = REPLY_TOKENS
    session_instructions_tokens: int = SESSION_INSTRUCTIONS_TOKENS
    speech_tokens_per_s: float = SPEECH_TOKENS_PER_S

    def __post_init__(self) -> None:
        if self.reply_tokens < 1:
            raise ValueError("reply_tokens: must be at least 1")
        if self.session_instructions_tokens < 0:
            raise ValueError("session_instructions_tokens: must not be negative")
        if not self.speech_tokens_per_s > 0:
            raise ValueError("speech_tokens_per_s: must be positive")

    def method(self) -> tuple[str, ...]:
        """How the figures are made and how far off they may be, one rule a line."""
        per_token_s = 1 / self.speech_tokens_per_s
        return (
            f"text in: UTF-8 bytes / {TEXT_BYTES_PER_TOKEN} + {MESSAGE_OVERHEAD_TOKENS} "
            f"tokens a message; session instructions {self.session_instructions_tokens} "
            f"tokens where none are given; ±{TEXT_ERROR:.0%} (4 bytes a token is English "
            "prose; code and other scripts stray further)",
            f"audio in: probed duration at {USER_AUDIO_TOKENS_PER_S} tokens/s (exact)",
            f"replies: {self.reply_tokens} text tokens or max_output_tokens if lower; "
            f"spoken, {ASSISTANT_AUDIO_TOKENS_PER_S} audio tokens/s at {per_token_s:.2f} s "
            f"a text token; ÷{REPLY_FACTOR:g} to ×{REPLY_FACTOR:g} within the cap (the "
            "length of an answer depends on the prompt and the model)",
            "transcription by the minute: probed duration × price (exact); by tokens: "
            f"audio as above, transcript {self.speech_tokens_per_s:g} tokens/s, "
            f"±{SPEECH_ERROR:.0%} (speech rate and silences vary)",
            "prompt caching is not counted (it lowers the price of long shared prefixes)",
        )


DEFAULT_ASSUMPTIONS = Assumptions()


@dataclass(frozen=True, slots=True)
class CostRange:
    """An estimated cost in USD: the expected figure and the stated range around it."""

    low: float
    expected: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """The JSON form."""
        return {"low_usd": self.low, "expected_usd": self.expected, "high_usd": self.high}


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts of one or more responses or transcriptions."""

    text_in: int = 0
    audio_in: int = 0
    text_out: int = 0
    audio_out: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.text_in + other.text_in,
            self.audio_in + other.audio_in,
            self.text_out + other.text_out,
            self.audio_out + other.audio_out,
        )

    def usage(self) -> dict[str, Any]:
        """The counts in the shape of the service's ``usage`` object."""
        return {
            "input_tokens": self.text_in + self.audio_in,
            "output_tokens": self.text_out + self.audio_out,
            "input_token_details": {"text_tokens": self.text_in, "audio_tokens": self.audio_in},
            "output_token_details": {"text_tokens": self.text_out, "audio_tokens": self.audio_out},
        }


@dataclass(frozen=True, slots=True)
class JobEstimate:
    """One job's expected usage and cost.

    Attributes:
        model: the model that will do the work.
        tokens: the expected token counts (zero for a model billed by the minute).
        audio_s: seconds of audio the job sends.
        usd: the cost, or None when the catalogue has no prices for the model.
    """

    model: str
    tokens: Tokens
    audio_s: float
    usd: CostRange | None


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


def audio_duration_s(path: Path) -> float:
    """The default probe: :func:`rtbatch.audio.duration_s`.

    Imported at the first audio job, so that estimating a text-only file never
    loads the audio stack (PyAV).
    """
    from rtbatch.audio.decode import duration_s

    return duration_s(path)


def estimate(
    items: Iterable[Job | JobProblem],
    *,
    model: str,
    transcription_model: str,
    probe: Probe = audio_duration_s,
    instructions: str | None = None,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> Estimate:
    """Estimate what running ``items`` will cost, streaming them once.

    Args:
        items: the job file's items (:func:`rtbatch.jobs.read_jobs`); invalid
            lines are counted and left out.
        model: the run's realtime model (text and respond jobs).
        transcription_model: the run's transcription model, for transcribe jobs
            that do not name their own.
        probe: returns an audio file's duration in seconds.
        instructions: the run's instructions, for jobs without their own.
        assumptions: what the figures assume.

    Returns:
        The expected cost, its range and the figures per model. Jobs whose audio
        the probe cannot read (:class:`~rtbatch.errors.BadAudio`, ``OSError``) are
        counted, named in ``notes`` and left out.
    """
    estimator = Estimator(model, transcription_model, probe, instructions, assumptions)
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


@dataclass(frozen=True, slots=True)
class Estimator:
    """The run's settings that decide what a job costs; :meth:`job` prices one job.

    The same rules as :func:`estimate`, one job at a time: what ``--max-cost``
    needs before it starts a job. Fields as the arguments of :func:`estimate`.
    """

    model: str
    transcription_model: str
    probe: Probe = audio_duration_s
    instructions: str | None = None
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS

    def job(self, job: Job) -> JobEstimate:
        """Estimate one job.

        Raises:
            BadAudio: the probe could not read the job's audio (or ``OSError``).
        """
        audio_s = self.probe(job.audio) if job.audio is not None else 0.0
        if job.kind == "transcribe":
            options = job.transcription
            name = (options.model if options else None) or self.transcription_model
            prompt = options.prompt if options else None
            return _transcription(name, audio_s, prompt, self.assumptions)
        instr = job.instructions if job.instructions is not None else self.instructions
        text_in = (
            self.assumptions.session_instructions_tokens + MESSAGE_OVERHEAD_TOKENS
            if instr is None
            else message_tokens(instr)
        )
        audio_in = 0
        if job.kind == "respond":
            text_in += MESSAGE_OVERHEAD_TOKENS  # the audio item is a message of its own
            audio_in = math.ceil(audio_s * USER_AUDIO_TOKENS_PER_S)
        elif job.messages is not None:
            text_in += sum(message_tokens(m.content) for m in job.messages)
        else:
            text_in += message_tokens(job.prompt or "")
        return _response(self.model, job, text_in, audio_in, audio_s, self.assumptions)


def text_tokens(text: str) -> int:
    """Estimated tokens of a text: its UTF-8 bytes over :data:`TEXT_BYTES_PER_TOKEN`."""
    return math.ceil(len(text.encode()) / TEXT_BYTES_PER_TOKEN)


def message_tokens(text: str) -> int:
    """Estimated tokens of one message: its text plus the per-message overhead."""
    return text_tokens(text) + MESSAGE_OVERHEAD_TOKENS


def _response(
    name: str, job: Job, text_in: int, audio_in: int, audio_s: float, a: Assumptions
) -> JobEstimate:
    row = lookup(name)
    modalities = job.options.output_modalities
    spoken = modalities is not None and "audio" in modalities
    # Audio output tokens per text token of its transcript.
    audio_per_text = ASSISTANT_AUDIO_TOKENS_PER_S / a.speech_tokens_per_s if spoken else 0.0
    cap = job.options.max_output_tokens
    limit = (row.max_output_tokens if row is not None else None) if cap in (None, "inf") else cap

    def tokens(in_scale: float, reply: float) -> Tokens:
        text_out, audio_out = math.ceil(reply), math.ceil(reply * audio_per_text)
        if isinstance(limit, int) and text_out + audio_out > limit:
            # Cut at the cap, which a spoken reply's text and audio share.
            text_out = math.floor(limit / (1 + audio_per_text))
            audio_out = limit - text_out if spoken else 0
        return Tokens(math.ceil(text_in * in_scale), audio_in, text_out, audio_out)

    low = tokens(1 - TEXT_ERROR, a.reply_tokens / REPLY_FACTOR)
    expected = tokens(1.0, a.reply_tokens)
    high = tokens(1 + TEXT_ERROR, a.reply_tokens * REPLY_FACTOR)
    return JobEstimate(name, expected, audio_s, _price_tokens(name, low, expected, high))


def _transcription(name: str, audio_s: float, prompt: str | None, a: Assumptions) -> JobEstimate:
    row = lookup(name)
    if row is not None and isinstance(row.prices, MinutePrice):
        usd = outcome_cost(name, None, audio_s)
        return JobEstimate(
            name, Tokens(), audio_s, None if usd is None else CostRange(usd, usd, usd)
        )
    cap = row.transcript_tokens if row is not None and row.transcript_tokens else math.inf
    audio_in = math.ceil(audio_s * USER_AUDIO_TOKENS_PER_S)
    text_in = text_tokens(prompt) if prompt else 0

    def tokens(in_scale: float, out_scale: float) -> Tokens:
        transcript = min(cap, audio_s * a.speech_tokens_per_s * out_scale)
        return Tokens(
            text_in=math.ceil(text_in * in_scale), audio_in=audio_in, text_out=math.ceil(transcript)
        )

    low = tokens(1 - TEXT_ERROR, 1 - SPEECH_ERROR)
    expected = tokens(1.0, 1.0)
    high = tokens(1 + TEXT_ERROR, 1 + SPEECH_ERROR)
    return JobEstimate(name, expected, audio_s, _price_tokens(name, low, expected, high))


def _price_tokens(name: str, low: Tokens, expected: Tokens, high: Tokens) -> CostRange | None:
    figures = [outcome_cost(name, t.usage()) for t in (low, expected, high)]
    if figures[0] is None or figures[1] is None or figures[2] is None:
        return None
    return CostRange(figures[0], figures[1], figures[2])


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
