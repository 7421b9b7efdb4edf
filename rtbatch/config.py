"""A run's settings as immutable objects.

Defaults are the constants of :mod:`rtbatch.defaults` (units in their names), so the CLI's
``show_default`` and the library agree by construction. Validation happens in
``__post_init__`` and names the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rtbatch.defaults import (
    AUDIO_FORMATS,
    BACKOFF_BASE,
    BACKOFF_INITIAL_S,
    BACKOFF_MAX_S,
    CLOSE_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    DEFAULT_AUDIO_FORMAT,
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
    MAX_WAIT_S,
    MIN_SEGMENT_MS,
    PING_INTERVAL_S,
    PING_TIMEOUT_S,
    RETRY_TOTAL_S,
    SESSION_TIMEOUT_S,
    SIGNAL_GRACE_S,
    AudioFormat,
)

Dialect = Literal["ga", "beta"]


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
    session_s: float = SESSION_TIMEOUT_S
    job_s: float = JOB_TIMEOUT_S
    #: Silence allowed between two server events while a job waits on them.
    idle_s: float = IDLE_TIMEOUT_S
    close_s: float = CLOSE_TIMEOUT_S
    ping_interval_s: float = PING_INTERVAL_S
    ping_timeout_s: float = PING_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in ("connect_s", "session_s", "job_s", "idle_s", "close_s", "ping_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"timeouts.{name}: must be positive")


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
        if self.max_refusals < 1:
            raise ValueError("retry.max_refusals: must be at least 1")
        if self.max_wait_s < 0:
            raise ValueError("retry.max_wait_s: must not be negative")
        if self.max_attempts < 1:
            raise ValueError("retry.max_attempts: must be at least 1")
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError("retry.initial_s/max_s: need 0 <= initial_s <= max_s")
        if self.base < 1:
            raise ValueError("retry.base: must be at least 1")
        if self.total_s <= 0:
            raise ValueError("retry.total_s: must be positive")


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one ``rtbatch run`` needs, fixed before the first connection."""

    api_key: ApiKey
    url: str = DEFAULT_URL
    model: str = DEFAULT_MODEL
    dialect: Dialect = "ga"
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
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL
    language: str | None = None
    audio_format: AudioFormat = DEFAULT_AUDIO_FORMAT
    seed: int | None = None
    max_segment_ms: int = MAX_SEGMENT_MS
    transcripts: Path | None = None
    formats: tuple[str, ...] = ()
    max_cost_usd: float | None = None
    #: This process's share of the account: 1/N for one of N shards.
    account_share: float = 1.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url: expected a ws:// or wss:// URL, got {self.url!r}")
        if not self.model:
            raise ValueError("model: must not be empty")
        if self.dialect not in ("ga", "beta"):
            raise ValueError(f"dialect: expected 'ga' or 'beta', got {self.dialect!r}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency: expected 1..{MAX_CONCURRENCY}, got {self.concurrency}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("deadline_s: must be positive")
        if self.audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format: expected one of {', '.join(AUDIO_FORMATS)}")
        if self.max_segment_ms < MIN_SEGMENT_MS:
            raise ValueError(f"max_segment_ms: must be at least {MIN_SEGMENT_MS} ms")
        if not 0 < self.account_share <= 1:
            raise ValueError(f"account_share: expected (0, 1], got {self.account_share}")
        if self.max_cost_usd is not None and self.max_cost_usd <= 0:
            raise ValueError("max_cost_usd: must be positive")
        if self.grace_s < 0:
            raise ValueError("grace_s: must not be negative")
