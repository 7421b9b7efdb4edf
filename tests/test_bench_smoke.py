"""bench/: the table and the helpers, on tiny inputs (no emulator, no timing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench import common
from bench.__main__ import render, table_rows


def test_failed_section_is_one_miss_row() -> None:
    """A section that raised shows as a MISS row carrying the error's last line."""
    rows = table_rows({"audio": {"error": "RuntimeError: boom\nlast line", "section_s": 0.1}})
    assert rows == [("audio", "error", "last line", "", "MISS")]


def test_target_cell_gets_a_verdict() -> None:
    """Only the target throughput cells are judged, against their fraction; the SDK beside."""
    cell = {
        "latency_s": 1.0,
        "concurrency": 100,
        "jobs": 1000,
        "fraction": 0.97,
        "fraction_process": 0.9,
        "run_wall_s": 10.3,
        "client_cpu_util": 0.2,
        "emulator_cpu_util": 0.1,
        "peer_fraction": 0.81,
        "peer_run_wall_s": 12.3,
        "setup_s": 0.26,
        "per_round_s": 1.021,
        "ceiling_with_setup": 0.974,
        "replay_fraction": 0.99,
    }
    other = {**cell, "concurrency": 10, "fraction": 0.5}
    short = {**cell, "concurrency": 500, "fraction": 0.9}
    result = {
        "cells": [cell, other, short],
        "target": 0.95,
        "target_cells": [
            {"concurrency": 100, "latency_s": 1.0},
            {"concurrency": 500, "latency_s": 1.0},
        ],
    }
    rows = table_rows({"throughput": result})
    assert [r[4] for r in rows] == ["pass", "", "MISS"]
    text = render(rows)
    assert text.splitlines()[0].startswith("section")
    assert "0.97" in text and "SDK 0.81" in text
    assert "client alone (replayed frames) 0.99" in text
    assert "once per run 0.26 s, per round 1.021 s (ceiling 0.97)" in text


def test_unreadable_result_does_not_crash_the_table() -> None:
    """A section whose result lacks a field yields a MISS row, not a traceback."""
    rows = table_rows({"cpu": {"jobs": 5}})
    assert rows[0][1] == "unreadable result" and rows[0][4] == "MISS"


def test_job_file_lines_are_valid_jobs(tmp_path: Path) -> None:
    """Generated job files are JSONL with unique ids and a prompt."""
    path = common.write_text_jobs(tmp_path / "jobs.jsonl", 5)
    jobs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len({j["id"] for j in jobs}) == 5
    assert all(set(j) == {"id", "prompt"} for j in jobs)


def test_run_child_measures_cpu_and_rss() -> None:
    """wait4 gives a child's exit code, CPU time and its own peak RSS."""
    res = common.run_child(
        [sys.executable, "-c", "b = bytearray(40 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"]
    )
    assert res.returncode == 0
    assert res.peak_rss_mib >= 40
    assert res.cpu_s > 0


def test_tls_rows_judge_the_ratio_and_say_why_when_skipped() -> None:
    """wss:// over ws:// wall is judged against its bound; no openssl: a row says so."""
    side = {"run_wall_s": 5.0, "cpu_s": 2.5, "completed": 2000, "fraction": 0.8}
    cell = {"concurrency": 500, "jobs": 2000, "ws": side, "wss": {**side, "run_wall_s": 6.0}}
    result = {
        "cells": [{**cell, "ratio": 1.2}, {**cell, "concurrency": 100, "ratio": 1.7}],
        "latency_s": 1.0,
        "bundle_bytes": 219_597,
        "ratio_max": 1.5,
    }
    rows = table_rows({"tls": result})
    assert [r[4] for r in rows] == ["pass", "MISS"]
    assert rows[0][2].startswith("1.20 (6.00 s vs 5.00 s;") and "214 KiB CA bundle" in rows[0][2]
    skipped = table_rows({"tls": {"skipped": "no openssl command to make the certificates"}})
    assert skipped[0][2] == "skipped: no openssl command to make the certificates"
