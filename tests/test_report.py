"""rtbatch.report: how a run ended becomes the exit code a scheduler acts on."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

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
from rtbatch.report import RunReport
from rtbatch.summary import Summary


def _report(failed: int = 0, **kw: Any) -> RunReport:
    return RunReport(Summary(counts=Counter(completed=3, failed=failed)), **kw)


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (_report(), EXIT_OK),
        (_report(failed=1), EXIT_FAILED),
        (_report(failed=1, budget_reached=True), EXIT_BUDGET),
        (_report(budget_reached=True, try_later=errors.DailyLimitReached("rpd")), EXIT_TRY_LATER),
        (_report(try_later=errors.DailyLimitReached("rpd"), interrupted=True), EXIT_INTERRUPTED),
        (_report(deadline_reached=True), EXIT_INTERRUPTED),
        (_report(interrupted=True, fatal=errors.AuthenticationFailed("key")), EXIT_FATAL),
        (_report(fatal=errors.InternalError("bug")), EXIT_INTERNAL),
    ],
)
def test_exit_code_takes_the_gravest_ending(report: RunReport, code: int) -> None:
    """A bug outranks a fatal error, then an interrupt, try-later, the budget, failures."""
    assert report.exit_code == code
