"""rtbatch.run.report and rtbatch.run.stop: how a run ended becomes its exit code."""

from __future__ import annotations

from collections import Counter

import pytest

from rtbatch import errors
from rtbatch import exitcodes as codes
from rtbatch.run.report import RunReport
from rtbatch.run.stop import Stop
from rtbatch.summary import Summary


def _report(
    failed: int = 0,
    *,
    fatal: errors.RtbatchError | None = None,
    try_later: errors.RtbatchError | None = None,
    interrupted: bool = False,
    deadline_reached: bool = False,
    budget_reached: bool = False,
) -> RunReport:
    stops = [
        *([Stop("budget", max_cost_usd=1.0)] if budget_reached else []),
        *([Stop("try_later", try_later)] if try_later is not None else []),
        *([Stop("interrupted")] if interrupted else []),
        *([Stop("deadline")] if deadline_reached else []),
        *([Stop("fatal", fatal)] if fatal is not None else []),
    ]
    return RunReport(Summary(counts=Counter(completed=3, failed=failed)), tuple(stops))


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (_report(), codes.EXIT_OK),
        (_report(failed=1), codes.EXIT_FAILED),
        (_report(failed=1, budget_reached=True), codes.EXIT_BUDGET),
        (
            _report(budget_reached=True, try_later=errors.DailyLimitReached("rpd")),
            codes.EXIT_TRY_LATER,
        ),
        (
            _report(try_later=errors.DailyLimitReached("rpd"), interrupted=True),
            codes.EXIT_INTERRUPTED,
        ),
        (_report(deadline_reached=True), codes.EXIT_INTERRUPTED),
        (_report(interrupted=True, fatal=errors.AuthenticationFailed("key")), codes.EXIT_FATAL),
        (_report(fatal=errors.InternalError("bug")), codes.EXIT_INTERNAL),
    ],
)
def test_exit_code_takes_the_gravest_ending(report: RunReport, code: int) -> None:
    """A bug outranks a fatal error, then an interrupt, try-later, the budget, failures."""
    assert report.exit_code == code


def _checked(passed: bool, *, fail_on_check: bool, settled_failed: int = 0) -> RunReport:
    summary = Summary(counts=Counter(completed=1))
    summary.checks.add([{"check": "contains", "passed": passed, "detail": ""}], passed)
    summary.checks.settled_failed = settled_failed
    return RunReport(summary, fail_on_check=fail_on_check)


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (_checked(False, fail_on_check=False), codes.EXIT_OK),
        (_checked(False, fail_on_check=True), codes.EXIT_FAILED),
        (_checked(True, fail_on_check=True), codes.EXIT_OK),
        (_checked(True, fail_on_check=True, settled_failed=1), codes.EXIT_FAILED),
        (_checked(True, fail_on_check=False, settled_failed=1), codes.EXIT_OK),
    ],
)
def test_a_failed_check_exits_1_only_with_fail_on_check(report: RunReport, code: int) -> None:
    """--fail-on-check: a line of this run, or one settled earlier, that did not pass exits 1."""
    assert report.exit_code == code


def test_a_graver_ending_outranks_a_failed_check() -> None:
    """An interrupted run exits 130 even with --fail-on-check and a failed check."""
    report = _checked(False, fail_on_check=True)
    assert RunReport(report.summary, (Stop("interrupted"),), fail_on_check=True).exit_code == (
        codes.EXIT_INTERRUPTED
    )
