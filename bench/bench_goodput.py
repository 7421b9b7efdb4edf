"""Benchmark: how much of the account's limits a run uses, in real time (issue 10).

*Goodput* is jobs (or tokens) per second after the first bucket, divided by the
limit's rate: the service's buckets are full at the start, so the first bucket's
worth may go at once; after it, nothing can beat the refill rate. Three scenarios,
each a real ``rtbatch run`` against an emulator in its own process; the client is
never told the limits (no ``--rpm``/``--tpm``): it must find them from what the
service says.

* **RPM-bound**: ``--rpm 600``, three buckets (1,800 jobs) at ``-c 50``. Targets:
  goodput >= 0.95, refused requests <= 5 % of all requests, no job failed for a rate
  limit.
* **TPM-bound**: ``--tpm 24000``, about three buckets of tokens. Goodput >= 0.9, in
  tokens; refusals and failures beside the same targets as above.
* **Faults**: the same 400 jobs at ``-c 40`` and 1 s latency, fault-free, then with
  20 % of WebSocket upgrades refused with 429 and with 20 % of responses refused
  for rate limits (the emulator's hints: 0.2 to 2 s). Wall time <= 3x fault-free.
  A second of latency is a typical realtime response; with far shorter responses
  a refusal's hold (its hint, honoured) costs more than the responses themselves.

Each run has a ``--deadline`` (about twice what the limit allows) so a collapsing
client costs minutes, not hours; a run stopped by it reports what it finished.
Completions are timed by watching the result file (rtbatch flushes each line);
refusals are counted by the emulator itself: it runs as ``rtbatch serve`` behind
this module's ``serve`` entry point, which writes the emulator's counters to a file
when it stops.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Emulator, run_rtbatch, write_text_jobs

RPM = 600
TPM = 24_000
BUCKETS = 3
QUICK_BUCKETS = 1.5
#: Total tokens of one emulator text job (prompt, instructions, a 12-word reply):
#: 41 on average, measured; it only sizes the TPM batch, whose goodput counts the
#: tokens each job really used.
TOKENS_PER_JOB = 41
LIMIT_CONCURRENCY = 50
LIMIT_LATENCY_MS = 200.0
FAULT_JOBS = 400
QUICK_FAULT_JOBS = 200
FAULT_CONCURRENCY = 40
FAULT_LATENCY_MS = 1000.0
FAULT_RATE = 0.2
GOODPUT_RPM_TARGET = 0.95
GOODPUT_TPM_TARGET = 0.9
REFUSED_MAX = 0.05
FAULT_RATIO_MAX = 3.0
#: Result error types that mean a job failed for a rate or capacity limit.
LIMIT_ERRORS = frozenset({"rate_limited", "overloaded", "daily_limit", "try_later"})
#: A limit-bound run may take twice what the limit allows, plus start-up, before its
#: --deadline stops it; a faulty run, its target ratio of the fault-free wall time.
DEADLINE_FACTOR = 2.0
DEADLINE_SLACK_S = 20.0
FAULT_FREE_DEADLINE_S = 120.0
#: Beyond its --deadline, a run may take this long to stop and write its summary.
STOP_GRACE_S = 120.0
#: How often the result file is polled for new lines (the timing resolution).
TAIL_POLL_S = 0.01


class ResultTail:
    """Stamps each result line with the instant it appeared, from a thread.

    rtbatch removes nothing while it runs, and a file held open survives the
    benchmark helper's unlink after the run, so the last lines are never lost.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> ResultTail:
        self.path.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _follow(self) -> None:
        handle = None
        pending = b""
        try:
            while True:
                stopping = self._stop.is_set()
                if handle is None:
                    try:
                        handle = self.path.open("rb")
                    except FileNotFoundError:
                        handle = None
                if handle is not None:
                    pending += handle.read()
                    *whole, pending = pending.split(b"\n")
                    now = time.perf_counter()
                    self.lines += [(now, json.loads(line)) for line in whole if line]
                if stopping:
                    return
                time.sleep(TAIL_POLL_S)
        finally:
            if handle is not None:
                handle.close()


def goodput(stamped: list[tuple[float, float]], first_bucket: float, rate: float) -> float | None:
    """Amount per second after the first bucket's worth completed, over ``rate``.

    Args:
        stamped: ``(instant, amount)`` per completed job (1 per job, or its tokens).
        first_bucket: the bucket's size in the same unit.
        rate: the limit's refill per second in the same unit.

    Returns:
        The fraction, or ``None`` when nothing completed after the first bucket.
    """
    total = 0.0
    bucket_done_at: float | None = None
    after = 0.0
    last = 0.0
    for instant, amount in sorted(stamped):
        if bucket_done_at is None:
            total += amount
            if total >= first_bucket:
                bucket_done_at = instant
            continue
        after += amount
        last = instant
    if bucket_done_at is None or after == 0 or last <= bucket_done_at:
        return None
    return after / (last - bucket_done_at) / rate


def measure(
    tmp: Path,
    name: str,
    jobs: int,
    concurrency: int,
    *,
    latency_ms: float,
    serve_options: list[str],
    deadline_s: float,
) -> dict[str, Any]:
    """One ``rtbatch run`` against a fresh emulator; its figures, the emulator's and each line.

    Args:
        tmp: a scratch directory.
        name: the scenario, for file names.
        jobs: text jobs in the batch.
        concurrency: the run's ``-c``.
        latency_ms: the emulator's latency before each response.
        serve_options: more ``rtbatch serve`` options (limits, faults).
        deadline_s: the run's ``--deadline``.

    Returns:
        ``run_rtbatch``'s figures plus ``emulator`` (its counters), ``completions``
        (``[instant, total_tokens]`` of each completed job) and ``limit_failures``.
    """
    path = write_text_jobs(tmp / f"{name}.jsonl", jobs)
    stats_path = tmp / f"{name}.emulator.json"
    emulator = Emulator(
        latency_ms=latency_ms,
        extra=serve_options,
        program=("-m", "bench.bench_goodput", "serve", str(stats_path)),
    )
    with emulator, ResultTail(path.with_suffix(".results.jsonl")) as tail:
        figures = run_rtbatch(
            emulator,
            path,
            concurrency,
            extra=["--deadline", f"{deadline_s:g}"],
            timeout_s=deadline_s + STOP_GRACE_S,
        )
    figures["emulator"] = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    figures["completions"] = [
        [instant, (line.get("usage") or {}).get("total_tokens") or 0]
        for instant, line in tail.lines
        if line.get("status") == "completed"
    ]
    figures["limit_failures"] = sum(
        1
        for _, line in tail.lines
        if line.get("status") == "failed" and (line.get("error") or {}).get("type") in LIMIT_ERRORS
    )
    return figures


def _limit_case(
    tmp: Path, name: str, buckets: float, serve_options: list[str], bucket: float, rate: float
) -> dict[str, Any]:
    per_job = 1 if name == "rpm" else TOKENS_PER_JOB
    jobs = math.ceil(buckets * bucket / per_job)
    ideal_s = (buckets - 1) * bucket / rate
    figures = measure(
        tmp,
        name,
        jobs,
        LIMIT_CONCURRENCY,
        latency_ms=LIMIT_LATENCY_MS,
        serve_options=serve_options,
        deadline_s=round(DEADLINE_FACTOR * ideal_s + DEADLINE_SLACK_S),
    )
    stamped = [(t, 1.0 if name == "rpm" else float(tokens)) for t, tokens in figures["completions"]]
    stats = figures["emulator"]
    requests = stats.get("responses") or 0
    case = {
        "jobs": jobs,
        "ideal_s": round(ideal_s, 1),
        "run_wall_s": figures.get("run_wall_s"),
        "completed": figures.get("completed"),
        "failed": figures.get("failed"),
        "stopped": figures.get("stopped"),
        "limit_failures": figures["limit_failures"],
        "requests": requests,
        "refused": stats.get("rate_limited"),
        "refused_share": round(stats.get("rate_limited", 0) / requests, 4) if requests else None,
        "goodput": _rounded(goodput(stamped, bucket, rate)),
    }
    if "error" in figures:
        case["error"] = figures["error"]
    return case


def _fault_case(tmp: Path, name: str, jobs: int, fault: str | None, base_s: float | None) -> Any:
    deadline = (
        round(FAULT_RATIO_MAX * base_s + DEADLINE_SLACK_S) if base_s else FAULT_FREE_DEADLINE_S
    )
    figures = measure(
        tmp,
        name,
        jobs,
        FAULT_CONCURRENCY,
        latency_ms=FAULT_LATENCY_MS,
        serve_options=["--fault", f"{fault}={FAULT_RATE}"] if fault else [],
        deadline_s=deadline,
    )
    wall = figures.get("run_wall_s")
    case = {
        "fault": fault,
        "jobs": jobs,
        "run_wall_s": wall,
        "completed": figures.get("completed"),
        "failed": figures.get("failed"),
        "stopped": figures.get("stopped"),
        "injected": figures["emulator"].get("faults_injected"),
        "ratio": round(wall / base_s, 2) if wall and base_s else None,
    }
    if "error" in figures:
        case["error"] = figures["error"]
    return case


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def run(quick: bool = False) -> dict[str, Any]:
    """Every scenario; the figures and a verdict per target."""
    buckets = QUICK_BUCKETS if quick else BUCKETS
    fault_jobs = QUICK_FAULT_JOBS if quick else FAULT_JOBS
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-goodput-") as scratch:
        tmp = Path(scratch)
        rpm = _limit_case(tmp, "rpm", buckets, ["--rpm", str(RPM)], RPM, RPM / 60)
        tpm = _limit_case(tmp, "tpm", buckets, ["--tpm", str(TPM)], TPM, TPM / 60)
        base = _fault_case(tmp, "fault-free", fault_jobs, None, None)
        faults = [
            _fault_case(tmp, kind, fault_jobs, kind, base["run_wall_s"])
            for kind in ("handshake_429", "rate_limit")
        ]
    return {
        "rpm": {**rpm, "limit": RPM, "concurrency": LIMIT_CONCURRENCY},
        "tpm": {**tpm, "limit": TPM, "concurrency": LIMIT_CONCURRENCY},
        "fault_free": base,
        "faults": faults,
        "targets": {
            "goodput_rpm": GOODPUT_RPM_TARGET,
            "goodput_tpm": GOODPUT_TPM_TARGET,
            "refused_share": REFUSED_MAX,
            "fault_ratio": FAULT_RATIO_MAX,
        },
        "pass": {
            "goodput_rpm": (rpm["goodput"] or 0) >= GOODPUT_RPM_TARGET,
            "refused_rpm": rpm["refused_share"] is not None and rpm["refused_share"] <= REFUSED_MAX,
            "limit_failures_rpm": rpm["limit_failures"] == 0 and not rpm["stopped"],
            "goodput_tpm": (tpm["goodput"] or 0) >= GOODPUT_TPM_TARGET,
            "refused_tpm": tpm["refused_share"] is not None and tpm["refused_share"] <= REFUSED_MAX,
            "limit_failures_tpm": tpm["limit_failures"] == 0 and not tpm["stopped"],
            **{
                f"ratio_{case['fault']}": case["ratio"] is not None
                and case["ratio"] <= FAULT_RATIO_MAX
                and not case["stopped"]
                for case in faults
            },
        },
    }


# -- the emulator's side: ``rtbatch serve`` that reports its counters -------------


def serve_with_stats(stats_path: Path, options: list[str]) -> None:
    """Serve like ``rtbatch serve OPTIONS``; on SIGINT/SIGTERM write the counters, then stop.

    Args:
        stats_path: where the emulator's counters go (JSON).
        options: ``rtbatch serve`` options, parsed by that very command.
    """
    import trio

    from rtbatch.emulator import EmulatorConfig
    from rtbatch.emulator.cli import serve as serve_command
    from rtbatch.emulator.main import serve_until_signal

    params = serve_command.make_context("serve", options).params
    tls = params.pop("certfile"), params.pop("keyfile")
    if any(tls):
        raise SystemExit("bench.bench_goodput serve: TLS is not measured here")
    emulator = trio.run(serve_until_signal, EmulatorConfig(**params))
    emulator.sync_window_stats()
    # Field by field: asdict would rebuild each Counter from (key, count) pairs.
    stats = emulator.stats
    counters = {field.name: getattr(stats, field.name) for field in dataclasses.fields(stats)}
    stats_path.write_text(json.dumps({k: _plain(v) for k, v in counters.items()}))


def _plain(value: Any) -> Any:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve_with_stats(Path(sys.argv[2]), sys.argv[3:])
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
