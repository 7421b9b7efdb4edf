"""Benchmark: rtbatch against the official ``openai`` SDK realtime client.

The same job file, the same concurrency and the same emulator process (instant
answers, pinned to its own core) serve three clients, each a measured child on
the client core, interleaved so that drift on the machine hits all of them
alike: rtbatch, peer A (SDK, one connection per job), peer B (SDK, a pool of C
reused connections), then again, ``reps`` times. Figures are medians.

Each client is also run once on a one-job file first (it warms the bytecode
cache and measures the fixed cost: interpreter, imports, one connection), so
the CPU per job is given two ways: the whole process divided by the jobs, and
the marginal cost ``(cpu(N) - cpu(1)) / (N - 1)``, which no start-up cost blurs.

Ratios are ours / peer: below 1.0 means rtbatch uses less.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    Emulator,
    median,
    placement,
    run_child,
    run_rtbatch,
    write_text_jobs,
)

CLIENTS = ("rtbatch", "peer_per_job", "peer_reuse")
TARGET_CPU_RATIO = 0.5  # at most half the peer's CPU per job


def _completed(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if b'"status": "completed"' in line)


def run_peer(
    emulator: Emulator, jobs: Path, concurrency: int, mode: str, timeout_s: float
) -> dict[str, Any]:
    """The SDK peer (``mode``: ``per-job`` or ``reuse``) as a measured child; its figures."""
    client_cpus, _ = placement()
    out = jobs.with_suffix(f".{mode}.jsonl")
    out.unlink(missing_ok=True)
    argv = [
        PYTHON,
        "-m",
        "bench.peer_client",
        str(jobs),
        str(out),
        "--concurrency",
        str(concurrency),
        "--mode",
        mode,
        "--url",
        emulator.url,
    ]
    emu_before = emulator.cpu_s()
    res = run_child(argv, cpus=client_cpus, timeout_s=timeout_s, capture_stdout=True)
    figures = res.figures()
    figures["emulator_cpu_s"] = round(emulator.cpu_s() - emu_before, 3)
    figures["completed"] = _completed(out)
    try:
        figures["run_wall_s"] = json.loads(res.stdout.strip().splitlines()[-1])["wall_s"]
    except (ValueError, IndexError, KeyError):
        figures["error"] = res.stderr_tail[-1500:]
    out.unlink(missing_ok=True)
    return figures


def _run(
    name: str, emulator: Emulator, jobs: Path, concurrency: int, timeout_s: float
) -> dict[str, Any]:
    if name == "rtbatch":
        return run_rtbatch(emulator, jobs, concurrency, timeout_s=timeout_s)
    mode = "per-job" if name == "peer_per_job" else "reuse"
    return run_peer(emulator, jobs, concurrency, mode, timeout_s)


def run(
    jobs: int = 1000,
    reps: int = 3,
    concurrency: int = 64,
    reply_words: int = 12,
    warm_up: bool = True,
) -> dict[str, Any]:
    """Interleaved runs of the three clients; medians, per-job CPU and ratios."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
    fixed: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-peer-") as tmp:
        path = write_text_jobs(Path(tmp) / "jobs.jsonl", jobs)
        one = write_text_jobs(Path(tmp) / "one.jsonl", 1)
        with Emulator(latency_ms=0, reply_words=reply_words) as emulator:
            for name in CLIENTS:
                if warm_up:  # the bytecode cache, the page cache, the emulator
                    _run(name, emulator, one, 1, 120)
                fixed[name] = _run(name, emulator, one, 1, 120)
            for _ in range(reps):
                for name in CLIENTS:
                    runs[name].append(_run(name, emulator, path, concurrency, 600))
    summary: dict[str, Any] = {}
    for name in CLIENTS:
        done = runs[name]
        cpu = median([r["cpu_s"] for r in done])
        summary[name] = {
            "process_wall_s": round(median([r["process_wall_s"] for r in done]), 3),
            "run_wall_s": round(median([r.get("run_wall_s") or float("nan") for r in done]), 3),
            "cpu_s": round(cpu, 3),
            "peak_rss_mib": round(median([r["peak_rss_mib"] for r in done]), 1),
            "emulator_cpu_s": round(median([r["emulator_cpu_s"] for r in done]), 3),
            "jobs_per_s": round(jobs / median([r["process_wall_s"] for r in done]), 1),
            "cpu_s_per_1000_jobs": round(cpu / jobs * 1000, 3),
            "fixed_cpu_s": fixed[name]["cpu_s"],
            "fixed_rss_mib": fixed[name]["peak_rss_mib"],
            "marginal_cpu_ms_per_job": round((cpu - fixed[name]["cpu_s"]) / (jobs - 1) * 1000, 3),
            "all_completed": all(r.get("completed") == jobs for r in done),
        }
    ours = summary["rtbatch"]
    ratios: dict[str, Any] = {}
    for peer in CLIENTS[1:]:
        theirs = summary[peer]
        ratios[peer] = {
            key: round(ours[key] / theirs[key], 3) if theirs[key] else None
            for key in (
                "process_wall_s",
                "run_wall_s",
                "cpu_s",
                "peak_rss_mib",
                "marginal_cpu_ms_per_job",
            )
        }
    # The target: at most half the CPU per job of the better peer (marginal cost).
    best = min(summary[p]["marginal_cpu_ms_per_job"] for p in CLIENTS[1:])
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "reps": reps,
        "reply_words": reply_words,
        "clients": summary,
        "ratios": ratios,
        "runs": runs,
        "target_cpu_ratio": TARGET_CPU_RATIO,
        "cpu_per_job_ratio_vs_best_peer": round(ours["marginal_cpu_ms_per_job"] / best, 3),
        "pass": ours["marginal_cpu_ms_per_job"] <= TARGET_CPU_RATIO * best,
    }


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv
    report = run(jobs=300 if quick else 1000, reps=1 if quick else 3, warm_up=not quick)
    print(json.dumps(report, indent=2))
