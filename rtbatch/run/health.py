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

import statistics
from collections import deque

from rtbatch.defaults import ISOLATED_FAILURE_SHARE, RECENT_TRIES, RECENT_TRIES_MIN


class RecentTries:
    """The outcome of the run's last tries that ran, and how long the good ones took."""

    __slots__ = ("_durations", "_failures", "_outcomes")

    def __init__(self, window: int = RECENT_TRIES) -> None:
        self._outcomes: deque[bool] = deque(maxlen=window)  # True: the try failed
        self._durations: deque[float] = deque(maxlen=window)
        self._failures = 0

    def _note(self, failed: bool) -> None:
        if len(self._outcomes) == self._outcomes.maxlen:
            self._failures -= self._outcomes[0]
        self._outcomes.append(failed)
        self._failures += failed

    def succeeded(self, seconds: float) -> None:
        """A try answered after ``seconds``."""
        self._note(False)
        self._durations.append(seconds)

    def failed(self) -> None:
        """A try ran and failed (a refusal is not counted)."""
        self._note(True)

    @property
    def failure_share(self) -> float:
        """The share of the last tries that failed (0 before any)."""
        return self._failures / len(self._outcomes) if self._outcomes else 0.0

    def quick_retry_s(self) -> float | None:
        """The longest wait an isolated failure's retry needs, or None: back off in full.

        None until :data:`~rtbatch.defaults.RECENT_TRIES_MIN` tries answered, and
        while the failures are more than their isolated share.
        """
        if len(self._durations) < RECENT_TRIES_MIN:
            return None
        if self.failure_share > ISOLATED_FAILURE_SHARE:
            return None
        return statistics.median(self._durations)
