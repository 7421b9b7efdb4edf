"""rtbatch.budget: --max-cost admits a job only while spend stays within the limit."""

from __future__ import annotations

import math

import pytest

from rtbatch.budget import Budget


def test_budget_admits_while_spend_and_flight_stay_within_the_limit() -> None:
    """Spent plus in-flight estimates plus the new estimate may reach the limit, not pass it."""
    budget = Budget(1.00)
    assert budget.admit(0.40)
    budget.start(0.40)
    assert budget.admit(0.60)  # 0.40 in flight + 0.60 = the limit exactly
    budget.start(0.35)
    budget.finish(0.40, 0.45)  # cost more than estimated
    assert budget.admit(0.20)  # 0.45 + 0.35 + 0.20 = 1.00
    assert not budget.admit(0.21)
    assert budget.stopped


def test_budget_refusal_is_final() -> None:
    """Once a job is refused no later job starts, however small."""
    budget = Budget(0.10)
    assert not budget.admit(0.11)
    assert not budget.admit(0.000001)
    assert budget.stopped


def test_budget_sums_are_exact() -> None:
    """0.1 + 0.2 fits a 0.3 limit: amounts are whole nano-dollars, not drifting floats."""
    budget = Budget(0.3)
    budget.start(0.1)
    assert budget.admit(0.2)
    budget.finish(0.1, None)  # unknown actual cost: the estimate counts as spent
    assert budget.admit(0.2)  # 0.1 spent + 0.2 = the limit exactly
    assert not budget.admit(0.200000001)


def test_budget_refuses_bad_amounts() -> None:
    """A negative or non-finite limit, or finishing what never started, is an error."""
    with pytest.raises(ValueError, match="max_cost"):
        Budget(-1.0)
    with pytest.raises(ValueError, match="max_cost"):
        Budget(math.nan)
    budget = Budget(1.0)
    budget.start(0.2)
    with pytest.raises(ValueError, match="in flight"):
        budget.finish(0.3, 0.3)
    with pytest.raises(ValueError, match="estimate_usd"):
        budget.admit(-0.1)
