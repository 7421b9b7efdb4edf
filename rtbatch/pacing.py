"""Pacing new jobs: the server's rate-limit figures, our own caps, adaptive concurrency.

Three signals slow a run down, each kept separate:

* ``rate_limits.updated`` says how much of the account's budget is left and
  when it resets; when too little is left for the jobs in flight, new jobs wait
  for the reset.
* ``--rpm`` / ``--tpm`` are the user's own ceilings, enforced on our side with
  a spacing between starts and a token bucket.
* A rate-limit error means the account cannot take the current pace: the
  number of jobs allowed in flight is cut (multiplicative decrease) and grows
  back by one after a window of clean completions (additive increase); and new
  starts are spaced by the server's "try again in" (the time its bucket needs
  for one more request), decaying with each success, so that workers released
  by the same hint do not all return at once and get refused together.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

# Cut the concurrency at most once per this many seconds: a burst of rate-limit
# errors from jobs that started together is one signal, not many.
DECREASE_COOLDOWN_S = 2.0
DECREASE_FACTOR = 0.5
# Learned spacing between starts: never above this, and forgotten below the floor.
MAX_SPACING_S = 30.0
SPACING_FLOOR_S = 0.001
SPACING_DECAY = 0.98


class Pacer:
    """Decides when the next job may start. Shared by all workers of a run."""

    def __init__(self, concurrency: int, *, rpm: int | None = None, tpm: int | None = None) -> None:
        self.limiter = trio.CapacityLimiter(concurrency)
        self._max = concurrency
        self._rpm = rpm
        self._tpm = tpm
        self._not_before = 0.0
        self._next_start = 0.0
        self._tokens = float(tpm) if tpm else 0.0
        self._tokens_at = 0.0
        self._job_tokens = 0.0
        self._clean = 0
        self._last_cut = -math.inf
        self._spacing = 0.0
        self.cuts = 0

    @property
    def concurrency(self) -> int:
        """Jobs currently allowed in flight."""
        return int(self.limiter.total_tokens)

    async def before_start(self) -> None:
        """Wait until a new job may start under every limit."""
        while True:
            now = trio.current_time()
            wake = max(self._not_before, self._next_start, self._token_wait(now))
            if wake <= now:
                break
            await trio.sleep_until(wake)
        gap = max(60.0 / self._rpm if self._rpm else 0.0, self._spacing)
        if gap:
            self._next_start = trio.current_time() + gap
        if self._tpm:
            self._tokens -= self._job_tokens

    def _token_wait(self, now: float) -> float:
        if not self._tpm:
            return now
        rate = self._tpm / 60.0
        self._tokens = min(float(self._tpm), self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        need = min(self._job_tokens, float(self._tpm))
        if self._tokens >= need:
            return now
        return now + (need - self._tokens) / rate

    def on_rate_limits(self, limits: list[dict[str, Any]]) -> None:
        """Read a ``rate_limits.updated`` event's figures."""
        now = trio.current_time()
        in_flight = max(1, self.limiter.borrowed_tokens)
        for entry in limits:
            try:
                remaining = float(entry["remaining"])
                reset = float(entry["reset_seconds"])
            except (KeyError, TypeError, ValueError):
                continue
            need = 1.0 if entry.get("name") == "requests" else self._job_tokens
            if remaining < need * in_flight:
                self._not_before = max(self._not_before, now + reset)

    def on_usage(self, total_tokens: int) -> None:
        """Learn a typical job's size (an exponential average of total tokens)."""
        if total_tokens <= 0:
            return
        if self._job_tokens == 0:
            self._job_tokens = float(total_tokens)
        else:
            self._job_tokens += 0.1 * (total_tokens - self._job_tokens)

    def on_success(self) -> None:
        """A clean completion: after a full window of them, allow one more in flight."""
        self._clean += 1
        self._spacing *= SPACING_DECAY
        if self._spacing < SPACING_FLOOR_S:
            self._spacing = 0.0
        current = self.concurrency
        if current < self._max and self._clean >= current:
            self.limiter.total_tokens = current + 1
            self._clean = 0

    def on_rate_limited(self, retry_after_s: float | None) -> None:
        """The account refused: hold new starts and cut the concurrency."""
        now = trio.current_time()
        if retry_after_s:
            self._not_before = max(self._not_before, now + retry_after_s)
        self._spacing = min(MAX_SPACING_S, max(self._spacing, retry_after_s or 1.0))
        self._clean = 0
        if now - self._last_cut >= DECREASE_COOLDOWN_S and self.concurrency > 1:
            self.limiter.total_tokens = max(1, int(self.concurrency * DECREASE_FACTOR))
            self._last_cut = now
            self.cuts += 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait until a request may start; hold one unit of concurrency meanwhile."""
        async with self.limiter:
            await self.before_start()
            yield

    def on_refusal(self, retry_after_s: float | None, *, capacity: bool) -> None:
        """A refused request."""
        self.on_rate_limited(retry_after_s)

    def on_done(self, total_tokens: int) -> None:
        """A request that ran."""
        self.on_success()
        self.on_usage(total_tokens)

    @property
    def in_flight(self) -> int:
        """Requests holding a slot."""
        return int(self.limiter.borrowed_tokens)
