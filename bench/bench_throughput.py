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

Each target cell is also taken apart, from a second run of one round (C jobs) on
the same emulator: ``setup_s`` = that run's wall time - L is what a run pays once
(opening C sessions, the close handshakes, the first wave's queueing), and
``per_round_s`` = (wall - wall of one round) / (rounds - 1) is what each further
round of C jobs costs (L plus the per-job work of both processes). No scheduling
of jobs can hide a session that opens late: every session runs ``rounds`` jobs of
L in a row, so ``limit / (limit + setup_s)`` is the cell's ceiling while opening C
sessions costs what it costs. Quick runs skip it: over two rounds, the run-to-run
spread of the set-up swamps the difference.

The emulator's own CPU is on the critical path too (it frames, validates, counts
usage and rate limits for every event, on one core). Each target cell therefore
runs a third time against :mod:`bench.replay_server`, which replays the
emulator's recorded frames at the same latency and computes nothing:
``replay_fraction`` is what the client reaches alone.

The emulator's and the client's CPU utilisation are reported with each cell:
where either is near 1.0 the cell is CPU-bound (one core each), not latency-bound,
and its fraction measures CPU cost, not scheduling.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_peer import run_peer
from bench.common import Emulator, run_rtbatch, write_text_jobs

CONCURRENCIES = (10, 100, 200, 500)
LATENCIES_S = (0.2, 1.0)
TARGET = 0.98  # at L = 1 s, C = 100 to 500 (issue 20)
TARGET_CELLS = frozenset({(100, 1.0), (200, 1.0), (500, 1.0)})


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
            with contextlib.ExitStack() as servers:
                emulator = servers.enter_context(
                    Emulator(latency_ms=latency_s * 1000, reply_words=reply_words)
                )
                replay = None
                if any(lat == latency_s for _, lat in TARGET_CELLS):
                    replay = servers.enter_context(replay_of(emulator))
                for c in CONCURRENCIES:
                    cells.append(_cell(emulator, replay, Path(tmp), c, latency_s, quick))
    targets = [c for c in cells if (c["concurrency"], c["latency_s"]) in TARGET_CELLS]
    return {
        "cells": cells,
        "target": TARGET,
        "target_cells": [{"concurrency": c, "latency_s": lat} for c, lat in sorted(TARGET_CELLS)],
        "target_fractions": {str(c["concurrency"]): c.get("fraction") for c in targets},
        "pass": bool(targets) and all(c.get("fraction", 0) >= TARGET for c in targets),
    }


def replay_of(emulator: Emulator) -> Emulator:
    """The replay server (:mod:`bench.replay_server`) of ``emulator``'s frames, same latency."""
    return Emulator(
        latency_ms=emulator.latency_ms,
        reply_words=emulator.reply_words,
        program=("-m", "bench.replay_server"),
        extra=["--source", emulator.url],
    )


def _cell(
    emulator: Emulator, replay: Emulator | None, tmp: Path, c: int, latency_s: float, quick: bool
) -> dict[str, Any]:
    rounds = rounds_for(latency_s, quick)
    jobs = rounds * c
    path = write_text_jobs(tmp / f"tp-{c}-{latency_s:g}.jsonl", jobs)
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
    if (c, latency_s) not in TARGET_CELLS:
        return cell
    if run_wall and not quick:
        cell.update(_decompose(emulator, tmp, c, latency_s, rounds, run_wall))
    if replay is not None:
        alone = run_rtbatch(replay, path, c, timeout_s=300)
        cell["replay_run_wall_s"] = alone.get("run_wall_s")
        cell["replay_server_cpu_s"] = alone.get("emulator_cpu_s")
        if alone.get("run_wall_s") and alone.get("completed") == jobs:
            cell["replay_fraction"] = round(limit / alone["run_wall_s"], 3)
    peer = run_peer(emulator, path, c, "reuse", 300)
    peer_wall = peer.get("run_wall_s")
    cell["peer_run_wall_s"] = peer_wall
    cell["peer_completed"] = peer.get("completed")
    if peer_wall:
        cell["peer_fraction"] = round(limit / peer_wall, 3)
    return cell


def _decompose(
    emulator: Emulator, tmp: Path, c: int, latency_s: float, rounds: int, run_wall: float
) -> dict[str, Any]:
    """A target cell's once-per-run and per-round costs, from a run of one round."""
    path = write_text_jobs(tmp / f"tp-{c}-{latency_s:g}-one-round.jsonl", c)
    one = run_rtbatch(emulator, path, c, timeout_s=120).get("run_wall_s")
    if not one:
        return {}
    setup = one - latency_s
    limit = rounds * latency_s
    return {
        "one_round_wall_s": one,
        "setup_s": round(setup, 3),
        "per_round_s": round((run_wall - one) / (rounds - 1), 4),
        "ceiling_with_setup": round(limit / (limit + setup), 3),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
