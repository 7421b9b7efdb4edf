"""bench/replay_server.py: the emulator's frames, replayed, answer a real run job by job."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.bench_throughput import replay_of
from bench.common import PYTHON, Emulator, child_env, write_text_jobs


def test_a_run_against_the_replay_gets_every_job_answered_under_its_own_id(
    tmp_path: Path,
) -> None:
    """Each result is its own job's (the metadata echoed), with the emulator's reply and usage.

    The client ignores a ``response.done`` that names another job, so a replay that
    echoed the recording's id would leave every job waiting until its deadline.
    """
    jobs = write_text_jobs(tmp_path / "jobs.jsonl", 12)
    out = tmp_path / "out.jsonl"
    with Emulator() as emulator, replay_of(emulator) as replay:
        argv = [PYTHON, "-m", "rtbatch", "run", str(jobs), "-o", str(out)]
        argv += ["--url", replay.url, "-c", "4", "-q", "--job-timeout", "10"]
        done = subprocess.run(argv, env=child_env(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    asked = [json.loads(line)["id"] for line in jobs.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(asked)
    assert {line["status"] for line in lines} == {"completed"}
    assert all(line["output"]["text"].startswith("Emulated reply") for line in lines)
    assert all(line["usage"]["output_tokens"] > 0 for line in lines)
