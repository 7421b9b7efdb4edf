"""Benchmark: wall time of ``rtbatch run`` against the latency limit.

The emulator answers every response after a fixed latency L (no token delay).
J jobs at concurrency C can never finish faster than J·L/C, so
``limit / ours`` is the fraction of the physical limit the run reaches
(1.0 = perfect). J = rounds·C, so every cell lasts about ``rounds``·L seconds.

Two fractions per cell: against the summary's ``wall_s`` (the run itself:
connecting C sockets and all jobs, but not the interpreter start-up or the
validation pass over the job file) and against the whole process wall time.

At L = 1 s and C = 100, 200 and 500 (issue 20: at least 0.98 of the limit), the
official SDK's realtime client (``bench.peer_client``, a pool of C reused
connections: the peer's better mode) runs the same file against the same
emulator right after rtbatch, and its fraction stands beside ours.

The emulator's and the client's CPU utilisation are reported with each cell:
where either is near 1.0 the cell is CPU-bound (one core each), not latency-bound,
and its fraction measures CPU cost, not scheduling.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.bench_peer import run_peer
from bench.common import Emulator, run_rtbatch, write_text_jobs

CONCURRENCIES = (10, 100, 200, 500)
LATENCIES_S = (0.2, 1.0)
TARGET = 0.98  # at L = 1 s, C = 100 to 500 (issue 20)
TARGET_CELLS = frozenset({(100, 1.0), (200, 1.0), (500, 1.0)})
#: Cells where the SDK peer runs beside rtbatch.
PEER_CELLS = TARGET_CELLS


def rounds_for(latency_s: float, quick: bool) -> int:
    """Rounds of C jobs per cell (J = rounds·C): 10 in the full run, 2 with ``quick``."""
    if quick:
        return 2
    return 10


def run(quick: bool = False, reply_words: int = 12) -> dict[str, Any]:
    """Every (L, C) cell; returns the cells and the target cell's verdict."""
    cells = []
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-tp-") as tmp:
        for latency_s in LATENCIES_S:
            with Emulator(latency_ms=latency_s * 1000, reply_words=reply_words) as emulator:
                for c in CONCURRENCIES:
                    rounds = rounds_for(latency_s, quick)
                    jobs = rounds * c
                    path = write_text_jobs(Path(tmp) / f"tp-{c}-{latency_s:g}.jsonl", jobs)
                    figures = run_rtbatch(emulator, path, c, timeout_s=300)
                    limit = jobs * latency_s / c
                    cell: dict[str, Any] = {
                        "latency_s": latency_s,
                        "concurrency": c,
                        "jobs": jobs,
                        "limit_s": round(limit, 3),
                        **figures,
                    }
                    run_wall = figures.get("run_wall_s")
                    if run_wall:
                        cell["fraction"] = round(limit / run_wall, 3)
                        cell["client_cpu_util"] = round(figures["cpu_s"] / run_wall, 2)
                        cell["emulator_cpu_util"] = round(figures["emulator_cpu_s"] / run_wall, 2)
                    cell["fraction_process"] = round(limit / figures["process_wall_s"], 3)
                    if (c, latency_s) in PEER_CELLS:
                        peer = run_peer(emulator, path, c, "reuse", 300)
                        peer_wall = peer.get("run_wall_s")
                        cell["peer_run_wall_s"] = peer_wall
                        cell["peer_completed"] = peer.get("completed")
                        if peer_wall:
                            cell["peer_fraction"] = round(limit / peer_wall, 3)
                    cells.append(cell)
    targets = [c for c in cells if (c["concurrency"], c["latency_s"]) in TARGET_CELLS]
    return {
        "cells": cells,
        "target": TARGET,
        "target_cells": [{"concurrency": c, "latency_s": lat} for c, lat in sorted(TARGET_CELLS)],
        "target_fractions": {str(c["concurrency"]): c.get("fraction") for c in targets},
        "pass": bool(targets) and all(c.get("fraction", 0) >= TARGET for c in targets),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
