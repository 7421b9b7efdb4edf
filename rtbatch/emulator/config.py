"""The emulator's settings: one frozen object, validated when built.

Defaults are module constants so the CLI, the docs and the code state them once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

from rtbatch.emulator.defaults import (
    ACCOUNT_FATAL_CODES,
    DEFAULT_ACCOUNT_FATAL_CODE,
    DEFAULT_HOST,
    DEFAULT_REPLY_WORDS,
    DEFAULT_RPM,
    DEFAULT_SESSION_MAX_S,
    DEFAULT_TPM,
    FAULT_KINDS,
    HANDSHAKE_FAULTS,
    RESPONSE_FAULTS,
)


def _frozen_map(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """A read-only copy, so a frozen config cannot change behind the server's back."""
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Faults injected at fixed ordinals, so tests need no probabilities.

    Attributes:
        handshakes: 0-based global ordinal of WebSocket handshakes -> ``handshake_429`` |
            ``handshake_500`` | ``handshake_503``.
        responses: 0-based global ordinal of responses (each accepted ``response.create``
            and each transcription of a committed buffer) -> ``drop`` | ``server_error`` |
            ``rate_limit`` | ``stall`` | ``invalid_frame`` | ``inference_rate_limit`` |
            ``rpd`` | ``account_fatal``.
    """

    handshakes: Mapping[int, str] = field(default_factory=dict)
    responses: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_schedule("schedule.handshakes", self.handshakes, HANDSHAKE_FAULTS)
        _check_schedule("schedule.responses", self.responses, RESPONSE_FAULTS)
        object.__setattr__(self, "handshakes", _frozen_map(self.handshakes))
        object.__setattr__(self, "responses", _frozen_map(self.responses))


def _check_schedule(name: str, schedule: Mapping[int, str], kinds: frozenset[str]) -> None:
    for ordinal, kind in schedule.items():
        if not isinstance(ordinal, int) or ordinal < 0:
            raise ValueError(f"{name}: ordinal must be an int >= 0, got {ordinal!r}")
        if kind not in kinds:
            raise ValueError(f"{name}[{ordinal}]: unknown fault {kind!r}; one of {sorted(kinds)}")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator listens, answers and misbehaves.

    Attributes:
        host: interface to bind.
        port: TCP port; 0 picks a free one (read it from ``Emulator.port``).
        api_key: the one accepted key; ``None`` accepts any non-empty key.
        latency_ms: delay before the first output event of a response.
        token_delay_ms: delay between streamed deltas.
        reply_words: length of generated replies, in words.
        faults: fault kind -> probability per response or handshake.
        schedule: deterministic faults; a scheduled fault wins over a random one.
        seed: seeds the fault dice.
        session_max_seconds: session lifetime before ``session_expired``.
        rpm: requests per minute for the whole emulator (``None``: generous default).
        tpm: tokens per minute for the whole emulator (``None``: generous default).
        rpd: requests per day for the whole emulator (``None``: no daily limit).
        max_inflight: generations (responses and transcriptions) in flight at once
            across the emulator; more are refused for capacity (``None``: no limit).
        account_fatal_code: the code the ``account_fatal`` fault ends the account with:
            ``account_deactivated`` | ``billing_hard_limit_reached`` | ``insufficient_quota``.
        accept_beta: serve the beta dialect and the beta-era models, as a compatible
            server that still speaks beta would; off, beta clients are refused as
            api.openai.com refuses them (error, close 4000) and shut-down models too.
        ssl_context: serve ``wss://`` with this context.
        record: keep per-connection logs of client events (for tests; costs memory).
        today: the date model lifecycles are judged at (``None``: the system date), so
            a test can see a model's announced shutdown.
        shutdown_dates: model id -> the shutdown date ``GET /v1/models`` gives it,
            replacing the catalogue's (to rehearse an announcement it does not know).
        outgoing_hook: a test hook: called with each server event (a dict, ``event_id``
            set) just before it is encoded; what it returns is sent instead.
    """

    host: str = DEFAULT_HOST
    port: int = 0
    api_key: str | None = field(default=None, repr=False)
    latency_ms: float = 0.0
    token_delay_ms: float = 0.0
    reply_words: int = DEFAULT_REPLY_WORDS
    faults: Mapping[str, float] = field(default_factory=dict)
    schedule: FaultSchedule = field(default_factory=FaultSchedule)
    seed: int = 0
    session_max_seconds: float = DEFAULT_SESSION_MAX_S
    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    max_inflight: int | None = None
    account_fatal_code: str = DEFAULT_ACCOUNT_FATAL_CODE
    accept_beta: bool = False
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    record: bool = False
    today: dt.date | None = None
    shutdown_dates: Mapping[str, dt.date | None] = field(default_factory=dict)
    outgoing_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError("host: must be a non-empty string")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port: must be 0..65535, got {self.port!r}")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError("api_key: must be a non-empty string or None")
        _check_non_negative("latency_ms", self.latency_ms)
        _check_non_negative("token_delay_ms", self.token_delay_ms)
        if not isinstance(self.reply_words, int) or not 1 <= self.reply_words <= 4096:
            raise ValueError(f"reply_words: must be 1..4096, got {self.reply_words!r}")
        for kind, rate in self.faults.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"faults: unknown kind {kind!r}; one of {sorted(FAULT_KINDS)}")
            if not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"faults[{kind!r}]: rate must be within 0..1, got {rate!r}")
        if not isinstance(self.schedule, FaultSchedule):
            raise ValueError("schedule: must be a FaultSchedule")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed: must be an int, got {self.seed!r}")
        _check_positive("session_max_seconds", self.session_max_seconds)
        for name in ("rpm", "tpm", "rpd", "max_inflight"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}: must be an int >= 1 or None, got {value!r}")
        if self.account_fatal_code not in ACCOUNT_FATAL_CODES:
            raise ValueError(
                f"account_fatal_code: must be one of {list(ACCOUNT_FATAL_CODES)}, "
                f"got {self.account_fatal_code!r}"
            )
        if self.today is not None and not isinstance(self.today, dt.date):
            raise ValueError(f"today: must be a datetime.date or None, got {self.today!r}")
        for model, date in self.shutdown_dates.items():
            if not isinstance(model, str) or not (date is None or isinstance(date, dt.date)):
                raise ValueError(f"shutdown_dates: {model!r} -> {date!r}: expected id -> date|None")
        if self.outgoing_hook is not None and not callable(self.outgoing_hook):
            raise ValueError("outgoing_hook: must be callable or None")
        object.__setattr__(self, "faults", _frozen_map(self.faults))
        object.__setattr__(self, "shutdown_dates", _frozen_map(self.shutdown_dates))

    def __repr__(self) -> str:
        # Never print the key; show only whether one is set.
        key = "None" if self.api_key is None else "'***'"
        return (
            f"EmulatorConfig(host={self.host!r}, port={self.port}, api_key={key}, "
            f"latency_ms={self.latency_ms}, token_delay_ms={self.token_delay_ms}, "
            f"reply_words={self.reply_words}, faults={dict(self.faults)!r}, "
            f"schedule={self.schedule!r}, seed={self.seed}, "
            f"session_max_seconds={self.session_max_seconds}, rpm={self.rpm}, tpm={self.tpm}, "
            f"rpd={self.rpd}, max_inflight={self.max_inflight}, "
            f"account_fatal_code={self.account_fatal_code!r}, "
            f"accept_beta={self.accept_beta}, ssl={self.ssl_context is not None}, "
            f"record={self.record}, today={self.today})"
        )

    @property
    def effective_today(self) -> dt.date:
        """The date model lifecycles are judged at."""
        return dt.date.today() if self.today is None else self.today

    @property
    def effective_rpm(self) -> int:
        """Requests-per-minute limit in force."""
        return DEFAULT_RPM if self.rpm is None else self.rpm

    @property
    def effective_tpm(self) -> int:
        """Tokens-per-minute limit in force."""
        return DEFAULT_TPM if self.tpm is None else self.tpm


def _check_non_negative(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
