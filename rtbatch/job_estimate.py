"""What one job will cost before anything is sent: for ``rtbatch estimate`` and ``--max-cost``.

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
* **Tools**: a job with functions makes, per turn, one response (low), one tool
  round (the call, then the answer: expected), or every round ``max_tool_rounds``
  allows (high); each later response re-reads the calls so far, each with the
  job's longest scripted output (or the unscripted-call error). Every response is
  priced as a reply, a call included.
* **Conversations**: each turn is priced as its own responses, reading the
  instructions, every earlier turn and its answer (the reply assumed above, as
  text) and the turn itself: later turns cost more, as they are billed.
* **Transcription**: models billed by the minute, the probed duration at their
  price (exact). Models billed by tokens: the audio as input at 10 tokens a
  second plus the prompt as text, and a transcript of ``speech_tokens_per_s``
  tokens a second of audio, ±:data:`SPEECH_ERROR` (speech rate and silences vary).
* Prompt caching is not counted: it lowers the price of long shared prefixes only.

Nothing here opens a connection; audio is probed through the function given (by
default :func:`rtbatch.audio.duration_s`, imported only when a job has audio). A
whole file's estimate adds these up (:mod:`rtbatch.estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rtbatch.cost import outcome_cost
from rtbatch.defaults import MAX_TOOL_ROUNDS
from rtbatch.jobs import Job
from rtbatch.models import (
    ASSISTANT_AUDIO_TOKENS_PER_S,
    MESSAGE_OVERHEAD_TOKENS,
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
#: Tokens of the error an unscripted call is answered with (rtbatch.tool_rounds),
#: about 20 with its function's name.
UNSCRIPTED_CALL_TOKENS = 20


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
            "tools: a turn makes one response (low), one tool round, the call then the "
            "answer (expected), or every round --max-tool-rounds allows (high); each "
            "round re-reads the calls so far with their longest scripted output",
            "conversations: each turn re-reads the earlier turns and their answers as text",
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


def audio_duration_s(path: Path) -> float:
    """The default probe: :func:`rtbatch.audio.duration_s`.

    Imported at the first audio job, so that estimating a text-only file never
    loads the audio stack (PyAV).
    """
    from rtbatch.audio.decode import duration_s

    return duration_s(path)


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
    max_tool_rounds: int = MAX_TOOL_ROUNDS

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
        if job.kind == "respond":
            # The audio item is a message of its own.
            said = [(MESSAGE_OVERHEAD_TOKENS, math.ceil(audio_s * USER_AUDIO_TOKENS_PER_S))]
        elif job.kind == "conversation":
            said = []
            for turn in job.turns or ():
                if turn.audio is None:
                    said.append((message_tokens(turn.text or ""), 0))
                else:
                    seconds = self.probe(turn.audio)
                    audio_s += seconds
                    tokens = math.ceil(seconds * USER_AUDIO_TOKENS_PER_S)
                    said.append((MESSAGE_OVERHEAD_TOKENS, tokens))
        elif job.messages is not None:
            said = [(sum(message_tokens(m.content) for m in job.messages), 0)]
        else:
            said = [(message_tokens(job.prompt or ""), 0)]
        shape = _Shape(text_in, said, _call_tokens(job), self.max_tool_rounds)
        return _response(self.model, job, shape, audio_s, self.assumptions)


def text_tokens(text: str) -> int:
    """Estimated tokens of a text: its UTF-8 bytes over :data:`TEXT_BYTES_PER_TOKEN`."""
    return math.ceil(len(text.encode()) / TEXT_BYTES_PER_TOKEN)


def message_tokens(text: str) -> int:
    """Estimated tokens of one message: its text plus the per-message overhead."""
    return text_tokens(text) + MESSAGE_OVERHEAD_TOKENS


@dataclass(frozen=True, slots=True)
class _Shape:
    """The responses a text, respond or conversation job makes, as the estimate sees them.

    Attributes:
        instructions: text tokens every response reads first.
        said: (text, audio) tokens of what the user says in each turn (one turn
            but for a conversation).
        call_tokens: tokens one answered call adds to the context (its item and
            its output), for a job with tools; 0 without.
        max_rounds: the run's bound on tool rounds per turn.
    """

    instructions: int
    said: list[tuple[int, int]]
    call_tokens: int
    max_rounds: int

    def responses(self, scenario: int) -> int:
        """Responses per turn: one (0, low), one round (1, expected), every round (2, high)."""
        if not self.call_tokens:
            return 1
        return (1, 2, 1 + self.max_rounds)[scenario]


def _call_tokens(job: Job) -> int:
    """What one answered call adds to a response's context: the call, and its longest
    scripted output (else the unscripted-call error), two messages."""
    if job.tools is None:
        return 0
    outputs = [c.output for cases in job.tools.outputs.values() for c in cases]
    longest = max((text_tokens(orjson.dumps(o).decode()) for o in outputs), default=0)
    return 2 * MESSAGE_OVERHEAD_TOKENS + max(longest, UNSCRIPTED_CALL_TOKENS)


def _response(name: str, job: Job, shape: _Shape, audio_s: float, a: Assumptions) -> JobEstimate:
    """A job's responses: every turn's, each reading the conversation so far.

    A turn's responses read the instructions, every earlier turn (what the user
    said, then the answer, as text) and the turn's own input; with tools, each
    later round also the calls made so far and their outputs. Every response is
    priced as a reply.
    """
    row = lookup(name)
    modalities = job.options.output_modalities
    spoken = modalities is not None and "audio" in modalities
    # Audio output tokens per text token of its transcript.
    audio_per_text = ASSISTANT_AUDIO_TOKENS_PER_S / a.speech_tokens_per_s if spoken else 0.0
    cap = job.options.max_output_tokens
    limit = (row.max_output_tokens if row is not None else None) if cap in (None, "inf") else cap

    def reply(length: float) -> tuple[int, int]:
        text_out, audio_out = math.ceil(length), math.ceil(length * audio_per_text)
        if isinstance(limit, int) and text_out + audio_out > limit:
            # Cut at the cap, which a spoken reply's text and audio share.
            text_out = math.floor(limit / (1 + audio_per_text))
            audio_out = limit - text_out if spoken else 0
        return text_out, audio_out

    def tokens(scenario: int, in_scale: float, length: float) -> Tokens:
        text_out, audio_out = reply(length)
        total = Tokens()
        context, audio_in = shape.instructions, 0
        for text, audio in shape.said:
            context, audio_in = context + text, audio_in + audio
            rounds = shape.responses(scenario)
            for round_ in range(rounds):
                total += Tokens(math.ceil(context * in_scale), audio_in, text_out, audio_out)
                if round_ + 1 < rounds:
                    context += shape.call_tokens
            # The answer, replayed as text (a transcript when spoken) to the next turn.
            context += text_out + MESSAGE_OVERHEAD_TOKENS
        return total

    low = tokens(0, 1 - TEXT_ERROR, a.reply_tokens / REPLY_FACTOR)
    expected = tokens(1, 1.0, a.reply_tokens)
    high = tokens(2, 1 + TEXT_ERROR, a.reply_tokens * REPLY_FACTOR)
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
