"""The spend limit of ``--max-cost``: may one more job start without passing it?"""

from __future__ import annotations

from rtbatch.cost import to_nanos


class Budget:
    """A spend limit (``--max-cost``): may one more job start without passing it?

    The spend counted against the limit is what finished jobs cost plus the
    estimates of the jobs in flight. A job is admitted when that, plus its own
    estimate, stays within the limit. The first refusal is final: from then on
    no job is admitted, so a run stops starting jobs at one point and a rerun
    (with a larger limit) continues from there. Amounts are kept in nano-dollars,
    so the comparisons are exact.
    """

    __slots__ = ("_in_flight", "_limit", "_spent", "_stopped")

    def __init__(self, limit_usd: float) -> None:
        """Start with nothing spent.

        Args:
            limit_usd: the most the run may spend, in USD.

        Raises:
            ValueError: the limit is negative or not a finite number.
        """
        self._limit = to_nanos(limit_usd, "max_cost")
        self._spent = 0
        self._in_flight = 0
        self._stopped = False

    @property
    def stopped(self) -> bool:
        """Whether a job has been refused (and every later one will be)."""
        return self._stopped

    def admit(self, estimate_usd: float) -> bool:
        """Whether a job estimated at ``estimate_usd`` may start.

        Raises:
            ValueError: the estimate is negative or not finite.
        """
        estimate = to_nanos(estimate_usd, "estimate_usd")
        if not self._stopped and self._spent + self._in_flight + estimate > self._limit:
            self._stopped = True
        return not self._stopped

    def start(self, estimate_usd: float) -> None:
        """A job estimated at ``estimate_usd`` has started."""
        self._in_flight += to_nanos(estimate_usd, "estimate_usd")

    def finish(self, estimate_usd: float, actual_usd: float | None) -> None:
        """A started job has ended.

        Args:
            estimate_usd: the estimate it was started with.
            actual_usd: what it cost; None when unknown, and then the estimate
                counts as spent.

        Raises:
            ValueError: more is finished than was started, or an amount is
                negative or not finite.
        """
        estimate = to_nanos(estimate_usd, "estimate_usd")
        if estimate > self._in_flight:
            raise ValueError("finish: no job with that estimate is in flight")
        self._in_flight -= estimate
        self._spent += estimate if actual_usd is None else to_nanos(actual_usd, "actual_usd")
