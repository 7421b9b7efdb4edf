"""Benchmark: wall time of ``rtbatch --help``, which cron and make pay on every call.

The median of several runs of the installed console script (``.venv/bin/rtbatch``,
falling back to ``python -m rtbatch``), next to ``python -c pass`` (the floor no
Python program can go below) and ``python -m rtbatch --help``. Bytecode is
cached (as for any installed package) and two runs of each are discarded first.

If the target is missed, ``python -X importtime`` shows which imports cost most;
the ten slowest (cumulative) are reported either way.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, child_env, median

TARGET_S = 0.150
RUNS = 10
WARMUP = 2


def _script() -> list[str]:
    local = Path(PYTHON).with_name("rtbatch")
    if local.exists():
        return [str(local)]
    found = shutil.which("rtbatch")
    return [found] if found else [PYTHON, "-m", "rtbatch"]


def _time(argv: list[str], runs: int) -> list[float]:
    env = child_env()
    times = []
    for i in range(WARMUP + runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
        if i >= WARMUP:
            times.append(time.perf_counter() - started)
    return times


def import_profile(module: str = "rtbatch.cli", top: int = 10) -> list[dict[str, Any]]:
    """The slowest imports (cumulative microseconds) of ``module``."""
    out = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", f"import {module}"],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    rows = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append(
            {"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us)}
        )
    rows.sort(key=lambda r: r["cumulative_us"], reverse=True)
    return rows[:top]


def run(runs: int = RUNS) -> dict[str, Any]:
    """Median start-up times in milliseconds and the verdict."""
    script = _script()
    help_times = _time([*script, "--help"], runs)
    module_times = _time([PYTHON, "-m", "rtbatch", "--help"], runs)
    floor_times = _time([PYTHON, "-c", "pass"], runs)
    help_ms = median(help_times) * 1000
    return {
        "command": " ".join([Path(script[0]).name, *script[1:], "--help"]),
        "runs": runs,
        "help_ms": round(help_ms, 1),
        "help_min_ms": round(min(help_times) * 1000, 1),
        "module_help_ms": round(median(module_times) * 1000, 1),
        "python_pass_ms": round(median(floor_times) * 1000, 1),
        "over_floor_ms": round(help_ms - median(floor_times) * 1000, 1),
        "slowest_imports": import_profile(),
        "target_ms": TARGET_S * 1000,
        "pass": help_ms < TARGET_S * 1000,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
