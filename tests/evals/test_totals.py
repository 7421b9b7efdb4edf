"""The checks of a run's lines counted (rtbatch/evals/totals.py): pass rate, failures by name."""

from __future__ import annotations

from rtbatch.evals.totals import CheckTotals


def _line(*verdicts: tuple[str, bool | None]) -> tuple[list[dict[str, object]], bool]:
    results = [{"check": name, "passed": passed, "detail": ""} for name, passed in verdicts]
    return results, all(passed is True for _, passed in verdicts)


def test_jobs_passed_over_jobs_checked() -> None:
    """A line without checks counts nothing; not-run checks are not failures."""
    totals = CheckTotals()
    totals.add(None, None)
    totals.add(*_line(("contains", True), ("max_words", True)))
    totals.add(*_line(("contains", False), ("max_latency_ms", False), ("max_latency_ms", True)))
    totals.add(*_line(("contains", False)))
    totals.add(*_line(("regex", None)))
    assert totals.to_dict() == {
        "jobs": 4,
        "passed": 1,
        "pass_rate": 0.25,
        "not_run": 1,
        "failed_by_check": {"contains": 2, "max_latency_ms": 1},
        "settled_failed": 0,
    }
    assert totals.render() == (
        "checks: 1/4 jobs passed (25.0%); failed: contains 2, max_latency_ms 1; "
        "1 not run (the job failed)"
    )
    assert totals.any_failed


def test_no_checks_no_line() -> None:
    """A run without expect prints no checks line, and its rate is null."""
    totals = CheckTotals()
    assert totals.render() is None
    assert totals.pass_rate is None and not totals.any_failed


def test_lines_settled_earlier_are_told_apart() -> None:
    """A resumed run that checked nothing still says a settled line did not pass."""
    totals = CheckTotals(settled_failed=2)
    assert totals.any_failed
    assert (
        totals.render() == "checks: no line of this run checked; 2 settled earlier without passing"
    )
