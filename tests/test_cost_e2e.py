"""Cost before and after a run, through the real command against its emulator (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rtbatch.exitcodes import EXIT_BUDGET, EXIT_OK

ROOT = Path(__file__).resolve().parent.parent


def _rtbatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "rtbatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("jobs", "options", "rel"),
    [
        ("jobs/demo.jsonl", (), 0.25),
        ("jobs/audio.jsonl", (), 0.25),
        ("jobs/conversation.jsonl", (), 0.25),
        # The emulator's answers to tool outputs quote them: longer than its usual reply.
        ("jobs/agent.jsonl", ("--tools", str(ROOT / "jobs/agent.tools.json")), 0.3),
    ],
)
def test_estimate_brackets_what_the_emulated_run_reports(
    jobs: str, options: tuple[str, ...], rel: float, tmp_path: Path
) -> None:
    """`rtbatch estimate --emulate` states a range, and the emulated run's total lies in it."""
    est = _rtbatch("estimate", str(ROOT / jobs), *options, "--emulate", "--json", cwd=tmp_path)
    assert est.returncode == EXIT_OK, est.stderr.decode()
    usd = orjson.loads(est.stdout)
    out = tmp_path / "results.jsonl"
    run = _rtbatch(
        "run",
        str(ROOT / jobs),
        *options,
        "--emulate",
        "-o",
        str(out),
        "--summary",
        "-",
        cwd=tmp_path,
    )
    assert run.returncode == EXIT_OK, run.stderr.decode()
    total = orjson.loads(run.stdout)["cost"]["total_usd"]
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert total == pytest.approx(sum(r["cost_usd"] for r in lines))
    assert usd["low_usd"] <= total <= usd["high_usd"]
    assert total == pytest.approx(usd["expected_usd"], rel=rel)


def test_max_cost_stops_within_one_job_of_the_budget(tmp_path: Path) -> None:
    """--max-cost: no job starts past the budget; the spend stays within one job's cost."""
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(
        b"".join(
            orjson.dumps({"id": f"j{i}", "prompt": f"Question {i}, answered at length?"}) + b"\n"
            for i in range(200)
        )
    )
    out = tmp_path / "results.jsonl"
    budget = 0.002
    run = _rtbatch(
        "run",
        str(jobs),
        "--emulate",
        "-c",
        "4",
        "-o",
        str(out),
        "--max-cost",
        str(budget),
        "--summary",
        "-",
        cwd=tmp_path,
    )
    assert run.returncode == EXIT_BUDGET, run.stderr.decode()
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert 0 < len(lines) < 200
    spent = sum(r["cost_usd"] for r in lines)
    most = max(r["cost_usd"] for r in lines)
    assert spent <= budget + most
    rerun = _rtbatch("run", str(jobs), "--emulate", "-o", str(out), cwd=tmp_path)
    assert rerun.returncode == EXIT_OK, rerun.stderr.decode()
    assert len(out.read_bytes().splitlines()) == 200  # a rerun continues, nothing twice
