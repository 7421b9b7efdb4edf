"""The checks of a run's lines, counted: the pass rate and the failures by check name.

Counts this run's lines (a line's ``checks`` and ``passed``, :mod:`rtbatch.evals.checks`),
like the rest of the summary; lines an earlier run settled, which a resumed run
skips, are counted apart (``settled_failed``: those whose ``passed`` is false), so
that ``--fail-on-check`` can answer for the whole result file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CheckTotals:
    """Jobs checked and passed, and failed checks by name.

    Attributes:
        jobs: lines written with checks.
        passed: of them, lines whose every check passed.
        not_run: of them, lines of jobs that did not answer (their checks not run).
        failures: failed checks (``passed`` false) by check name.
        settled_failed: lines an earlier run settled with ``passed`` false (skipped here).
    """

    jobs: int = 0
    passed: int = 0
    not_run: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    settled_failed: int = 0

    def add(self, results: Sequence[Mapping[str, Any]] | None, passed: bool | None) -> None:
        """Count one line's ``checks`` and ``passed`` (a line without checks counts nothing)."""
        if results is None:
            return
        self.jobs += 1
        self.passed += bool(passed)
        if any(r["passed"] is None for r in results):
            self.not_run += 1
        self.failures.update(str(r["check"]) for r in results if r["passed"] is False)

    @property
    def any_failed(self) -> bool:
        """Some line, of this run or settled earlier, did not pass its checks."""
        return self.passed < self.jobs or self.settled_failed > 0

    @property
    def pass_rate(self) -> float | None:
        """Jobs passed ÷ jobs checked (None when none was checked)."""
        return self.passed / self.jobs if self.jobs else None

    def to_dict(self) -> dict[str, Any]:
        """The ``checks`` object of the ``--summary`` JSON."""
        rate = self.pass_rate
        return {
            "jobs": self.jobs,
            "passed": self.passed,
            "pass_rate": None if rate is None else round(rate, 4),
            "not_run": self.not_run,
            "failed_by_check": dict(sorted(self.failures.items())),
            "settled_failed": self.settled_failed,
        }

    def render(self) -> str | None:
        """One line for stderr, or None when no line had checks."""
        if not self.jobs and not self.settled_failed:
            return None
        rate = self.pass_rate
        if rate is None:
            line = "checks: no line of this run checked"
        else:
            line = f"checks: {self.passed}/{self.jobs} jobs passed ({rate:.1%})"
        if self.failures:
            line += "; failed: " + ", ".join(f"{k} {n}" for k, n in sorted(self.failures.items()))
        if self.not_run:
            line += f"; {self.not_run} not run (the job failed)"
        if self.settled_failed:
            line += f"; {self.settled_failed} settled earlier without passing"
        return line
