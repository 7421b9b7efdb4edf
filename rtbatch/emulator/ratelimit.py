"""Account-wide rate limits: token buckets for requests and tokens per minute.

All connections of one emulator share one :class:`AccountLimits`, as all sessions of
one API key share the account's limits. Buckets refill continuously at ``limit / 60``
per second on trio's clock, so tests with the autojump clock run instantly.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import trio

WINDOW_S = 60.0
#: Width of the bins used to find the busiest 60 s window (bounded memory).
_BIN_S = 0.1


class TokenBucket:
    """A bucket of ``capacity`` units refilling at ``capacity / 60`` per second.

    The level may go below zero when a response used more than it reserved; the
    debt is repaid by refill before anything else is admitted.
    """

    __slots__ = ("_level", "_rate", "_stamp", "capacity")

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = capacity
        self._rate = capacity / WINDOW_S
        self._level = float(capacity)
        self._stamp = now

    def level(self, now: float) -> float:
        """Units available at ``now`` (may be negative)."""
        self._level = min(self.capacity, self._level + (now - self._stamp) * self._rate)
        self._stamp = now
        return self._level

    def take(self, amount: float, now: float) -> None:
        """Remove ``amount`` units (negative amounts refund)."""
        self._level = min(self.capacity, self.level(now) - amount)

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` units are available."""
        return max(0.0, (amount - self.level(now)) / self._rate)

    def snapshot(self, now: float) -> tuple[int, int, float]:
        """``(limit, remaining, reset_seconds)`` for ``rate_limits.updated``."""
        level = self.level(now)
        remaining = max(0, math.floor(level))
        return self.capacity, remaining, round((self.capacity - level) / self._rate, 3)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused: which limit and the service's message."""

    kind: str  # "requests" | "tokens"
    message: str


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
    """The emulator's RPM and TPM buckets plus the figures tests need.

    Args:
        rpm: requests per minute.
        tpm: tokens per minute.
    """

    def __init__(self, rpm: int, tpm: int) -> None:
        now = trio.current_time()
        self.requests = TokenBucket(rpm, now)
        self.tokens = TokenBucket(tpm, now)
        self.request_window = WindowCounter()
        self.token_window = WindowCounter()

    def admit(self, model: str, estimate: int) -> Refusal | None:
        """Admit one request reserving ``estimate`` tokens, or say why not.

        Args:
            model: model id, for the message.
            estimate: tokens reserved (input + largest possible output).

        Returns:
            ``None`` when admitted (both buckets debited), else the refusal.
        """
        now = trio.current_time()
        if self.requests.level(now) < 1:
            return self._refusal("requests", model, self.requests, 1, now)
        if self.tokens.level(now) < estimate:
            return self._refusal("tokens", model, self.tokens, estimate, now)
        self.requests.take(1, now)
        self.tokens.take(estimate, now)
        self.request_window.add(1, now)
        self.token_window.add(estimate, now)
        return None

    def settle(self, reserved: int, used: int) -> None:
        """Correct a reservation once the real usage is known."""
        now = trio.current_time()
        self.tokens.take(used - reserved, now)
        self.token_window.add(used - reserved, now)

    def snapshot(self) -> tuple[tuple[int, int, float], tuple[int, int, float]]:
        """``(requests, tokens)`` as ``(limit, remaining, reset_seconds)``."""
        now = trio.current_time()
        return self.requests.snapshot(now), self.tokens.snapshot(now)

    def refusal_message(self, kind: str, model: str, requested: int) -> str:
        """The service's rate-limit message for a request of ``requested`` units."""
        bucket = self.requests if kind == "requests" else self.tokens
        return self._refusal(kind, model, bucket, requested, trio.current_time()).message

    def fault_message(self, model: str, requested: int, wait_s: float) -> str:
        """A token refusal for an injected fault: the budget spent, free again in ``wait_s``."""
        cap = self.tokens.capacity
        return _message("tokens", model, cap, cap, requested, wait_s)

    @staticmethod
    def _refusal(kind: str, model: str, bucket: TokenBucket, requested: int, now: float) -> Refusal:
        used = bucket.capacity - max(0, math.floor(bucket.level(now)))
        wait = bucket.wait_for(requested, now)
        return Refusal(kind, _message(kind, model, bucket.capacity, used, requested, wait))


def _message(kind: str, model: str, limit: int, used: int, requested: int, wait_s: float) -> str:
    unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
    return (
        f"Rate limit reached for {model} in organization org-emulator on {unit}: "
        f"Limit {limit}, Used {used}, Requested {requested}. Please try again "
        f"in {wait_s:.3f}s. Visit https://platform.openai.com/account/rate-limits to learn more."
    )
