"""A run's settings as immutable objects, built once by the command line.

Two objects, split where the key belongs: a :class:`Target` (the endpoint, its
dialect and the run's models) is all that ``validate`` and ``estimate`` need, since
they send nothing; a :class:`RunConfig` is a target plus everything a run needs,
the API key first. The runner and the pool receive the :class:`RunConfig` itself.

Defaults are the constants of :mod:`rtbatch.defaults` (units in their names), so the
CLI's ``show_default`` and the library agree by construction. Validation happens in
``__post_init__`` and names the offending field. A range is stated once, as a
:class:`Bounds`: ``__post_init__`` checks it, and the command line's types check
the same object, so that a bad option is refused by click naming the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from rtbatch.defaults import (
    AUDIO_FORMATS,
    BACKOFF_BASE,
    BACKOFF_INITIAL_S,
    BACKOFF_MAX_S,
    CLOSE_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    DEFAULT_AUDIO_FORMAT,
    DEFAULT_BETA_MODEL,
    DEFAULT_BETA_TRANSCRIPTION_MODEL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_URL,
    IDLE_TIMEOUT_S,
    JOB_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_REFUSALS,
    MAX_SEGMENT_MS,
    MAX_TOOL_ROUNDS,
    MAX_WAIT_S,
    MIN_SEGMENT_MS,
    MOST_ATTEMPTS,
    MOST_TOOL_ROUNDS,
    PING_INTERVAL_S,
    PING_TIMEOUT_S,
    RETRY_TOTAL_S,
    SESSION_TIMEOUT_S,
    SIGNAL_GRACE_S,
    UNREACHABLE_PATIENCE_S,
    AudioFormat,
)
from rtbatch.models import DialectName

#: The run's default models per dialect: (realtime, transcription).
DEFAULT_MODELS: Final[dict[DialectName, tuple[str, str]]] = {
    "ga": (DEFAULT_MODEL, DEFAULT_TRANSCRIPTION_MODEL),
    "beta": (DEFAULT_BETA_MODEL, DEFAULT_BETA_TRANSCRIPTION_MODEL),
}


@dataclass(frozen=True, slots=True)
class Bounds:
    """A closed range of allowed values (``low`` open when ``low_open``; no ``high``: none)."""

    low: float
    high: float | None = None
    low_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None when it is in."""
        below = value <= self.low if self.low_open else value < self.low
        if below or (self.high is not None and value > self.high):
            return f"expected {self}, got {value:g}"
        return None

    def check(self, name: str, value: float | None) -> None:
        """Raise ``ValueError("name: …")`` for a value out of range; None passes.

        Raises:
            ValueError: the value is out of range; the message starts with ``name``.
        """
        if value is not None and (problem := self.problem(value)) is not None:
            raise ValueError(f"{name}: {problem}")

    def __str__(self) -> str:
        low = f"{self.low:g}"
        if self.high is not None:
            return f"{low}..{self.high:g}"
        return f"> {low}" if self.low_open else f">= {low}"


CONCURRENCY: Final = Bounds(1, MAX_CONCURRENCY)
ATTEMPTS: Final = Bounds(1, MOST_ATTEMPTS)
TOOL_ROUNDS: Final = Bounds(0, MOST_TOOL_ROUNDS)
#: --rpm, --tpm and --shards.
AT_LEAST_ONE: Final = Bounds(1)
#: Deadlines and the spend cap.
POSITIVE: Final = Bounds(0, low_open=True)
NOT_NEGATIVE: Final = Bounds(0)
SEGMENT_MS: Final = Bounds(MIN_SEGMENT_MS)
ACCOUNT_SHARE: Final = Bounds(0, 1, low_open=True)


class ApiKey:
    """An API key that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or not value.strip():
            raise ValueError("api_key: must not be empty")
        self._value = value.strip()

    def reveal(self) -> str:
        """The key itself, for the Authorization header only."""
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines for every network wait, in seconds."""

    connect_s: float = CONNECT_TIMEOUT_S
    #: How long a run's start waits for anything to accept a connection at the
    #: endpoint before it stops (:func:`rtbatch.transport.check_endpoint`).
    unreachable_s: float = UNREACHABLE_PATIENCE_S
    session_s: float = SESSION_TIMEOUT_S
    job_s: float = JOB_TIMEOUT_S
    #: Silence allowed between two server events while a job waits on them: the
    #: most, when ``idle_learned`` (the run then allows what its answers show,
    #: :mod:`rtbatch.silences`), else exactly.
    idle_s: float = IDLE_TIMEOUT_S
    idle_learned: bool = True
    close_s: float = CLOSE_TIMEOUT_S
    ping_interval_s: float = PING_INTERVAL_S
    ping_timeout_s: float = PING_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in (
            "connect_s",
            "unreachable_s",
            "session_s",
            "job_s",
            "idle_s",
            "close_s",
            "ping_interval_s",
        ):
            POSITIVE.check(f"timeouts.{name}", getattr(self, name))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a retryable failure is tried again.

    The wait before attempt ``n + 1`` is drawn uniformly from
    ``[0, min(max_s, initial_s * base ** (n - 1))]`` (full jitter); a server's
    hint (a rate-limit "try again in", a ``retry-after`` header) replaces the
    drawn value, up to ``max_s``. A job stops being retried after ``max_attempts`` attempts or
    once ``total_s`` have passed since its first attempt; its result line is
    then ``failed`` with the last error and the number of attempts.

    A refusal for rate or capacity limits is not an attempt (the request never
    ran): the job goes back to the queue at once and the pacer decides when it
    starts; after ``max_refusals`` refusals it fails. A limit that resets more
    than ``max_wait_s`` away stops the run with the try-later exit code instead.
    """

    max_attempts: int = MAX_ATTEMPTS
    initial_s: float = BACKOFF_INITIAL_S
    max_s: float = BACKOFF_MAX_S
    base: float = BACKOFF_BASE
    total_s: float = RETRY_TOTAL_S
    max_refusals: int = MAX_REFUSALS
    max_wait_s: float = MAX_WAIT_S

    def __post_init__(self) -> None:
        AT_LEAST_ONE.check("retry.max_refusals", self.max_refusals)
        NOT_NEGATIVE.check("retry.max_wait_s", self.max_wait_s)
        ATTEMPTS.check("retry.max_attempts", self.max_attempts)
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError("retry.initial_s/max_s: need 0 <= initial_s <= max_s")
        if self.base < 1:
            raise ValueError("retry.base: must be at least 1")
        POSITIVE.check("retry.total_s", self.total_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a job file is checked against: the endpoint, its dialect, the run's models.

    ``validate`` and ``estimate`` need nothing more (they send nothing, so no key).
    An empty model is the dialect's default (:data:`DEFAULT_MODELS`): the GA models,
    or with ``dialect="beta"`` models a beta server serves; it is filled in here.

    Attributes:
        url: The Realtime WebSocket endpoint (``--emulate`` replaces it with the emulator's).
        dialect: ``"ga"``, or ``"beta"`` (``OpenAI-Beta: realtime=v1``).
        model: The realtime model.
        transcription_model: The model of transcribe jobs that name none.
        emulate: Run against the built-in emulator, started for the run.
        tools_file: The run-wide function calling defaults (``--tools``), merged
            under each job's own tool fields.
    """

    url: str = DEFAULT_URL
    dialect: DialectName = "ga"
    model: str = ""
    transcription_model: str = ""
    emulate: bool = False
    tools_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url: expected a ws:// or wss:// URL, got {self.url!r}")
        if self.dialect not in DEFAULT_MODELS:
            raise ValueError(f"dialect: expected 'ga' or 'beta', got {self.dialect!r}")
        model, transcription_model = DEFAULT_MODELS[self.dialect]
        # A frozen dataclass fills its derived defaults through object.__setattr__.
        if not self.model.strip():
            object.__setattr__(self, "model", model)
        if not self.transcription_model.strip():
            object.__setattr__(self, "transcription_model", transcription_model)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig(Target):
    """Everything one ``rtbatch run`` (or ``transcribe``) needs, fixed before it starts.

    Built once by the command line from its options; the runner derives a shard's
    share from it (``rpm``, ``tpm``, ``max_cost_usd`` divided, ``account_share``
    set) with :func:`dataclasses.replace`, and the pool reads that copy.

    Attributes:
        api_key: The key sent in the handshake; masked in every repr.
        output: The result file; ``"-"`` is stdout; None: ``JOBS.results.jsonl``
            beside the job file (per shard: ``….shard-K-of-N.jsonl``).
        summary_file: Also write the summary as JSON here (``"-"``: stdout).
        shard: ``"K/N"``, or None for the scheduler's variables (or no sharding).
        shards: N, for an index from the scheduler's variables.
        account_share: This process's share of the account: 1/N for one of N shards.
    """

    api_key: ApiKey
    output: str | None = None
    summary_file: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    instructions: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rpm: int | None = None
    tpm: int | None = None
    deadline_s: float | None = None
    grace_s: float = SIGNAL_GRACE_S
    retry_failed: bool = True
    skip_invalid: bool = False
    audio_out: Path | None = None
    language: str | None = None
    audio_format: AudioFormat = DEFAULT_AUDIO_FORMAT
    seed: int | None = None
    max_segment_ms: int = MAX_SEGMENT_MS
    transcripts: Path | None = None
    #: Transcript formats written under ``transcripts`` (unused without it).
    formats: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    shard: str | None = None
    shards: int | None = None
    account_share: float = 1.0
    #: Tool rounds a job may make before it ends incomplete.
    max_tool_rounds: int = MAX_TOOL_ROUNDS
    #: Exit 1 when a line of the result file did not pass its checks (``expect``).
    fail_on_check: bool = False

    def __post_init__(self) -> None:
        Target.__post_init__(self)
        TOOL_ROUNDS.check("max_tool_rounds", self.max_tool_rounds)
        CONCURRENCY.check("concurrency", self.concurrency)
        AT_LEAST_ONE.check("rpm", self.rpm)
        AT_LEAST_ONE.check("tpm", self.tpm)
        AT_LEAST_ONE.check("shards", self.shards)
        POSITIVE.check("deadline_s", self.deadline_s)
        NOT_NEGATIVE.check("grace_s", self.grace_s)
        POSITIVE.check("max_cost_usd", self.max_cost_usd)
        SEGMENT_MS.check("max_segment_ms", self.max_segment_ms)
        ACCOUNT_SHARE.check("account_share", self.account_share)
        if self.audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format: expected one of {', '.join(AUDIO_FORMATS)}")
