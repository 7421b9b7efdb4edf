"""How a run ended: its summary and every reason it stopped (:mod:`rtbatch.run.stop`)."""

from __future__ import annotations

from dataclasses import dataclass

from rtbatch import errors
from rtbatch.run.stop import Stop, exit_code
from rtbatch.summary import Summary


@dataclass(frozen=True, slots=True)
class RunReport:
    """How the run ended."""

    summary: Summary
    #: Every reason the run stopped for, in the order met (empty: it ran to its end).
    stops: tuple[Stop, ...] = ()
    #: When a try-later limit resets, from the run's end (None: no such limit, or unknown).
    resets_in_s: float | None = None
    #: ``--fail-on-check``: a line that did not pass its checks makes the run exit 1.
    fail_on_check: bool = False

    def _error(self, reason: str) -> errors.RtbatchError | None:
        return next((s.error for s in self.stops if s.reason == reason), None)

    @property
    def fatal(self) -> errors.RtbatchError | None:
        """The run-fatal error that stopped the run, if one did."""
        return self._error("fatal")

    @property
    def try_later(self) -> errors.RtbatchError | None:
        """The limit that resets later than the run could wait, if one stopped it."""
        return self._error("try_later")

    def _met(self, reason: str) -> bool:
        return any(s.reason == reason for s in self.stops)

    @property
    def interrupted(self) -> bool:
        """A signal stopped the run."""
        return self._met("interrupted")

    @property
    def deadline_reached(self) -> bool:
        """``--deadline`` cancelled the run (and no signal did)."""
        return self._met("deadline")

    @property
    def budget_reached(self) -> bool:
        """``--max-cost`` stopped new jobs."""
        return self._met("budget")

    @property
    def exit_code(self) -> int:
        """The process exit code a scheduler acts on."""
        # The checks answer for the result file: this run's lines and the ones an
        # earlier run settled (a run interrupted, then resumed, still fails on them).
        return exit_code(
            self.stops,
            failed=bool(self.summary.counts.get("failed")),
            checks_failed=self.fail_on_check and self.summary.checks.any_failed,
        )
