"""The state behind each of the pacer's signals (see :mod:`rtbatch.pacing.pacer`).

Small, synchronous and clock-free: every method takes ``now`` (trio's clock) from
:class:`~rtbatch.pacing.pacer.Pacer`, so each piece is exact on a virtual clock.
"""

from __future__ import annotations

import bisect
import math

#: Per-minute limits refill their bucket over this many seconds.
LIMIT_WINDOW_S = 60.0
#: Starts this recent may not have reached the service when it reported its figures:
#: a round trip to the service takes tens to a few hundred milliseconds.
TRANSIT_S = 0.25
#: The oldest report a bucket ages to now (charges are remembered this long, plus
#: :data:`TRANSIT_S`); an older one is taken as of this long ago.
REPORT_AGE_MAX_S = 5.0
#: The shortest hold a hint sets: "try again in 0.000s" (a wait rounded away) must
#: not send the next request before the refused one has even been answered.
MIN_HINT_HOLD_S = 0.01
#: The hold after a refusal that names no wait: a tenth of a typical response, so a
#: stray capacity refusal costs little and a response in flight may end meanwhile.
NO_HINT_HOLD_S = 0.1
#: The no-hint hold doubles while refusals keep coming, up to this.
NO_HINT_MAX_HOLD_S = 2.0
#: Refusals within this window are judged together: the answers to requests that
#: started together are one signal, not many.
SUSTAIN_WINDOW_S = 1.0
#: Growth waits this long after the last sustained refusal, then steps every interval.
QUIET_S = 1.0
GROWTH_INTERVAL_S = 0.5
#: A learned rate is probed after this many clean completions, by +5 %, then +10 %,
#: +20 %, … while none is refused: one probe per 20 completions costs at most one
#: refusal in 20 requests when the rate is right, and a limit that went away is
#: forgotten after six clean rounds (120 completions; the rate has grown 3.5-fold).
LEARNED_PROBE_DONE = 20
LEARNED_PROBE_STEP = 0.05


class Bucket:
    """A token bucket kept as the instant it would be empty (a generic cell rate algorithm).

    The level at ``now`` is ``(now - empty_at) * rate``, up to the capacity. Keeping
    an instant rather than a level makes every wait an exact sum of refill intervals,
    which tests on a virtual clock can assert.
    """

    __slots__ = ("_base", "_cums", "_head", "_times", "_total", "capacity", "empty_at", "rate")

    def __init__(self, capacity: float, rate: float | None = None) -> None:
        self.capacity = capacity
        self.rate = rate or capacity / LIMIT_WINDOW_S
        self.empty_at = -math.inf  # full
        # Recent charges as instants and running totals, so what was charged since
        # any instant is one bisection (a sync per response, at hundreds a second).
        self._times: list[float] = []
        self._cums: list[float] = []
        self._head = 0  # the first entry not yet forgotten
        self._total = 0.0
        self._base = 0.0  # the running total before the first entry kept

    def ready_at(self, cost: float) -> float:
        """When ``cost`` units are there (a cost above the capacity waits for a full bucket)."""
        return self.empty_at + min(cost, self.capacity) / self.rate

    def charge(self, cost: float, now: float) -> None:
        """Take ``cost`` units (negative: give back; never above full)."""
        floor = now - self.capacity / self.rate
        self.empty_at = max(self.empty_at, floor) + cost / self.rate
        self._total += cost
        self._times.append(now)
        self._cums.append(self._total)
        self._forget(now)

    def sync(
        self,
        capacity: float,
        remaining: float,
        now: float,
        share: float = 1.0,
        as_of: float | None = None,
    ) -> None:
        """Set the level to what the service reports, less what it may not have seen.

        Args:
            capacity: the limit.
            remaining: what the service reported left (below 0: a debt).
            now: the clock.
            share: this process's part of the refill (one of N shards); what the
                service reports left is taken whole, since it is left only while the
                others leave it.
            as_of: when the service made the report, if earlier than ``now`` (a
                report read late): it is aged to now, refilled since and debited
                with every start since :data:`TRANSIT_S` before it.
        """
        made = now if as_of is None else max(min(as_of, now), now - REPORT_AGE_MAX_S)
        self.capacity = capacity
        self.rate = capacity * share / LIMIT_WINDOW_S
        level = min(remaining, capacity) - self._charged_since(made - TRANSIT_S, now)
        level = min(capacity, level + (now - made) * self.rate)
        self.empty_at = now - level / self.rate

    def set_rate(self, rate: float, now: float) -> None:
        """Refill at ``rate`` from ``now`` on, keeping the level it has now."""
        if self.empty_at == -math.inf:
            self.rate = rate
            return
        level = min(self.capacity, (now - self.empty_at) * self.rate)
        self.rate = rate
        self.empty_at = now - level / rate

    def _forget(self, now: float) -> None:
        horizon = now - TRANSIT_S - REPORT_AGE_MAX_S
        self._head = bisect.bisect_left(self._times, horizon, self._head)
        if self._head > 1024 and self._head * 2 > len(self._times):
            self._base = self._cums[self._head - 1]
            del self._times[: self._head], self._cums[: self._head]
            self._head = 0

    def _charged_since(self, since: float, now: float) -> float:
        """What was charged after ``since`` (the report may not have counted it)."""
        self._forget(now)
        at = bisect.bisect_right(self._times, since, self._head)
        if at >= len(self._times):
            return 0.0
        return self._total - (self._cums[at - 1] if at > 0 else self._base)


class Hold:
    """The instant before which no request starts because of refusals."""

    __slots__ = ("_no_hint_end", "_streak", "until")

    def __init__(self) -> None:
        self.until = -math.inf
        self._streak = 0
        self._no_hint_end = -math.inf

    def hinted(self, now: float, retry_after_s: float) -> None:
        """The newest refusal is the service's latest word on when it admits again."""
        self.until = now + max(MIN_HINT_HOLD_S, retry_after_s)

    def unhinted(self, now: float) -> None:
        """A refusal without a wait: a short hold, longer while refusals keep coming."""
        if now < self.until:
            return  # an answer to a request that started before the hold: same burst
        follows = now - self._no_hint_end <= SUSTAIN_WINDOW_S
        self._streak = self._streak + 1 if follows else 0
        self.until = self._no_hint_end = now + self._hold()

    def _hold(self) -> float:
        return min(NO_HINT_MAX_HOLD_S, NO_HINT_HOLD_S * 2.0**self._streak)


class Allowance:
    """The requests allowed in flight: cut by sustained refusals, grown back by completions."""

    __slots__ = ("_last_growth", "_step", "allowed", "last_sustained", "maximum")

    def __init__(self, maximum: int) -> None:
        self.maximum = self.allowed = maximum
        self.last_sustained = self._last_growth = -math.inf
        self._step = 1

    def sustained(self, now: float, running: int) -> bool:
        """Refusals are sustained: allow no more than what runs. Returns whether it cut.

        The answers to one burst arrive one by one, each after its request ended, so
        the count of what runs falls as they come: the allowance follows it down.
        """
        self.last_sustained = now
        target = max(1, min(self.allowed - 1, running))
        if target >= self.allowed:
            return False
        self.allowed = target
        self._step = 1
        return True

    def completed(self, now: float) -> bool:
        """A clean completion; returns whether the allowance grew."""
        if (
            self.allowed >= self.maximum
            or now - self.last_sustained < QUIET_S
            or now - self._last_growth < GROWTH_INTERVAL_S
        ):
            return False
        self.allowed = min(self.maximum, self.allowed + self._step)
        self._step *= 2
        self._last_growth = now
        return True


class LearnedRate:
    """The service's request rate, measured between the ends of refusal holds."""

    __slots__ = ("_clean", "_good", "_increase", "_mark", "_refused", "_starts", "bucket")

    def __init__(self) -> None:
        self.bucket: Bucket | None = None
        self._good = 0.0  # the last rate that ran clean
        self._increase = LEARNED_PROBE_STEP
        self._mark: tuple[float, int, int] | None = None
        self._starts = 0
        self._refused = 0
        self._clean = 0

    def released(self, hold_end: float, sustained_at: float) -> None:
        """The first start after a hold: measure, if refusals were sustained since the last one."""
        mark, self._mark = self._mark, (hold_end, self._starts, self._refused)
        if mark is None or sustained_at < mark[0]:
            return
        span = hold_end - mark[0]
        admitted = (self._starts - mark[1]) - (self._refused - mark[2])
        if span > 0 and admitted > 0:
            self._good = admitted / span
            # Full (one request): the hold ended where the service has room for one.
            self.bucket = Bucket(1, rate=self._good)
            self._increase = LEARNED_PROBE_STEP
            self._clean = 0

    def started(self, now: float) -> None:
        """A request started: count it, and space the next one when a rate was learned."""
        self._starts += 1
        if self.bucket is not None:
            self.bucket.charge(1, now)

    def refused(self) -> None:
        """A rate refusal: back to the last rate that ran clean, probing from the smallest step."""
        self._refused += 1
        self._clean = 0
        self._increase = LEARNED_PROBE_STEP
        if self.bucket is not None:
            self.bucket.rate = self._good

    def completed(self) -> None:
        """A clean completion: every :data:`LEARNED_PROBE_DONE` of them, probe higher."""
        if self.bucket is None:
            return
        self._clean += 1
        if self._clean < LEARNED_PROBE_DONE:
            return
        self._clean = 0
        self._good = self.bucket.rate
        if self._increase > 1:
            self.bucket = None  # doubled without a refusal: whatever limit it was is gone
            return
        self.bucket.rate *= 1 + self._increase
        self._increase *= 2
