"""Benchmark: CPU seconds of the rtbatch client per 1,000 jobs, and jobs per second.

An instant emulator (latency 0, no token delay; its own core), 5,000 short text
jobs at concurrency 64. The client's CPU is user + system time from ``wait4``:
the whole process, interpreter start-up and the validation pass included. The
start-up share is measured apart (a one-job run) so the marginal cost per job
is reported too.

At latency 0 the run is CPU-bound on one side or the other: the client's and
the emulator's CPU utilisation over the run say which.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import Emulator, median, run_rtbatch, write_text_jobs

JOBS = 5000
CONCURRENCY = 64


def run(jobs: int = JOBS, reps: int = 1, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """``reps`` runs of ``jobs`` jobs; medians."""
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-cpu-") as tmp:
        path = write_text_jobs(Path(tmp) / "jobs.jsonl", jobs)
        one = write_text_jobs(Path(tmp) / "one.jsonl", 1)
        with Emulator(latency_ms=0) as emulator:
            fixed = run_rtbatch(emulator, one, 1)
            runs = [run_rtbatch(emulator, path, concurrency) for _ in range(reps)]
    cpu = median([r["cpu_s"] for r in runs])
    wall = median([r["process_wall_s"] for r in runs])
    run_wall = median([r.get("run_wall_s") or float("nan") for r in runs])
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "reps": reps,
        "cpu_s": round(cpu, 3),
        "cpu_s_per_1000_jobs": round(cpu / jobs * 1000, 3),
        "fixed_cpu_s": fixed["cpu_s"],
        "marginal_cpu_s_per_1000_jobs": round((cpu - fixed["cpu_s"]) / (jobs - 1) * 1000, 3),
        "process_wall_s": round(wall, 3),
        "run_wall_s": round(run_wall, 3),
        "jobs_per_s": round(jobs / run_wall, 1),
        "jobs_per_s_process": round(jobs / wall, 1),
        "client_cpu_util": round(cpu / wall, 2),
        "emulator_cpu_util": round(median([r["emulator_cpu_s"] for r in runs]) / run_wall, 2),
        "peak_rss_mib": median([r["peak_rss_mib"] for r in runs]),
        "all_completed": all(r.get("completed") == jobs for r in runs),
        "runs": runs,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(jobs=1000 if "--quick" in sys.argv else JOBS), indent=2))
