"""Benchmark: peak RSS of ``rtbatch run`` as the job file and the connections grow.

Three measurements, all against an instant emulator (latency 0, 3-word replies)
on its own core, the client measured by ``wait4`` on the other:

* **complete run**: every job of a 10,000-job file, start to finish.
* **file size**: the same amount of work (``--deadline``, a few seconds of
  jobs) on files of 10,000 and 1,000,000 jobs (300,000 with ``--quick``). The
  validation pass before the run reads the whole file, the feeder only as far
  as the run gets, so the RSS difference between the two is everything that
  grows with the file. By design that is the index of ids kept for duplicate
  detection (``rtbatch.idindex``, 18-36 bytes per id); the job channel is
  bounded, so nothing else should grow. A complete run keeps a second such index in the feeder,
  grown as jobs are read, so its peak is about the same. A complete
  1,000,000-job run is not attempted: at ~600 jobs/s on one core it would take
  about half an hour.
* **connections**: 2,000 jobs (1,000 with ``--quick``) at ``-c 1000`` (a
  thousand open WebSockets), against the same jobs at ``-c 64``; the difference
  per connection is the client's cost of one open connection.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import Emulator, raise_fd_limit, run_rtbatch, write_text_jobs

REPLY_WORDS = 3
DEADLINE_S = 5.0


def run(quick: bool = False) -> dict[str, Any]:
    """All three measurements; sizes shrink with ``quick``."""
    raise_fd_limit(4096)
    big = 300_000 if quick else 1_000_000
    deadline_s = 3.0 if quick else DEADLINE_S
    report: dict[str, Any] = {"reply_words": REPLY_WORDS, "deadline_s": deadline_s}
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-mem-") as tmp:
        root = Path(tmp)
        with Emulator(latency_ms=0, reply_words=REPLY_WORDS) as emulator:
            small = write_text_jobs(root / "jobs-10k.jsonl", 10_000)
            if not quick:
                report["complete_10k"] = {
                    "jobs": 10_000,
                    "concurrency": 64,
                    **run_rtbatch(emulator, small, 64),
                }
            deadline = ["--deadline", f"{deadline_s:g}"]
            sized = []
            for count, path in ((10_000, small), (big, None)):
                path = path or write_text_jobs(root / f"jobs-{count}.jsonl", count)
                figures = run_rtbatch(emulator, path, 64, extra=deadline, timeout_s=300)
                sized.append(
                    {
                        "jobs_in_file": count,
                        "file_mib": round(path.stat().st_size / 2**20, 1),
                        **figures,
                    }
                )
                if count != 10_000:
                    path.unlink()
            report["by_file_size"] = sized
            low, high = sized[0], sized[-1]
            grown = high["peak_rss_mib"] - low["peak_rss_mib"]
            report["rss_growth_mib"] = round(grown, 1)
            report["rss_growth_bytes_per_extra_job"] = round(
                grown * 2**20 / (high["jobs_in_file"] - low["jobs_in_file"]), 1
            )
            conn_jobs = 1000 if quick else 2000
            conns = write_text_jobs(root / "jobs-conns.jsonl", conn_jobs)
            c64 = run_rtbatch(emulator, conns, 64)
            c1000 = run_rtbatch(emulator, conns, 1000)
            report["connections"] = {
                "jobs": conn_jobs,
                "c64": c64,
                "c1000": c1000,
                "rss_per_connection_kib": round(
                    (c1000["peak_rss_mib"] - c64["peak_rss_mib"]) * 1024 / (1000 - 64), 1
                ),
            }
            report["emulator_rss_mib"] = emulator.rss_mib()
    return report


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
