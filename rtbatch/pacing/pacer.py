"""When the next request may start: the account's limits, as the service states them.

A *request* is a generation (``response.create``, a commit that transcribes), not a
connection: a worker takes a :meth:`Pacer.slot` around each generation, and the pacer
lets it start once every limit below allows it. Each signal acts in proportion to
what it says, and none lingers past its meaning (the constants, with their reasons,
are in :mod:`rtbatch.pacing.buckets`):

* **Concurrency** (``-c``) caps the requests in flight. It is the only figure the
  pacer lowers on its own, and only for *sustained* refusals (below).
* **The user's ``--rpm`` / ``--tpm``** are token buckets that start full, as the
  service's do: the first bucket's worth starts at once, then starts follow the
  refill rate (``limit / 60`` per second). A request reserves the typical request's
  tokens when it starts; the reservation is returned when its slot ends and its real
  usage (:meth:`Pacer.on_done`) is charged instead.
* **The service's figures** (``rate_limits.updated``, and the ``Limit … Used …
  Requested …`` of a refusal's message, which :mod:`rtbatch.retry` turns into the
  same entries) drive a model of the service's own buckets: each report sets the
  level to its ``remaining``, less what we started in the last 0.25 s (the service
  may not have seen those yet); it refills at ``limit / 60`` per second and every
  start debits it. A request waits until the model says the service would take it.
  The service reserves a request's tokens when it admits it, so ``remaining``
  already nets out what is in flight; waiting for the whole ``reset_seconds`` would
  leave the account idle while its bucket refills, so the pacer waits only until the
  next request fits.
* **A refusal** holds new starts for what it says: "try again in 35ms" holds them for
  35 ms (the newest refusal's word replaces an older one's; hints never add up), and
  no longer than the refusal's own figures allow ("Limit 40000, Used 39000, Requested
  2000" frees the request in 1.5 s, whatever the hint says). The starts after it are
  not spaced out, so one refusal never slows the jobs that follow. Everything a hold's
  end lets go starts at that instant. A rate refusal without a hint holds starts for
  0.1 s; that hold doubles, up to 2 s, only while refusals keep arriving within a
  second of the previous one's end.
* **A capacity refusal** (``inference_rate_limit_exceeded``: no hint, no figures) is
  the service being busy, not the account being spent: it holds no start; the refused
  job alone waits a short jittered backoff (:data:`rtbatch.retry.CAPACITY_RETRY_S`)
  and is tried again on a live connection. The concurrency is cut for them only by a
  trial that shows the cut lowers the share refused without lowering what the
  service admits (:mod:`rtbatch.pacing.capacity`); a cut that did not help is undone.
* **Sustained refusals** lower the concurrency to what is still running (each by at
  least one): :data:`SUSTAINED_REFUSALS` rate refusals that are also at least
  :data:`RATE_SHARE` of the starts since the last
  hold ended (so many wait that each hold's end sends a burst the bucket cannot take;
  a steady minority of refusals says nothing about what is in flight). Once nothing sustained
  happened for a second, clean completions raise the concurrency by 1, 2, 4, … every
  0.5 s: gently near the level that was refused, and from 1 back to 64 in 3.5 s.
* **A learned request rate**, when rate refusals are sustained though every hold was
  honoured (a service whose messages state no figures): the requests admitted between
  the ends of two consecutive holds over the time between them is the service's
  refill rate (its bucket was empty at both instants), and starts are spaced at that
  rate. Every 20 clean completions it is probed higher by growing steps; a refusal
  sends it back to the last rate that ran clean.

* **A shard's share** (:mod:`rtbatch.pacing.share`): the service's figures are the whole
  account's, so one of N shards refills its model of the service's buckets at its
  share of the rate, and probes, one start at a time, for what other shards leave
  idle. A probe's outcome comes back with its :class:`Ticket`.

A handshake refused with 429 is not a refused request: it delays the connection that
met it (by its ``retry-after``) and nothing else, so it is not reported here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from rtbatch.config import AT_LEAST_ONE, CONCURRENCY
from rtbatch.pacing.buckets import LIMIT_WINDOW_S, Allowance, Bucket, Hold, LearnedRate
from rtbatch.pacing.capacity import CapacityTrial
from rtbatch.pacing.share import Share

#: Refusals within :data:`~rtbatch.pacing.buckets.SUSTAIN_WINDOW_S` that make them sustained.
SUSTAINED_REFUSALS = 3
#: ... and, for rate refusals, the share they must reach of the starts since the last
#: hold ended.
RATE_SHARE = 0.5
#: Weight of the newest request in the typical request's tokens (an exponential average).
TOKENS_EWMA = 0.1
#: Clock slack when comparing computed instants (float sums of refill intervals).
EPSILON_S = 1e-9

_LIMIT_NAMES = ("requests", "tokens")


class Ticket:
    """One request's slot: hand it back with its outcome (:meth:`Pacer.on_done`, ``on_refusal``).

    Attributes:
        probe: the request started beyond the shard's share, to find idle capacity.
    """

    __slots__ = ("probe", "started_at", "window")

    def __init__(self) -> None:
        self.probe = False
        self.started_at = -math.inf
        self.window = -1  # the capacity trial's window it started in


class _Waiter:
    """One caller of :meth:`Pacer.slot` waiting to start."""

    __slots__ = ("admitted", "event", "reserved", "ticket")

    def __init__(self) -> None:
        self.admitted = False
        self.event = trio.Event()
        self.reserved = 0.0
        self.ticket = Ticket()


class Pacer:
    """Decides when the next request may start. One per run, shared by all workers.

    Args:
        concurrency: requests allowed in flight (the run's ``-c``; never exceeded).
        rpm: the user's cap on requests started per minute, or ``None``.
        tpm: the user's cap on tokens per minute, or ``None``.
        share: this process's share of the account (:class:`~rtbatch.pacing.share.Share`, or
            ``1 / N`` for one of N shards): the service's figures are the whole
            account's, so a shard refills its model of the service's buckets at its
            share of the rate (together the shards refill at the account's), and takes
            what the service reports left as it is (left over only while the other
            shards do not use it).

    Raises:
        ValueError: a figure is out of the settings' range (:mod:`rtbatch.config`).
    """

    def __init__(
        self,
        concurrency: int,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        share: Share | float = 1.0,
    ) -> None:
        # The settings' own ranges: a pacer built by hand is held to what the CLI checks.
        CONCURRENCY.check("concurrency", concurrency)
        AT_LEAST_ONE.check("rpm", rpm)
        AT_LEAST_ONE.check("tpm", tpm)
        self._share = share if isinstance(share, Share) else Share(share)
        self._admitted = 0  # requests started and not refused
        self._limit = Allowance(concurrency)
        self._capacity = CapacityTrial(concurrency)
        self._in_flight = 0
        self._rpm = Bucket(rpm) if rpm else None
        self._tpm = Bucket(tpm) if tpm else None
        self._server: dict[str, Bucket] = {}
        self._job_tokens = 0.0
        self._requested_tokens = 0.0
        self._hold = Hold()
        self._released = -math.inf
        self._learned = LearnedRate()
        self._batch_starts = 0  # since the last hold ended
        self._batch_refused = 0
        self._last_rate_sustained = -math.inf
        self._waiters: deque[_Waiter] = deque()
        #: Refusals reported (rate and capacity).
        self.refusals = 0
        #: Times sustained refusals cut the concurrency.
        self.cuts = 0
        #: Probes started beyond the share, and those the account took.
        self.probes = 0
        self.probes_admitted = 0

    # -- what the pool reads ---------------------------------------------------

    @property
    def concurrency(self) -> int:
        """Requests currently allowed in flight (``-c`` unless refusals cut it)."""
        return min(self._limit.allowed, self._capacity.ceiling)

    @property
    def capacity_trials(self) -> tuple[int, int]:
        """Concurrency cuts tried for capacity refusals, and those kept."""
        return self._capacity.trials, self._capacity.kept

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    @property
    def learned_rate(self) -> float | None:
        """Requests per second learned from sustained refusals, if any."""
        bucket = self._learned.bucket
        return bucket.rate if bucket is not None else None

    def slot(self) -> AbstractAsyncContextManager[Ticket]:
        """Wait until a new request may start under every limit, then hold one unit of concurrency.

        Waiters start first come, first served. Cancelled while waiting, a waiter
        takes nothing; the unit is given back however the body ends.

        Returns:
            An async context manager: enter before the request is sent, exit when it
            ended; it gives the request's :class:`Ticket`.
        """
        return self._slot()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[Ticket]:
        waiter = await self._admit()
        try:
            yield waiter.ticket
        finally:
            self._end(waiter)

    async def _admit(self) -> _Waiter:
        """Queue and wait to be admitted; the waiter holds its ticket and reserved tokens.

        Admission happens in :meth:`_dispatch`, which admits every waiter that may go
        in one synchronous pass: all requests a hold's end lets go start at that
        instant, before the answer to the first of them can hold the others back.
        The first waiter keeps the time (sleeps until the next start is due); the
        others sleep until admitted or until they come first.
        """
        await trio.lowlevel.checkpoint()
        waiter = _Waiter()
        self._waiters.append(waiter)
        self._dispatch()
        try:
            while not waiter.admitted:
                timing = self._waiters[0] is waiter and self._in_flight < self.concurrency
                waiter.event = trio.Event()
                with trio.move_on_at(self._ready_at() if timing else math.inf):
                    await waiter.event.wait()
                if not waiter.admitted:
                    self._dispatch()
        except BaseException:
            if waiter.admitted:
                self._end(waiter)  # admitted as it was cancelled: never sent
            else:
                self._waiters.remove(waiter)
                self._poke()
            raise
        return waiter

    def _dispatch(self) -> None:
        """Admit waiters, first come first served, while every limit allows a start now.

        A probe follows a start of this pass: that start has just taken what the
        account had, so an account the other shards use refuses the probe.
        """
        now = trio.current_time()
        admitted = False
        probes = 0  # the probes the last own start of this pass allows
        while self._waiters and self._in_flight < self.concurrency:
            probe = False
            if self._ready_at() <= now + EPSILON_S:
                probes = self._share.probes_after_start(now) if "requests" in self._server else 0
            elif probes > 0 and self._ready_at(probe=True) <= now + EPSILON_S:
                probe, probes = True, probes - 1
                self.probes += 1
            else:
                break
            waiter = self._waiters.popleft()
            waiter.ticket.probe = probe
            waiter.reserved = self._start(now, probe=probe)
            waiter.ticket.window = self._capacity.started(self.concurrency)
            waiter.ticket.started_at = now
            waiter.admitted = True
            waiter.event.set()
            admitted = True
        if admitted:
            self._poke()  # a new first waiter: it keeps the time now

    def _poke(self) -> None:
        """Wake the first waiter to look again (a limit eased, or it has just come first)."""
        if self._waiters:
            self._waiters[0].event.set()

    def _ready_at(self, *, probe: bool = False) -> float:
        """When every limit allows the next start (a probe disregards the service's requests)."""
        ready = self._hold.until
        costs = (
            (self._rpm, 1.0),
            (self._tpm, self._job_tokens),
            (None if probe else self._server.get("requests"), 1.0),
            (self._server.get("tokens"), self._tokens_per_request()),
            (self._learned.bucket, 1.0),
        )
        for bucket, cost in costs:
            if bucket is not None:
                ready = max(ready, bucket.ready_at(cost))
        return ready

    def _start(self, now: float, *, probe: bool = False) -> float:
        if self._released < self._hold.until <= now:
            self._released = self._hold.until
            self._batch_starts = self._batch_refused = 0
            self._learned.released(self._hold.until, self._last_rate_sustained)
        self._capacity.in_flight(now, self._in_flight + 1)
        self._in_flight += 1
        self._admitted += 1
        self._batch_starts += 1
        self._learned.started(now)
        if self._rpm is not None:
            self._rpm.charge(1, now)
        if (requests := self._server.get("requests")) is not None and not probe:
            requests.charge(1, now)  # a probe asks for what the model does not count
        if (server_tokens := self._server.get("tokens")) is not None:
            # Nothing is given back: the service's next figures say what it settled.
            server_tokens.charge(self._tokens_per_request(), now)
        if self._tpm is None:
            return 0.0
        self._tpm.charge(self._job_tokens, now)
        return self._job_tokens

    def _end(self, waiter: _Waiter) -> None:
        now = trio.current_time()
        self._capacity.in_flight(now, self._in_flight - 1)
        self._in_flight -= 1
        reserved = waiter.reserved
        if self._tpm is not None and reserved:
            self._tpm.charge(-reserved, now)
        self._dispatch()
        self._poke()

    def _tokens_per_request(self) -> float:
        """What the service reserves for a request: its own figure when a refusal named one."""
        return max(self._job_tokens, self._requested_tokens)

    # -- what the pool reports -------------------------------------------------

    def on_rate_limits(
        self, limits: Iterable[Mapping[str, Any]], *, as_of: float | None = None
    ) -> None:
        """Read the service's figures (a ``rate_limits.updated`` event's ``rate_limits``).

        Args:
            limits: entries ``{"name": "requests" | "tokens", "limit", "remaining",
                "reset_seconds"}``; a refusal's parsed figures also carry ``requested``.
                Entries of other names or without numbers are ignored.
            as_of: when the service made them, if they were read later than they
                came (a report that waited in a session's buffer for its next job).
        """
        self._sync(limits, trio.current_time(), as_of)
        self._dispatch()
        self._poke()

    def on_refusal(
        self,
        retry_after_s: float | None,
        *,
        capacity: bool,
        limits: Iterable[Mapping[str, Any]] = (),
        ticket: Ticket | None = None,
    ) -> None:
        """A request was refused before it ran.

        Args:
            retry_after_s: the service's "try again in", or ``None``.
            capacity: ``True`` for a capacity refusal (``inference_rate_limit_exceeded``),
                ``False`` for a rate-limit refusal.
            limits: the refusal's figures (:attr:`rtbatch.errors.RateLimited.limits`);
                they set the model of the service's bucket.
            ticket: the refused request's slot, when it had one.
        """
        now = trio.current_time()
        self.refusals += 1
        self._admitted -= 1
        figures = list(limits)
        fits_at = self._sync(figures, now)
        if retry_after_s is not None:
            # A hint its own figures contradict is held only until, by the model those
            # figures have just set, the refused request fits.
            if fits_at is not None:
                retry_after_s = min(retry_after_s, max(0.0, fits_at - now))
            self._hold.hinted(now, retry_after_s)
        elif not capacity:
            self._hold.unhinted(now)
        # A capacity refusal says nothing of the account or of the other shards: it
        # holds no one; the refused job alone waits (rtbatch.retry.CAPACITY_RETRY_S),
        # and the concurrency is cut only by a trial that shows the cut helps.
        if not capacity:
            self._rate_refusal(now, ticket, bool(figures))
        if ticket is not None:
            self._capacity.resolved(
                ticket.window, now, started_at=ticket.started_at, refused=capacity
            )
        self._dispatch()  # a hold shortened by a newer hint, or figures that allow a start
        self._poke()

    def _rate_refusal(self, now: float, ticket: Ticket | None, with_figures: bool) -> None:
        """What a rate refusal says of the share, the learned rate and what is in flight."""
        self._shared_refusal(now, ticket)
        self._learned.refused()
        self._batch_refused += 1
        refused, starts = self._batch_refused, self._batch_starts
        # More refusals than starts are not answers to these starts (a refused
        # upgrade, say): they say nothing about how many wait.
        sustained = SUSTAINED_REFUSALS <= refused <= starts and refused >= RATE_SHARE * starts
        # A rate is learned only from refusals that state no figures: those that do
        # already set the model of the service's bucket, and a learned rate on top
        # of it would throttle a run that random refusals merely interrupt.
        if sustained and not with_figures:
            self._last_rate_sustained = now
        if sustained and self._limit.sustained(now, self._in_flight):
            self.cuts += 1

    def on_done(self, total_tokens: int, ticket: Ticket | None = None) -> None:
        """A request ran (whatever its outcome, unless it was refused).

        Args:
            total_tokens: its usage's ``total_tokens`` (0 when unknown).
            ticket: its slot, when it had one.
        """
        if ticket is not None and ticket.probe:
            self.probes_admitted += 1
            self._share.probe_admitted()
        self._charge_usage(total_tokens)
        self._completed()
        if ticket is not None and self._capacity.resolved(
            ticket.window, trio.current_time(), started_at=ticket.started_at, refused=False
        ):
            self._dispatch()  # a kept cut tried higher
            self._poke()

    def _shared_refusal(self, now: float, ticket: Ticket | None) -> None:
        """What a rate refusal says of this process's share of the account."""
        capacity = self._server["requests"].capacity if "requests" in self._server else 0.0
        if self._share.first_refusal(self._admitted, now, capacity):
            for bucket in self._server.values():
                bucket.set_rate(bucket.capacity * self._share.floor / LIMIT_WINDOW_S, now)
        if ticket is not None and ticket.probe:
            self._share.probe_refused(now, capacity)
        else:
            self._share.refused(now, capacity)

    def _sync(
        self, limits: Iterable[Mapping[str, Any]], now: float, as_of: float | None = None
    ) -> float | None:
        """Set the model of the service's buckets from its figures.

        Returns:
            When, by the model, a request of the figures' ``requested`` size (else a
            typical one) fits every bucket they named; None when they named none.
        """
        fits_at: float | None = None
        for entry in limits:
            name = entry.get("name")
            try:
                limit = float(entry["limit"])
                remaining = float(entry["remaining"])
            except (KeyError, TypeError, ValueError):
                continue
            if name not in _LIMIT_NAMES or not limit > 0 or math.isnan(remaining):
                continue
            bucket = self._server.get(name)
            if bucket is None:
                bucket = self._server[name] = Bucket(limit)
            bucket.sync(limit, remaining, now, self._share.floor, as_of)
            given = entry.get("requested")
            requested = float(given) if isinstance(given, int | float) and given > 0 else None
            if name == "tokens" and requested is not None:
                self._requested_tokens = _average(self._requested_tokens, requested)
            typical = 1.0 if name == "requests" else self._tokens_per_request()
            ready = bucket.ready_at(requested if requested is not None else typical)
            fits_at = ready if fits_at is None else max(fits_at, ready)
        return fits_at

    def _charge_usage(self, total_tokens: int) -> None:
        if total_tokens <= 0:
            return
        self._job_tokens = _average(self._job_tokens, float(total_tokens))
        if self._tpm is not None:
            self._tpm.charge(total_tokens, trio.current_time())

    def _completed(self) -> None:
        now = trio.current_time()
        self._learned.completed()
        if self._limit.completed(now):
            self._dispatch()
            self._poke()


def _average(current: float, new: float) -> float:
    return new if current == 0 else current + TOKENS_EWMA * (new - current)
