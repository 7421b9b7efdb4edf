"""How the service has been answering lately: isolated failures or a streak.

Exponential backoff protects a service in trouble, and costs a healthy one's jobs
their unlucky tail: at 20 % random server errors on 0.1-s answers, a job that
fails four times in a row waits up to 7.5 s, and the run waits for it. Retry
budgets (Finagle's, gRPC's retry throttling, the AWS SDKs' retry quota) draw the
line by the share of recent requests that failed; so does this: while at most
:data:`~rtbatch.defaults.ISOLATED_FAILURE_SHARE` of the run's last tries failed,
a failure is that job's bad luck and is retried within about one try's time (the
median of recent successful tries, never more than the backoff would wait);
past it, or before enough tries were seen, every failure backs off in full.

Refusals (rate and capacity limits) are not counted: the pacer answers them.
"""

from __future__ import annotations

import heapq
import statistics
from collections import deque

from rtbatch.defaults import (
    ISOLATED_FAILURE_SHARE,
    RECENT_TRIES,
    RECENT_TRIES_MIN,
    STALLED_STREAK_SHARE,
)


class RecentTries:
    """The outcome of the run's last tries that ran, and how long the good ones took.

    The window is of the ``window`` tries that ended last *in the order they
    started*: by end time, a run's drain would be all failures, since a failing try
    (a stall, a timeout) ends later than a good one started with it, and the unlucky
    tail would back off in full exactly when it decides the run's end. A try that
    ends after ``window`` later-started ones did no longer counts.
    """

    __slots__ = ("_durations", "_failures", "_next", "_outcomes", "_stalls", "_window")

    def __init__(self, window: int = RECENT_TRIES) -> None:
        self._window = window
        # (start ordinal, failed, stalled), the earliest-started first: a heap kept at
        # `window` entries.
        self._outcomes: list[tuple[int, bool, bool]] = []
        self._durations: deque[float] = deque(maxlen=window)
        self._failures = 0
        self._stalls = 0
        self._next = 0

    def started(self) -> int:
        """A try starts; its ordinal, to give back when it ends."""
        self._next += 1
        return self._next - 1

    def _note(self, ordinal: int | None, failed: bool, stalled: bool) -> None:
        if ordinal is None:
            ordinal = self.started()  # it failed before it could start (an open)
        entry = (ordinal, failed, stalled)
        if len(self._outcomes) < self._window:
            heapq.heappush(self._outcomes, entry)
        else:
            # The earliest-started of the window and this one: the earlier goes.
            _, gone_failed, gone_stalled = heapq.heappushpop(self._outcomes, entry)
            self._failures -= gone_failed
            self._stalls -= gone_stalled
        self._failures += failed
        self._stalls += stalled

    def succeeded(self, seconds: float, ordinal: int | None = None, *, parts: int = 0) -> None:
        """A try answered after ``seconds`` (``ordinal``: from :meth:`started`).

        ``parts``: how many of its parts answered (:meth:`part_answered`), each
        counted already; a try of parts is then only timed.
        """
        if not parts:
            self._note(ordinal, False, False)
        self._durations.append(seconds)

    def part_answered(self) -> None:
        """One of a try's requests answered: a response, a tool round, a segment's transcript.

        Each counts as an outcome: a try of many requests fails far more often than
        one request does, and counted as one outcome it would make random failures
        look like a streak (a tool job's two responses, at 20 % each, fail 36 % of
        tries; a long file's many segments, most of them).
        """
        self._note(None, False, False)

    def failed(self, ordinal: int | None = None, *, stalled: bool = False) -> None:
        """A try ran and failed (a refusal is not counted); ``stalled``: for silence."""
        self._note(ordinal, True, stalled)

    @property
    def failure_share(self) -> float:
        """The share of the window's tries that failed (0 before any)."""
        return self._failures / len(self._outcomes) if self._outcomes else 0.0

    def stalling(self) -> bool:
        """Most recent tries stalled: over STALLED_STREAK_SHARE, of RECENT_TRIES_MIN or more."""
        known = len(self._outcomes)
        return known >= RECENT_TRIES_MIN and self._stalls > STALLED_STREAK_SHARE * known

    def quick_retry_s(self) -> float | None:
        """The longest wait an isolated failure's retry needs, or None: back off in full.

        None until :data:`~rtbatch.defaults.RECENT_TRIES_MIN` tries (or parts of
        tries) ended and one answered, and while the failures are more than their
        isolated share.
        """
        if len(self._outcomes) < RECENT_TRIES_MIN or not self._durations:
            return None
        if self.failure_share > ISOLATED_FAILURE_SHARE:
            return None
        return statistics.median(self._durations)
