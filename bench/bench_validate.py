"""Benchmark: stream large job files through ``read_jobs`` and measure memory and speed.

For each size a job file is written to a temporary directory, then read to the end
by ``read_jobs`` in a fresh child process, which reports its own peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) and the time the read took. A child that
reads an empty file gives the baseline (the interpreter plus imports).

Memory should not grow with the file: the only state kept across lines is the
index of ids seen (for duplicate detection), so RSS above the baseline is that
index, about a hundred bytes per distinct id, and nothing proportional to the
file's size in bytes.

Run it with ``python bench/bench_validate.py`` (prints JSON), or call :func:`run`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: (jobs, prompt size in bytes; 0 = a mix of small jobs). The last run has as many
#: jobs as the first but a file 20 times bigger: its RSS shows that memory follows
#: the number of ids, not the bytes read.
RUNS = ((20_000, 0), (200_000, 0), (20_000, 4096))
_ROOT = Path(__file__).resolve().parent.parent
_PROMPT = "Summarise the following paragraph in one sentence. " * 2


def _job_line(i: int, prompt_bytes: int = 0) -> bytes:
    """One of a few job shapes, so the reader sees a realistic mix (or one big prompt)."""
    shape = i % 4
    if prompt_bytes:
        job: dict[str, Any] = {"id": f"job-{i:07d}", "prompt": "x" * prompt_bytes}
    elif shape == 0:
        job = {"id": f"job-{i:07d}", "prompt": f"{_PROMPT}#{i}"}
    elif shape == 1:
        job = {
            "id": f"job-{i:07d}",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"Question number {i}?"},
            ],
            "max_output_tokens": 200,
        }
    elif shape == 2:
        job = {
            "custom_id": f"job-{i:07d}",
            "prompt": f"Translate item {i} into French.",
            "instructions": "Reply with the translation only.",
            "metadata": {"row": i, "tags": ["bench", "translate"], "source": {"file": "x.csv"}},
        }
    else:
        job = {
            "id": f"job-{i:07d}",
            "prompt": f"Item {i}",
            "output_modalities": ["text"],
            "max_output_tokens": "inf",  # GA has no temperature
            "voice": "alloy",
        }
    return json.dumps(job, separators=(",", ":")).encode() + b"\n"


def write_jobs(path: Path, count: int, prompt_bytes: int = 0) -> int:
    """Write ``count`` jobs to ``path``; return the file size in bytes."""
    # One line at a time: the parent must stay small, because Linux carries the
    # parent's RSS high-water mark into a child spawned with vfork + exec, and
    # the child's ru_maxrss would then report the parent's peak, not its own.
    with path.open("wb") as out:
        for i in range(count):
            out.write(_job_line(i, prompt_bytes))
    return path.stat().st_size


def _child(path: str) -> None:
    """Read the file to the end; print counts, time and own peak RSS as JSON."""
    from rtbatch.jobs import Job, read_jobs

    jobs = problems = 0
    start = time.perf_counter()
    for item in read_jobs(path):
        if isinstance(item, Job):
            jobs += 1
        else:
            problems += 1
    seconds = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    report = {"jobs": jobs, "problems": problems, "seconds": seconds, "peak_rss": peak}
    # Linux also gives this process's own high-water mark, untouched by the parent.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                report["vm_hwm"] = int(line.split()[1]) * 1024
    print(json.dumps(report))


def _measure(path: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path)],
        check=True,
        capture_output=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run(runs: tuple[tuple[int, int], ...] = RUNS) -> dict[str, Any]:
    """Measure each size; return peak RSS (MiB), jobs/s and RSS growth per job."""
    mib = 1024 * 1024
    report: dict[str, Any] = {"benchmark": "validate", "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-") as tmp:
        empty = Path(tmp) / "empty.jsonl"
        empty.write_bytes(b"")
        baseline = _measure(empty)["peak_rss"]
        report["baseline_rss_mib"] = round(baseline / mib, 1)
        results = []
        for count, prompt_bytes in runs:
            path = Path(tmp) / f"jobs-{count}.jsonl"
            size = write_jobs(path, count, prompt_bytes)
            child = _measure(path)
            path.unlink()
            assert child["jobs"] == count and child["problems"] == 0, child
            results.append(
                {
                    "jobs": count,
                    "prompt_bytes": prompt_bytes or "mixed",
                    "file_mib": round(size / mib, 1),
                    "seconds": round(child["seconds"], 3),
                    "jobs_per_s": round(count / child["seconds"]),
                    "peak_rss_mib": round(child["peak_rss"] / mib, 1),
                    "vm_hwm_mib": round(child.get("vm_hwm", 0) / mib, 1) or None,
                    "rss_over_baseline_mib": round((child["peak_rss"] - baseline) / mib, 1),
                    "rss_per_job_bytes": round((child["peak_rss"] - baseline) / count),
                }
            )
        report["runs"] = results
    return report


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        print(json.dumps(run(), indent=2))
