"""The account's limits: requests and tokens per minute, requests per day, responses in flight.

All connections of one emulator share one :class:`AccountLimits`, as all sessions of
one API key share the account's limits. A *request* is a generation trigger -- an
accepted ``response.create`` or a commit that transcribes -- never a connection or a
handshake (protocol notes §0). Buckets refill continuously on trio's clock (RPM and
TPM over 60 s, RPD over a day), so tests with the autojump clock run instantly and see
exact instants.

A refusal is worded as the service words it. Rate limits::

    Rate limit reached for MODEL in organization org-emulator on requests per min (RPM):
    Limit 60, Used 60, Requested 1. Please try again in 1s. Visit https://…

(``tokens per min (TPM)``, ``requests per day (RPD)`` likewise); the wait is the time
until the refusing bucket holds the request, rounded up to the millisecond and written
as the service writes durations (``35ms``, ``1.342s``, ``1m26.4s``, ``8h0m0s``). When
several limits refuse, the one that frees last is named, so its wait is the time the
request could really be admitted. Past ``max_inflight`` a request is refused for
capacity (``inference_rate_limit_exceeded``, no wait given).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

import trio

WINDOW_S = 60.0
#: The window of a requests-per-day bucket. The captured RPD refusal "Limit 1000 …
#: try again in 1m26.4s" is 86,400 s / 1,000: the day refills continuously.
DAY_S = 86_400.0
#: Width of the bins used to find the busiest 60 s window (bounded memory).
_BIN_S = 0.1
#: Slack, in units, when comparing a bucket's level with a request: refill is computed
#: in floats, and a client that waits exactly the named time must be admitted.
_LEVEL_SLACK = 1e-9

ORGANIZATION = "org-emulator"
RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
RATE_LIMIT_CODE = "rate_limit_exceeded"
CAPACITY_CODE = "inference_rate_limit_exceeded"
#: The service's in-session capacity refusal (protocol notes §0); it names no wait.
CAPACITY_MESSAGE = "We're currently processing too many requests - please try again later."
_UNITS = {
    "requests": "requests per min (RPM)",
    "tokens": "tokens per min (TPM)",
    "rpd": "requests per day (RPD)",
}


class TokenBucket:
    """A bucket of ``capacity`` units refilling at ``capacity / window_s`` per second.

    The level may go below zero when a response used more than it reserved; the
    debt is repaid by refill before anything else is admitted.

    Args:
        capacity: units when full.
        now: trio time of creation (the bucket starts full).
        window_s: seconds to refill from empty.
    """

    __slots__ = ("_level", "_rate", "_stamp", "capacity")

    def __init__(self, capacity: int, now: float, window_s: float = WINDOW_S) -> None:
        self.capacity = capacity
        self._rate = capacity / window_s
        self._level = float(capacity)
        self._stamp = now

    def level(self, now: float) -> float:
        """Units available at ``now`` (may be negative)."""
        self._level = min(self.capacity, self._level + (now - self._stamp) * self._rate)
        self._stamp = now
        return self._level

    def holds(self, amount: float, now: float) -> bool:
        """Whether ``amount`` units are available at ``now``."""
        return self.level(now) + _LEVEL_SLACK >= amount

    def take(self, amount: float, now: float) -> None:
        """Remove ``amount`` units (negative amounts refund)."""
        self._level = min(self.capacity, self.level(now) - amount)

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` units are available."""
        if self.holds(amount, now):
            return 0.0
        return (amount - self._level) / self._rate

    def used(self, now: float) -> int:
        """Units spent and not yet refilled, as the service's "Used" counts them."""
        return self.capacity - math.floor(self.level(now) + _LEVEL_SLACK)

    def snapshot(self, now: float) -> tuple[int, int, float]:
        """``(limit, remaining, reset_seconds)`` for ``rate_limits.updated``."""
        level = self.level(now)
        remaining = max(0, math.floor(level + _LEVEL_SLACK))
        return self.capacity, remaining, round((self.capacity - level) / self._rate, 3)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a generation was refused, in the service's words.

    Attributes:
        limit: what refused: ``requests`` (RPM), ``tokens`` (TPM), ``rpd``, ``inflight``
            (capacity), or the account-fatal code.
        type: ``error.type``.
        code: ``error.code``.
        message: ``error.message``.
        close: for an account-fatal refusal, the WebSocket close ``(code, reason)`` that
            follows its ``error`` event; ``None`` when the session goes on.
    """

    limit: str
    type: str
    code: str
    message: str
    close: tuple[int, str] | None = None

    @property
    def error(self) -> dict[str, str]:
        """A fresh ``{type, code, message}`` error object."""
        return {"type": self.type, "code": self.code, "message": self.message}


def format_wait(seconds: float) -> str:
    """A wait as the service writes it: ``35ms``, ``1.342s``, ``1m26.4s``, ``8h0m0s``.

    Args:
        seconds: the wait; rounded up to the millisecond so it always suffices.

    Returns:
        Milliseconds below one second, else hours and minutes when non-zero and
        seconds with up to three decimals (the form of Go's durations).
    """
    # Rounding to the nanosecond first drops float noise before the ceiling.
    ms = max(0, math.ceil(round(seconds * 1000, 6)))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def rate_limit_refusal(
    limit: str, model: str, capacity: int, used: int, requested: int, wait_s: float
) -> Refusal:
    """A ``rate_limit_exceeded`` refusal worded as the service's.

    Args:
        limit: ``requests``, ``tokens`` or ``rpd``.
        model: the model id the message names.
        capacity: the limit.
        used: the units spent in its window.
        requested: the units this request needs.
        wait_s: seconds until the request would be admitted.

    Returns:
        The refusal (``error.type`` ``tokens`` for TPM, else ``requests``).
    """
    message = (
        f"Rate limit reached for {model} in organization {ORGANIZATION} on {_UNITS[limit]}: "
        f"Limit {capacity}, Used {used}, Requested {requested}. Please try again "
        f"in {format_wait(wait_s)}. Visit {RATE_LIMITS_URL} to learn more."
    )
    kind = "tokens" if limit == "tokens" else "requests"
    return Refusal(limit, kind, RATE_LIMIT_CODE, message)


def capacity_refusal() -> Refusal:
    """The service's in-session capacity refusal (``inference_rate_limit_exceeded``)."""
    return Refusal("inflight", "invalid_request_error", CAPACITY_CODE, CAPACITY_MESSAGE)


class WindowCounter:
    """The largest total seen in any 60 s window, in 100 ms bins."""

    __slots__ = ("_bins", "_sum", "peak")

    def __init__(self) -> None:
        self._bins: deque[tuple[int, int]] = deque()
        self._sum = 0
        self.peak = 0

    def add(self, amount: int, now: float) -> None:
        """Count ``amount`` at ``now``."""
        index = math.floor(now / _BIN_S)
        if self._bins and self._bins[-1][0] == index:
            last = self._bins.pop()
            self._bins.append((index, last[1] + amount))
        else:
            self._bins.append((index, amount))
        self._sum += amount
        horizon = index - round(WINDOW_S / _BIN_S) + 1
        while self._bins and self._bins[0][0] < horizon:
            self._sum -= self._bins.popleft()[1]
        self.peak = max(self.peak, self._sum)


class AccountLimits:
    """The emulator's buckets and capacity, plus the figures tests need.

    Args:
        rpm: requests per minute.
        tpm: tokens per minute.
        rpd: requests per day; ``None``: no daily limit.
        max_inflight: generations in flight at once; ``None``: no capacity limit.

    Attributes:
        refused: limit name (``requests``, ``tokens``, ``rpd``, ``inflight``) -> refusals.
        peak_inflight: most generations in flight at once.
    """

    def __init__(
        self, rpm: int, tpm: int, *, rpd: int | None = None, max_inflight: int | None = None
    ) -> None:
        now = trio.current_time()
        self.requests = TokenBucket(rpm, now)
        self.tokens = TokenBucket(tpm, now)
        self.daily = None if rpd is None else TokenBucket(rpd, now, DAY_S)
        self.max_inflight = max_inflight
        self._inflight: set[str] = set()
        self.peak_inflight = 0
        self.refused: Counter[str] = Counter()
        self.request_window = WindowCounter()
        self.token_window = WindowCounter()

    @property
    def inflight(self) -> int:
        """Generations admitted and not yet released."""
        return len(self._inflight)

    def admit(self, model: str, estimate: int, key: str) -> Refusal | None:
        """Admit one generation reserving ``estimate`` tokens, or say why not.

        Args:
            model: model id, for the message.
            estimate: tokens reserved (input + largest possible output).
            key: names the generation in flight until :meth:`release`.

        Returns:
            ``None`` when admitted (every bucket debited, a slot taken), else the
            refusal; a refused request costs nothing.
        """
        now = trio.current_time()
        needs = [("requests", self.requests, 1), ("tokens", self.tokens, estimate)]
        if self.daily is not None:
            needs.append(("rpd", self.daily, 1))
        short = [(b.wait_for(n, now), name, b, n) for name, b, n in needs if not b.holds(n, now)]
        if short:
            wait, name, bucket, amount = max(short, key=lambda s: s[0])
            self.refused[name] += 1
            return rate_limit_refusal(name, model, bucket.capacity, bucket.used(now), amount, wait)
        if self.max_inflight is not None and len(self._inflight) >= self.max_inflight:
            self.refused["inflight"] += 1
            return capacity_refusal()
        for _, bucket, amount in needs:
            bucket.take(amount, now)
        self._inflight.add(key)
        self.peak_inflight = max(self.peak_inflight, len(self._inflight))
        self.request_window.add(1, now)
        self.token_window.add(estimate, now)
        return None

    def release(self, key: str) -> None:
        """End generation ``key``'s time in flight (idempotent; unknown keys are ignored)."""
        self._inflight.discard(key)

    def settle(self, reserved: int, used: int) -> None:
        """Correct a reservation once the real usage is known."""
        now = trio.current_time()
        self.tokens.take(used - reserved, now)
        self.token_window.add(used - reserved, now)

    def snapshot(self) -> tuple[tuple[int, int, float], tuple[int, int, float]]:
        """``(requests, tokens)`` as ``(limit, remaining, reset_seconds)``."""
        now = trio.current_time()
        return self.requests.snapshot(now), self.tokens.snapshot(now)
