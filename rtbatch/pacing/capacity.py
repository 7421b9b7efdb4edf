"""Capacity refusals: a concurrency cut kept only where it is seen to help.

A capacity refusal (``inference_rate_limit_exceeded``) names no wait and no figures.
It may mean the service is busy for everyone, and then a cut only slows this run;
or that this run asks for more generations at once than the service will run for
it, and then a cut ends the refusals at no cost. Nothing in the refusal says which,
so the pacer tries.

* **Trigger.** A window of starts (:data:`WINDOW_MIN_STARTS`, or the allowance if
  more) of which :data:`TRIGGER_SHARE` or more were refused for capacity, once the
  concurrency has stood for twice the longest answer seen (so an average over that
  time measures something).
* **Trial.** For one window, the concurrency is lowered to what the service ran for
  us since the concurrency last moved: the time requests spent in flight, less the
  time refused ones held their slots, over the time passed (Little's law, with no
  latency to know). Under random refusals that is nearly everything in flight.
* **Verdict.** The cut is kept only when it at least halved the share refused.
  Refusals that do not depend on how many run are not fewer with fewer running, so
  under them every trial is undone at once, and the next one waits twice as many
  windows as the last: a run under random refusals spends a shrinking part of its
  time in trials, and never settles below what the service admits.
* **Rise.** A kept cut is tried higher again (by a quarter) after clean windows,
  since whatever held the service back may pass; the clean windows a rise needs
  double each time one had to be cut back.

Each start is tagged with its window, and its answer comes back with the tag, so a
refusal counts against the level its request started under, however late it
arrives. A window is judged once every start in it is answered; those open when the
ceiling moved are not judged, and one some answer never reached (a slot given up)
is forgotten at the next move.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("rtbatch.pacing")

#: Starts in a measurement window, at least (the allowance, when it is more).
WINDOW_MIN_STARTS = 20
#: A window's share of capacity refusals that starts a trial cut.
TRIGGER_SHARE = 0.1
#: A cut is kept when the share refused fell to this part of what it was, or less.
HELPED_RATIO = 0.5
#: Clean windows (share below half the trigger) after which a kept cut is tried higher,
#: at first; doubled each time a rise is cut back.
CLEAN_WINDOWS = 2
#: Most windows a trial that did not help makes the next one wait (and most clean
#: windows before a rise).
MAX_WAIT_WINDOWS = 64


@dataclass(slots=True)
class _Window:
    """The starts of one window and what became of them."""

    starts: int = 0
    resolved: int = 0
    refused: int = 0
    full: bool = False

    @property
    def share(self) -> float:
        return self.refused / self.starts


class CapacityTrial:
    """The concurrency ceiling capacity refusals have earned, by trial.

    Args:
        maximum: the run's ``-c``; the ceiling never exceeds it.
    """

    __slots__ = (
        "_area",
        "_area_at",
        "_before",
        "_clean",
        "_clean_needed",
        "_cooldown",
        "_failed",
        "_in_flight",
        "_longest",
        "_open",
        "_period",
        "_refused_area",
        "_windows",
        "ceiling",
        "kept",
        "maximum",
        "trials",
    )

    def __init__(self, maximum: int) -> None:
        self.maximum = self.ceiling = maximum
        self._windows: dict[int, _Window] = {}
        self._open = 0  # the window new starts join
        # The integral of requests in flight over time, and the part of it that
        # refused requests held: the rest is what the service ran for us.
        self._area = self._refused_area = 0.0
        self._area_at: float | None = None  # None: nothing started yet
        self._in_flight = 0
        self._longest = 0.0  # the longest request the service ran
        self._period = (0.0, 0.0, 0.0)  # area, refused area and instant of the last move
        self._before: tuple[float, int] | None = None  # a trial's share before, and ceiling
        self._cooldown = 0  # windows to let pass before the next trial
        self._failed = 0  # trials in a row that did not help
        self._clean = 0
        self._clean_needed = CLEAN_WINDOWS
        #: Trial cuts made, and those kept.
        self.trials = 0
        self.kept = 0

    def started(self, allowed: int) -> int:
        """A request started under ``allowed``; returns its window, to hand back when answered."""
        window = self._windows.setdefault(self._open, _Window())
        window.starts += 1
        tag = self._open
        if window.starts >= max(WINDOW_MIN_STARTS, allowed):
            window.full = True
            self._open += 1
        return tag

    def in_flight(self, now: float, running: int) -> None:
        """The requests in flight become ``running`` at ``now``."""
        if self._area_at is None:
            self._period = (0.0, 0.0, now)  # the run's first start
        else:
            self._area += self._in_flight * (now - self._area_at)
        self._area_at, self._in_flight = now, running

    def resolved(self, tag: int, now: float, *, started_at: float, refused: bool) -> bool:
        """The request of window ``tag``, started at ``started_at``, was answered.

        Args:
            tag: what :meth:`started` returned for it.
            now: the instant of its answer.
            started_at: the instant it started.
            refused: it was refused for capacity.

        Returns:
            Whether the ceiling moved.
        """
        if refused:
            self._refused_area += now - started_at
        else:
            self._longest = max(self._longest, now - started_at)
        window = self._windows.get(tag)
        if window is None:
            return False
        window.resolved += 1
        window.refused += refused
        if not window.full or window.resolved < window.starts:
            return False
        del self._windows[tag]
        before = self.ceiling
        self._judge(window, now)
        if self.ceiling == before:
            return False
        # Every window still open started (partly) under the old ceiling.
        self._windows.clear()
        self._open += 1
        self.in_flight(now, self._in_flight)
        self._period = (self._area, self._refused_area, now)
        return True

    def _served(self, now: float) -> float:
        """Requests the service ran for us at once, on average, since the ceiling last moved.

        Little's law without the latency: the time requests spent in flight, less the
        time refused ones held a slot, over the time passed.
        """
        self.in_flight(now, self._in_flight)
        area, refused_area, since = self._period
        span = now - since
        if span <= 0:
            return float(self.ceiling)
        return ((self._area - area) - (self._refused_area - refused_area)) / span

    def _judge(self, window: _Window, now: float) -> None:
        share = window.share
        if self._before is not None:
            self._conclude(*self._before, share)
        elif self._cooldown > 0:
            self._cooldown -= 1
        elif share >= TRIGGER_SHARE and now - self._period[2] >= 2 * self._longest > 0:
            # Only over twice the longest request seen is the average a measure.
            self._try_cut(share, round(self._served(now)))
        elif share < TRIGGER_SHARE / 2 and self.ceiling < self.maximum:
            self._clean += 1
            if self._clean >= self._clean_needed:
                self._clean = 0
                self.ceiling = min(self.maximum, self.ceiling + max(1, self.ceiling // 4))

    def _try_cut(self, share: float, running: int) -> None:
        target = max(1, min(self.ceiling - 1, running))
        if target >= self.ceiling:
            return
        if self.ceiling < self.maximum:
            # A rise (or the level it rose from) met refusals: rise more rarely.
            self._clean_needed = min(MAX_WAIT_WINDOWS, 2 * self._clean_needed)
        self._before = (share, self.ceiling)
        self.ceiling = target
        self.trials += 1
        self._clean = 0
        log.info(
            "capacity refusals at %.0f %% of starts: trying %d requests in flight (of %d)",
            100 * share,
            target,
            self.maximum,
        )

    def _conclude(self, share_before: float, ceiling_before: int, share: float) -> None:
        self._before = None
        if share <= share_before * HELPED_RATIO:
            self.kept += 1
            self._failed = 0
            log.info(
                "capacity refusals fell from %.0f %% to %.0f %%: keeping %d in flight",
                100 * share_before,
                100 * share,
                self.ceiling,
            )
            return
        self.ceiling = ceiling_before
        self._failed += 1
        self._cooldown = min(MAX_WAIT_WINDOWS, 2**self._failed)
        log.info(
            "capacity refusals at %.0f %% with fewer in flight (%.0f %% before): back to %d",
            100 * share,
            100 * share_before,
            self.ceiling,
        )
