"""pacing.py: server figures, user caps and adaptive concurrency, on trio's virtual clock."""

from __future__ import annotations

import trio

from rtbatch.pacing import Pacer


async def test_rpm_spaces_starts(autojump_clock: trio.testing.MockClock) -> None:
    """--rpm 60 starts one job a second."""
    pacer = Pacer(4, rpm=60)
    start = trio.current_time()
    times = []
    for _ in range(3):
        await pacer.before_start()
        times.append(trio.current_time() - start)
    assert times == [0.0, 1.0, 2.0]


async def test_exhausted_budget_waits_for_reset(autojump_clock: trio.testing.MockClock) -> None:
    """When rate_limits.updated says the budget is spent, new jobs wait for its reset."""
    pacer = Pacer(4)
    pacer.on_usage(100)
    start = trio.current_time()
    pacer.on_rate_limits([{"name": "tokens", "limit": 1000, "remaining": 50, "reset_seconds": 2.5}])
    await pacer.before_start()
    assert trio.current_time() - start == 2.5


async def test_ample_budget_does_not_wait(autojump_clock: trio.testing.MockClock) -> None:
    """Plenty remaining: no pause."""
    pacer = Pacer(4)
    pacer.on_usage(100)
    pacer.on_rate_limits(
        [{"name": "tokens", "limit": 10**6, "remaining": 10**6, "reset_seconds": 9}]
    )
    start = trio.current_time()
    await pacer.before_start()
    assert trio.current_time() == start


async def test_tpm_bucket(autojump_clock: trio.testing.MockClock) -> None:
    """--tpm 600 with 100-token jobs: six start at once, then one every 10 s."""
    pacer = Pacer(10, tpm=600)
    pacer.on_usage(100)
    start = trio.current_time()
    for _ in range(6):
        await pacer.before_start()
    assert trio.current_time() == start
    await pacer.before_start()
    assert round(trio.current_time() - start, 6) == 10.0


async def test_rate_limit_cuts_then_recovers(autojump_clock: trio.testing.MockClock) -> None:
    """A rate-limit error halves concurrency (once per cooldown); clean windows add one back."""
    pacer = Pacer(16)
    pacer.on_rate_limited(1.0)
    pacer.on_rate_limited(1.0)  # same burst: no second cut
    assert pacer.concurrency == 8
    await trio.sleep(3)
    pacer.on_rate_limited(None)
    assert pacer.concurrency == 4
    for _ in range(4):
        pacer.on_success()
    assert pacer.concurrency == 5
    for _ in range(1000):
        pacer.on_success()
    assert pacer.concurrency == 16
