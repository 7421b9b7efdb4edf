"""bench/bench_shards.py: the goodput window and the table rows, on made-up samples."""

from __future__ import annotations

from bench.__main__ import table_rows
from bench.bench_shards import goodput


def test_goodput_window_opens_at_the_first_refusal() -> None:
    """The window starts where the first bucket ran dry (a refusal), not at R admitted."""
    samples = [(0.0, 0, 0), (2.0, 600, 0), (3.0, 620, 1), (13.0, 720, 40), (14.0, 720, 40)]
    fig = goodput(samples, 600)
    assert (fig["window_s"], fig["admitted"], fig["ratio"]) == (10.0, 100, 1.0)


def test_goodput_without_refusals_opens_at_the_bucket_size() -> None:
    """With no refusal at all the window opens once R requests were admitted."""
    samples = [(0.0, 0, 0), (1.0, 600, 0), (11.0, 690, 0)]
    assert goodput(samples, 600)["ratio"] == 0.9


def test_goodput_of_a_batch_inside_the_first_bucket_is_none() -> None:
    """A batch smaller than the bucket has no window after it."""
    assert goodput([(0.0, 0, 0), (1.0, 300, 0)], 600)["ratio"] is None


def test_rows_carry_targets_and_verdicts() -> None:
    """Goodput and refusals are judged against their targets; audio rows are figures."""
    case = {
        "shards": 1,
        "concurrency_per_shard": 2,
        "cpu_s_per_audio_hour": 17.0,
        "marginal_cpu_s_per_audio_hour": 15.0,
        "emulator_cpu_s_per_audio_hour": 7.0,
        "audio_hours_per_wall_hour": 120.0,
    }
    result = {
        "account": {
            "shards": 4,
            "rpm": 600,
            "jobs": 900,
            "goodput": {"ratio": 0.95, "jobs_per_s": 9.5},
            "target_goodput": 0.9,
            "meets_goodput": True,
            "refused": 100,
            "admitted": 900,
            "refused_share": 0.1,
            "target_refused": 0.05,
            "meets_refused": False,
        },
        "audio": {
            "cases": [case, {**case, "shards": 2}],
            "scaling_ratio": 1.5,
            "core_ceiling": 1.8,
        },
    }
    rows = table_rows({"shards": result})
    assert [r[4] for r in rows[:2]] == ["pass", "MISS"]
    assert rows[1][2] == "10.0% (100 of 1000)"
    assert rows[-1][2] == "1.50 (1.80)"
