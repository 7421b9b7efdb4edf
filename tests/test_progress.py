"""progress.py: what the bar and the log line show."""

from __future__ import annotations

from rtbatch.progress import Snapshot, render_bar, render_log


def test_bar_shows_counts_rate_eta_and_tokens() -> None:
    """Half done in 10 s: 5 jobs/s, 10 s left, thousands separated."""
    snap = Snapshot(done=50, failed=2, in_flight=8, todo=100, tokens=123456, elapsed_s=10.0)
    line = render_bar(snap)
    assert line.startswith("[############............] 50/100 done")
    assert "2 failed, 8 in flight, 5.0 jobs/s, ETA 0m10s, 123,456 tokens" in line


def test_log_line_is_greppable_key_values() -> None:
    """Plain key=value fields for cron logs; unknown totals show '?'."""
    snap = Snapshot(done=3, failed=0, in_flight=1, todo=None, tokens=9, elapsed_s=0.0)
    assert render_log(snap) == ("progress done=3/? failed=0 in_flight=1 rate=0.0/s eta=? tokens=9")


def test_long_eta_uses_hours() -> None:
    """Two hours left reads 2h00m."""
    snap = Snapshot(done=1, failed=0, in_flight=0, todo=7201, tokens=0, elapsed_s=1.0)
    assert "ETA 2h00m" in render_bar(snap)
