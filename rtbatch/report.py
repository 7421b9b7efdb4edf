"""How a run ended, and the process exit code a scheduler acts on (:mod:`rtbatch.exitcodes`)."""

from __future__ import annotations

from dataclasses import dataclass

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
from rtbatch.summary import Summary


@dataclass(slots=True)
class RunReport:
    """How the run ended."""

    summary: Summary
    fatal: errors.RtbatchError | None = None
    try_later: errors.RtbatchError | None = None
    resets_in_s: float | None = None
    interrupted: bool = False
    deadline_reached: bool = False
    budget_reached: bool = False

    @property
    def exit_code(self) -> int:
        """The process exit code a scheduler acts on."""
        if isinstance(self.fatal, errors.InternalError):
            return EXIT_INTERNAL
        if self.fatal is not None:
            return EXIT_FATAL
        if self.interrupted or self.deadline_reached:
            return EXIT_INTERRUPTED
        if self.try_later is not None:
            return EXIT_TRY_LATER
        if self.budget_reached:
            return EXIT_BUDGET
        return EXIT_FAILED if self.summary.counts.get("failed") else EXIT_OK
