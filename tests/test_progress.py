"""progress.py: what the bar and the log line show."""

from __future__ import annotations

import io
import logging

import pytest
import trio
import trio.testing

from rtbatch.progress import LOG_INTERVAL_S, Snapshot, render_bar, render_log, reporter


def test_bar_shows_counts_rate_eta_and_tokens() -> None:
    """Half done in 10 s: 5 jobs/s, 10 s left, thousands separated."""
    snap = Snapshot(done=50, failed=2, in_flight=8, todo=100, tokens=123456, elapsed_s=10.0)
    line = render_bar(snap)
    assert line.startswith("[############............] 50/100 done")
    assert "2 failed, 8 in flight, 5.0 jobs/s, ETA 0m10s, 123,456 tokens, $0.0000" in line


def test_log_line_is_greppable_key_values() -> None:
    """Plain key=value fields for cron logs; unknown totals show '?'."""
    snap = Snapshot(done=3, failed=0, in_flight=1, todo=None, tokens=9, elapsed_s=0.0)
    assert render_log(snap) == (
        "progress done=3/? failed=0 in_flight=1 rate=0.0/s eta=? tokens=9 cost_usd=0.000000"
    )


def test_long_eta_uses_hours() -> None:
    """Two hours left reads 2h00m."""
    snap = Snapshot(done=1, failed=0, in_flight=0, todo=7201, tokens=0, elapsed_s=1.0)
    assert "ETA 2h00m" in render_bar(snap)


async def test_reporter_logs_a_fresh_snapshot_every_interval(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Off a terminal, one log line per interval, each from the snapshot of that moment."""
    done = iter(range(100))

    def snapshot() -> Snapshot:
        return Snapshot(next(done), 0, 1, 10, 0, trio.current_time())

    caplog.set_level(logging.INFO, logger="rtbatch.progress")
    with trio.move_on_after(LOG_INTERVAL_S * 3 + 1):
        await reporter(io.StringIO())(snapshot)
    lines = [r.getMessage() for r in caplog.records if r.name == "rtbatch.progress"]
    assert [line.split()[1] for line in lines] == ["done=0/10", "done=1/10", "done=2/10"]
