"""Progress while a run goes: a bar on a terminal, steady log lines elsewhere.

This module renders; it knows nothing of the run. The run hands the reporter a
callable that returns a :class:`Snapshot` of its counters.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

import trio

log = logging.getLogger("rtbatch.progress")

TTY_REFRESH_S = 0.2
LOG_INTERVAL_S = 10.0
BAR_WIDTH = 24

SnapshotFn = Callable[[], "Snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The figures one progress line shows."""

    done: int
    failed: int
    in_flight: int
    todo: int | None
    tokens: int
    elapsed_s: float
    cost_usd: float = 0.0

    @property
    def rate(self) -> float:
        """Jobs finished per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate, when the total is known."""
        if self.todo is None or self.rate <= 0:
            return None
        return max(0, self.todo - self.done) / self.rate


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def render_bar(snap: Snapshot) -> str:
    """One terminal line: bar, counts, rate, ETA, tokens."""
    if snap.todo:
        filled = min(BAR_WIDTH, BAR_WIDTH * snap.done // snap.todo)
        bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "] "
        count = f"{snap.done}/{snap.todo}"
    else:
        bar, count = "", str(snap.done)
    return (
        f"{bar}{count} done, {snap.failed} failed, {snap.in_flight} in flight, "
        f"{snap.rate:.1f} jobs/s, ETA {_eta(snap.eta_s)}, {snap.tokens:,} tokens, "
        f"${snap.cost_usd:.4f}"
    )


def render_log(snap: Snapshot) -> str:
    """One plain, greppable log line."""
    total = "?" if snap.todo is None else str(snap.todo)
    return (
        f"progress done={snap.done}/{total} failed={snap.failed} in_flight={snap.in_flight} "
        f"rate={snap.rate:.1f}/s eta={_eta(snap.eta_s)} tokens={snap.tokens} "
        f"cost_usd={snap.cost_usd:.6f}"
    )


def reporter(
    stream: TextIO | None = None, *, interval_s: float = LOG_INTERVAL_S
) -> Callable[[SnapshotFn], Awaitable[None]]:
    """A progress task: a bar on a TTY, else a log line every ``interval_s``.

    The task runs until cancelled, reading a fresh snapshot at each tick; on a
    TTY it clears its line when it ends, so the summary starts on a clean line.
    """
    out = stream or sys.stderr
    tty = out.isatty()

    async def report(snapshot: SnapshotFn) -> None:
        try:
            while True:
                await trio.sleep(TTY_REFRESH_S if tty else interval_s)
                snap = snapshot()
                if tty:
                    out.write("\r\x1b[2K" + render_bar(snap))
                    out.flush()
                else:
                    log.info(render_log(snap))
        finally:
            if tty:
                out.write("\r\x1b[2K")
                out.flush()

    return report
