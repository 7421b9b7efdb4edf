"""Why a run stops starting jobs, and the exit code that says so, in one place.

A run may meet several reasons before it ends (a signal, then a run-fatal error
among the jobs that were finishing): :class:`StopState` keeps the first of each
kind, and the gravest decides how the run ended. Gravest first:

1. ``fatal``: a run-fatal error (a bug of ours, :class:`~rtbatch.errors.InternalError`,
   is its own exit code);
2. ``interrupted``: a signal; ``deadline``: ``--deadline`` (both exit 130);
3. ``try_later``: a limit resets later than the run can wait;
4. ``budget``: ``--max-cost`` was reached.

With none, the run is done: exit 1 if some job failed (or, with
``--fail-on-check``, some line did not pass its checks), else 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import trio

from rtbatch import errors
from rtbatch.exitcodes import (
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_FATAL,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TRY_LATER,
)

Reason = Literal["fatal", "interrupted", "deadline", "try_later", "budget"]

#: Gravest first; the order the exit code and the summary's ``stopped`` follow.
GRAVITY: tuple[Reason, ...] = ("fatal", "interrupted", "deadline", "try_later", "budget")


@dataclass(frozen=True, slots=True)
class Stop:
    """One reason the run stopped starting jobs."""

    reason: Reason
    #: The error behind a ``fatal`` or ``try_later`` stop.
    error: errors.RtbatchError | None = None
    #: ``try_later``: when the limit resets, on the run's clock (None: unknown).
    resets_at: float | None = None
    #: ``budget``: the ``--max-cost`` reached, in USD.
    max_cost_usd: float | None = None

    @property
    def message(self) -> str:
        """The summary's ``stopped`` line."""
        detail = self.error.message if self.error is not None else ""
        if self.reason == "fatal":
            return f"run-fatal error: {detail}"
        if self.reason == "try_later":
            return f"try later: {detail}"
        if self.reason == "budget":
            return f"--max-cost reached (${self.max_cost_usd:g})"
        return "interrupted" if self.reason == "interrupted" else "deadline reached"


def gravest(stops: tuple[Stop, ...]) -> Stop | None:
    """The stop that decides how the run ended (None: it ran to its end)."""
    return min(stops, key=lambda s: GRAVITY.index(s.reason), default=None)


def exit_code(stops: tuple[Stop, ...], *, failed: bool, checks_failed: bool = False) -> int:
    """The process exit code a scheduler acts on; the one mapping from an ending to a code.

    Args:
        stops: every reason the run stopped for.
        failed: some job of this run ended failed.
        checks_failed: ``--fail-on-check`` is on and a line did not pass its checks.
    """
    stop = gravest(stops)
    if stop is None:
        return EXIT_FAILED if failed or checks_failed else EXIT_OK
    if stop.reason == "fatal":
        return EXIT_INTERNAL if isinstance(stop.error, errors.InternalError) else EXIT_FATAL
    if stop.reason in ("interrupted", "deadline"):
        return EXIT_INTERRUPTED
    return EXIT_TRY_LATER if stop.reason == "try_later" else EXIT_BUDGET


class StopState:
    """The run's one stop state: every reason met (the first of each kind), and an event.

    Intake stops at the first reason; the reasons only accumulate, so how the
    run ended is decided once, at its end (:func:`gravest`).
    """

    def __init__(self) -> None:
        self._stops: dict[Reason, Stop] = {}
        self._event = trio.Event()

    @property
    def stopping(self) -> bool:
        """True once any reason was met: no new jobs start."""
        return self._event.is_set()

    def stop(self, stop: Stop) -> bool:
        """Record a reason and stop intake; True if it is the first of its kind."""
        first = stop.reason not in self._stops
        if first:
            self._stops[stop.reason] = stop
        self._event.set()
        return first

    def get(self, reason: Reason) -> Stop | None:
        """The first stop of ``reason``, if the run met it."""
        return self._stops.get(reason)

    @property
    def stops(self) -> tuple[Stop, ...]:
        """Every reason met, in the order met."""
        return tuple(self._stops.values())

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the run stops meanwhile."""
        with trio.move_on_after(seconds):
            await self._event.wait()
