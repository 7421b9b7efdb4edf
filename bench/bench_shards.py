"""Benchmark: shards side by side, sharing one account, and audio over one and two cores.

Two parts, both in real time, each against an emulator running in this process's
own trio run (so its counters are read directly) while the shards are
``rtbatch run --shard K/N`` child processes:

- **Account** (issue 13): 4 shards of one text batch against an emulator that
  enforces ``--rpm`` R for the whole account. The emulator's bucket starts full,
  so the first R requests are admitted at once; *goodput* is the rate of requests
  admitted after that first bucket is spent (see :func:`goodput`), divided by the
  account's R/60 per second (target >= 0.9). *Refused* is the share of
  generations the emulator refused for a limit, of all it was asked for (target
  <= 5 %). The counters are sampled
  every :data:`SAMPLE_S`; the batch is sized so that the part after the first
  bucket takes :data:`STEADY_S` at the limit, and each shard has a deadline, so
  the part ends in under a minute whatever the pacing does.
- **Audio**: the same transcription batch (MP3 files) with 1 shard (``-c 2``) and
  with 2 shards (``-c 1`` each, the same connections in all): the shards' CPU
  seconds per audio hour (``RUSAGE_CHILDREN``), the emulator's (this process), and
  the scaling ratio, audio hours per wall hour with 2 shards over that with 1
  (2.0 would be perfect). On a 2-core machine the emulator shares the cores with
  the shards, so its CPU is reported beside them, and so is the *core ceiling*:
  the same ratio for two purely CPU-bound processes, measured in the same run
  (below 2 when other work holds the cores). *Marginal* CPU leaves out each
  process's fixed cost (interpreter, imports), which N shards pay N times.

Run: ``python -m bench.bench_shards [--quick]``, or ``python -m bench --only shards``.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from bench import common
from bench.bench_audio import ensure_source
from rtbatch.emulator import EmulatorConfig, serve
from rtbatch.emulator.runtime import EmulatorStats
from rtbatch.shards import partition as shards

TARGET_GOODPUT = 0.9
TARGET_REFUSED = 0.05
SHARDS = 4
#: The account's requests per minute: 10 per second, a rate 4 shards of C connections
#: reach easily at this latency, so the limit and not the clients bounds the run.
ACCOUNT_RPM = 600
#: Seconds of the batch after the first bucket, at the limit (quick: QUICK_STEADY_S).
STEADY_S = 30.0
QUICK_STEADY_S = 15.0
LATENCY_MS = 50.0
SHARD_CONCURRENCY = 4
#: Each shard stops after this long past the steady part, so the part always ends.
DEADLINE_SLACK_S = 20.0
SAMPLE_S = 0.05
AUDIO_SOURCE = "mp3-48k-stereo"
AUDIO_MINUTES = 10
QUICK_AUDIO_MINUTES = 3
AUDIO_JOBS = 4
#: Connections in flight in every audio case: one shard -c 2, or two shards -c 1.
AUDIO_CONNECTIONS = 2
CHILD_TIMEOUT_S = 300.0
#: A pure-Python loop of about a second, to measure what a second process gets.
SPIN_LOOPS = 20_000_000
SPIN_REPEATS = 2


def _rtbatch_run(jobs: Path, out: Path, url: str, shard: str, *extra: str) -> list[str]:
    args = [str(jobs), "-o", str(out), "--url", url, "--shard", shard, "-q", *extra]
    return [common.PYTHON, "-m", "rtbatch", "run", *args]


async def _run_all(commands: Sequence[list[str]]) -> list[int]:
    """Run the commands side by side; their exit codes, in order (a failure's stderr is shown)."""
    codes = [0] * len(commands)

    async def one(i: int) -> None:
        with trio.fail_after(CHILD_TIMEOUT_S):
            done = await trio.run_process(
                commands[i],
                env=common.child_env(),
                cwd=common.ROOT,
                check=False,
                stdout=subprocess.DEVNULL,
                capture_stderr=True,
            )
        codes[i] = done.returncode
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace")[-800:]
            print(
                f"bench_shards: {commands[i][4:]} exited {done.returncode}: {tail}", file=sys.stderr
            )

    async with trio.open_nursery() as nursery:
        for i in range(len(commands)):
            nursery.start_soon(one, i)
    return codes


def _counts(stats: EmulatorStats) -> tuple[float, int, int]:
    """``(now, admitted, refused)``: a refused ``response.create`` is counted in both
    ``stats.responses`` (it gets a ``response.created``, then fails) and ``rate_limited``."""
    return trio.current_time(), stats.responses - stats.rate_limited, stats.rate_limited


async def _sample(stats: EmulatorStats, into: list[tuple[float, int, int]]) -> None:
    while True:
        into.append(_counts(stats))
        await trio.sleep(SAMPLE_S)


def goodput(samples: Sequence[tuple[float, int, int]], rpm: int) -> dict[str, Any]:
    """Admissions per second after the first bucket, over the account's rate.

    The window opens when the first bucket is spent: at the first refusal (the
    bucket held less than one request then, so from there on admissions can only
    come from its refill at ``rpm / 60`` per second), or when ``rpm`` requests
    were admitted if nothing was ever refused. It closes at the last admission.

    Args:
        samples: ``(time, admitted, refused)``, in time order.
        rpm: the account's requests per minute (the bucket's size).

    Returns:
        The window, its admissions, their rate and its ratio to ``rpm / 60``;
        ``ratio`` is None when the batch never got past the first bucket.
    """
    final = samples[-1][1]
    refused = [s for s in samples if s[2] > 0]
    start = refused[0] if refused else next((s for s in samples if s[1] >= rpm), None)
    end = next(s for s in samples if s[1] == final)
    if start is None or end[0] <= start[0]:
        return {"window_s": 0.0, "admitted": 0, "jobs_per_s": None, "ratio": None}
    admitted = end[1] - start[1]
    rate = admitted / (end[0] - start[0])
    return {
        "opened_at_s": round(start[0] - samples[0][0], 2),
        "window_s": round(end[0] - start[0], 2),
        "admitted": admitted,
        "jobs_per_s": round(rate, 3),
        "ratio": round(rate / (rpm / 60), 3),
    }


async def _account(tmp: Path, rpm: int, steady_s: float) -> dict[str, Any]:
    jobs_n = rpm + int(rpm / 60 * steady_s)
    jobs = common.write_text_jobs(tmp / "account.jsonl", jobs_n)
    base = tmp / "account.results.jsonl"
    deadline = f"{steady_s + DEADLINE_SLACK_S:g}s"
    samples: list[tuple[float, int, int]] = []
    async with trio.open_nursery() as nursery:
        emulator = await nursery.start(serve, EmulatorConfig(rpm=rpm, latency_ms=LATENCY_MS))
        nursery.start_soon(_sample, emulator.stats, samples)
        extra = ("-c", str(SHARD_CONCURRENCY), "--deadline", deadline)
        commands = [
            _rtbatch_run(jobs, base, emulator.url, f"{k}/{SHARDS}", *extra) for k in range(SHARDS)
        ]
        started = trio.current_time()
        codes = await _run_all(commands)
        wall = trio.current_time() - started
        samples.append(_counts(emulator.stats))
        emulator.sync_window_stats()
        peak = emulator.stats.max_requests_per_60s
        refused_by = dict(emulator.limits.refused)
        nursery.cancel_scope.cancel()
    files = [shards.shard_results_path(base, shards.Shard(k, SHARDS)) for k in range(SHARDS)]
    merged = await trio.run_process(
        [common.PYTHON, "-m", "rtbatch", "merge", str(jobs), *map(str, files), "-o", str(base)],
        env=common.child_env(),
        cwd=common.ROOT,
        check=False,
        capture_stderr=True,
    )
    _, admitted, refused = samples[-1]
    asked = admitted + refused
    share = refused / asked if asked else 0.0
    fig = goodput(samples, rpm)
    return {
        "shards": SHARDS,
        "rpm": rpm,
        "jobs": jobs_n,
        "latency_ms": LATENCY_MS,
        "concurrency_per_shard": SHARD_CONCURRENCY,
        "wall_s": round(wall, 2),
        "exit_codes": codes,
        "merge_exit_code": merged.returncode,
        "merge_report": merged.stderr.decode(errors="replace").strip().splitlines()[-1:],
        "admitted": admitted,
        "refused": refused,
        "refused_share": round(share, 4),
        "refused_by_limit": refused_by,
        "max_requests_per_60s": peak,
        "goodput": fig,
        "target_goodput": TARGET_GOODPUT,
        "target_refused": TARGET_REFUSED,
        "meets_goodput": fig["ratio"] is not None and fig["ratio"] >= TARGET_GOODPUT,
        "meets_refused": share <= TARGET_REFUSED,
    }


def _audio_ids(count: int) -> list[str]:
    """Job ids that split evenly over 2 shards (a hash splits 4 jobs unevenly by chance)."""
    per_shard: dict[int, list[str]] = {0: [], 1: []}
    i = 0
    while min(len(v) for v in per_shard.values()) < count // 2:
        key = f"audio-{i}"
        if len(per_shard[shards.shard_of(key, 2)]) < count // 2:
            per_shard[shards.shard_of(key, 2)].append(key)
        i += 1
    return per_shard[0] + per_shard[1]


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _core_ceiling() -> float:
    """What 2 processes get over 1 on this machine now: 2 x wall(one spin) / wall(two spins).

    The cores are shared with other work, so a scaling ratio means little without
    the ratio a purely CPU-bound pair of processes gets at the same time.
    """
    spin = [common.PYTHON, "-c", f"for _ in range({SPIN_LOOPS}): pass"]
    walls = {1: math.inf, 2: math.inf}
    for _ in range(SPIN_REPEATS):  # the best of a few: a spin does not get faster by chance
        for count in walls:
            started = time.perf_counter()
            await _run_all([spin] * count)
            walls[count] = min(walls[count], time.perf_counter() - started)
    return round(2 * walls[1] / walls[2], 2)


async def _audio(tmp: Path, minutes: int) -> dict[str, Any]:
    source = ensure_source(AUDIO_SOURCE, minutes)  # generated once, outside the clock
    jobs = tmp / "audio.jsonl"
    lines = [
        json.dumps({"id": job_id, "audio": str(source), "task": "transcribe"})
        for job_id in _audio_ids(AUDIO_JOBS)
    ]
    jobs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hours = AUDIO_JOBS * minutes / 60
    cases: list[dict[str, Any]] = []
    one_prompt = common.write_text_jobs(tmp / "fixed.jsonl", 1)
    async with trio.open_nursery() as nursery:
        emulator = await nursery.start(serve, EmulatorConfig())
        # One process's fixed CPU (interpreter, imports, one short job): N shards pay it N times.
        before = _cpu(resource.RUSAGE_CHILDREN)
        await _run_all([_rtbatch_run(one_prompt, tmp / "fixed.results.jsonl", emulator.url, "0/1")])
        fixed = _cpu(resource.RUSAGE_CHILDREN) - before
        for count in (1, 2):
            out = tmp / f"audio-{count}.results.jsonl"
            concurrency = str(AUDIO_CONNECTIONS // count)
            commands = [
                _rtbatch_run(jobs, out, emulator.url, f"{k}/{count}", "-c", concurrency)
                for k in range(count)
            ]
            children, own = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
            started = time.perf_counter()
            codes = await _run_all(commands)
            wall = time.perf_counter() - started
            cpu = _cpu(resource.RUSAGE_CHILDREN) - children
            emulator_cpu = _cpu(resource.RUSAGE_SELF) - own
            cases.append(
                {
                    "shards": count,
                    "concurrency_per_shard": int(concurrency),
                    "exit_codes": codes,
                    "wall_s": round(wall, 2),
                    "shards_cpu_s": round(cpu, 2),
                    "cpu_s_per_audio_hour": round(cpu / hours, 2),
                    "marginal_cpu_s_per_audio_hour": round((cpu - count * fixed) / hours, 2),
                    "emulator_cpu_s_per_audio_hour": round(emulator_cpu / hours, 2),
                    "audio_hours_per_wall_hour": round(hours * 3600 / wall, 1),
                }
            )
        nursery.cancel_scope.cancel()
    one, two = (case["audio_hours_per_wall_hour"] for case in cases)
    return {
        "fixed_cpu_s_per_process": round(fixed, 2),
        "core_ceiling": await _core_ceiling(),
        "source": AUDIO_SOURCE,
        "jobs": AUDIO_JOBS,
        "minutes_each": minutes,
        "audio_hours": round(hours, 3),
        "cases": cases,
        "scaling_ratio": round(two / one, 2),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Both parts; every figure with its target where it has one."""
    common.raise_fd_limit(4096)
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-shards-") as tmp_name:
        tmp = Path(tmp_name)
        steady = QUICK_STEADY_S if quick else STEADY_S
        account = trio.run(_account, tmp, ACCOUNT_RPM, steady)
        audio = trio.run(_audio, tmp, QUICK_AUDIO_MINUTES if quick else AUDIO_MINUTES)
    return {"account": account, "audio": audio}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
