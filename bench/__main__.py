"""``make bench``: every benchmark, one table, ``bench/results.json``.

    python -m bench                 # the full run (a few minutes)
    python -m bench --quick         # smaller sizes, one repetition (about a minute and a half)
    python -m bench --only peer     # one section (repeatable); merged into results.json

Sections: startup, throughput, tls, cpu, peer, memory, validate, connections, audio, audio_send,
resume, shards, goodput, transcribe, faults.
Each runs on its own; one that fails (or whose module does not exist yet) is
recorded with its error and the others go on. The driver itself imports only
the standard library and measures every client as a child process (see
``bench/common.py`` for why that matters to peak RSS).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import common

RESULTS = Path(__file__).resolve().parent / "results.json"
Row = tuple[str, str, str, str, str]  # section, metric, value, target, verdict


# -- sections ------------------------------------------------------------------


def _tls(quick: bool) -> dict[str, Any]:
    from bench import bench_tls

    return bench_tls.run(quick=quick)


def _startup(quick: bool) -> dict[str, Any]:
    from bench import bench_startup

    return bench_startup.run(runs=5 if quick else 10)


def _throughput(quick: bool) -> dict[str, Any]:
    from bench import bench_throughput

    return bench_throughput.run(quick=quick)


def _cpu(quick: bool) -> dict[str, Any]:
    from bench import bench_cpu

    return bench_cpu.run(jobs=1000 if quick else 5000, reps=1)


def _peer(quick: bool) -> dict[str, Any]:
    from bench import bench_peer

    return bench_peer.run(jobs=300 if quick else 1000, reps=1 if quick else 3, warm_up=not quick)


def _memory(quick: bool) -> dict[str, Any]:
    from bench import bench_memory

    return bench_memory.run(quick=quick)


def _validate(quick: bool) -> dict[str, Any]:
    result: dict[str, Any] = common.run_python_call("bench.bench_validate", timeout_s=300)
    return result


def _connections(quick: bool) -> dict[str, Any]:
    result: dict[str, Any] = common.run_python_call("bench.bench_connections", timeout_s=180)
    return result


def _audio(quick: bool) -> dict[str, Any]:
    # CPU figures are scaled to one audio hour; 20 minutes keep the full run short.
    kwargs = {"minutes": 3 if quick else 20}
    result: dict[str, Any] = common.run_python_call("bench.bench_audio", kwargs=kwargs)
    return result


def _audio_send(quick: bool) -> dict[str, Any]:
    from bench import bench_audio_send

    return bench_audio_send.run(minutes=3 if quick else 10)


def _resume(quick: bool) -> dict[str, Any]:
    kwargs = {"lines": 200_000 if quick else 1_000_000}
    result: dict[str, Any] = common.run_python_call("bench.bench_resume", kwargs=kwargs)
    return result


def _shards(quick: bool) -> dict[str, Any]:
    # Real time, about a minute (quick: 40 s): shards on one account, then the audio cases.
    kwargs = {"quick": quick}
    result: dict[str, Any] = common.run_python_call("bench.bench_shards", kwargs=kwargs)
    return result


def _goodput(quick: bool) -> dict[str, Any]:
    from bench import bench_goodput

    return bench_goodput.run(quick=quick)


def _transcribe(quick: bool) -> dict[str, Any]:
    # Real time, about three minutes (quick: one and a half): the CPU comparison, then 1 h and 10 h.
    kwargs = {"minutes": 5, "hours": [1, 2]} if quick else {"minutes": 20, "hours": [1, 10]}
    result: dict[str, Any] = common.run_python_call(
        "bench.bench_transcribe", kwargs=kwargs, timeout_s=1800
    )
    return result


def _faults(quick: bool) -> dict[str, Any]:
    # Real time, a minute or two: a fault-free run, then each transient fault at 20 %.
    result: dict[str, Any] = common.run_python_call(
        "bench.bench_faults", kwargs={"quick": quick}, timeout_s=2400
    )
    return result


SECTIONS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "startup": _startup,
    "throughput": _throughput,
    "tls": _tls,
    "cpu": _cpu,
    "peer": _peer,
    "memory": _memory,
    "validate": _validate,
    "connections": _connections,
    "audio": _audio,
    "audio_send": _audio_send,
    "resume": _resume,
    "shards": _shards,
    "goodput": _goodput,
    "transcribe": _transcribe,
    "faults": _faults,
}


# -- the table -------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "MISS")


def _row(section: str, metric: str, value: str, target: str = "", verdict: str = "") -> Row:
    return (section, metric, value, target, verdict)


def _rows_startup(r: dict[str, Any]) -> list[Row]:
    return [
        _row(
            "startup",
            f"{r['command']} (median of {r['runs']}; min {r['help_min_ms']:.0f} ms)",
            f"{r['help_ms']:.0f} ms",
            f"< {r['target_ms']:.0f} ms",
            _verdict(r["pass"]),
        ),
        _row("startup", "python -c pass (floor)", f"{r['python_pass_ms']:.0f} ms"),
        _row("startup", "python -m rtbatch --help", f"{r['module_help_ms']:.0f} ms"),
    ]


def _bound(cell: dict[str, Any]) -> str:
    client, emulator = cell.get("client_cpu_util", 0), cell.get("emulator_cpu_util", 0)
    if max(client, emulator) < 0.75:
        return ""
    return " (client CPU-bound)" if client >= emulator else " (emulator CPU-bound)"


def _rows_throughput(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    targets = {(t["concurrency"], t["latency_s"]) for t in r["target_cells"]}
    for c in r["cells"]:
        name = f"L={c['latency_s']:g}s C={c['concurrency']} J={c['jobs']}: limit/ours"
        if "fraction" not in c:
            rows.append(_row("throughput", name, "error", "", "MISS"))
            continue
        value = (
            f"{c['fraction']:.2f} ({c['run_wall_s']:.2f} s; process "
            f"{c['fraction_process']:.2f}){_bound(c)}"
        )
        if "peer_fraction" in c:
            value += f"; SDK {c['peer_fraction']:.2f} ({c['peer_run_wall_s']:.2f} s)"
        if "replay_fraction" in c:
            value += f"; client alone (replayed frames) {c['replay_fraction']:.2f}"
        if "setup_s" in c:
            value += (
                f"; once per run {c['setup_s']:.2f} s, per round {c['per_round_s']:.3f} s"
                f" (ceiling {c['ceiling_with_setup']:.2f})"
            )
        if (c["concurrency"], c["latency_s"]) in targets:
            ok = _verdict(c["fraction"] >= r["target"])
            rows.append(_row("throughput", name, value, f">= {r['target']}", ok))
        else:
            rows.append(_row("throughput", name, value))
    return rows


def _rows_tls(r: dict[str, Any]) -> list[Row]:
    if "skipped" in r:
        return [_row("tls", "wss:// / ws://", f"skipped: {r['skipped']}")]
    return [_tls_row(r, cell) for cell in r["cells"]]


def _tls_row(r: dict[str, Any], c: dict[str, Any]) -> Row:
    name = f"L={r['latency_s']:g}s C={c['concurrency']} J={c['jobs']}: wss:// / ws:// wall"
    if "ratio" not in c:
        return _row("tls", name, "error", "", "MISS")
    ws, wss = c["ws"], c["wss"]
    value = (
        f"{c['ratio']:.2f} ({wss['run_wall_s']:.2f} s vs {ws['run_wall_s']:.2f} s; limit/ours "
        f"{wss['fraction']:.2f} vs {ws['fraction']:.2f}; client CPU {wss['cpu_s']:.1f} vs "
        f"{ws['cpu_s']:.1f} s; {r['bundle_bytes'] / 1024:.0f} KiB CA bundle)"
    )
    return _row("tls", name, value, f"<= {r['ratio_max']}", _verdict(c["ratio"] <= r["ratio_max"]))


def _rows_cpu(r: dict[str, Any]) -> list[Row]:
    util = f"client util {r['client_cpu_util']:.2f}, emulator {r['emulator_cpu_util']:.2f}"
    return [
        _row(
            "cpu",
            f"CPU s per 1000 jobs ({r['jobs']} jobs C={r['concurrency']}, whole process)",
            f"{r['cpu_s_per_1000_jobs']:.2f}",
        ),
        _row("cpu", "  marginal (start-up removed)", f"{r['marginal_cpu_s_per_1000_jobs']:.2f}"),
        _row("cpu", "jobs/s (run wall)", f"{r['jobs_per_s']:.0f}", "", util),
    ]


def _rows_peer(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    head = f"{r['jobs']} jobs C={r['concurrency']}, median of {r['reps']}"
    for name, c in r["clients"].items():
        value = (
            f"{c['cpu_s_per_1000_jobs']:.2f} | {c['marginal_cpu_ms_per_job']:.2f} | "
            f"{c['peak_rss_mib']:.0f} MiB | {c['process_wall_s']:.1f} s"
        )
        rows.append(
            _row(
                "peer",
                f"{name}: CPU s/1000 jobs | CPU ms/job marginal | RSS | wall",
                value,
                head if name == "rtbatch" else "",
                "" if c["all_completed"] else "INCOMPLETE",
            )
        )
    for peer, ratio in r["ratios"].items():
        ok = ratio["marginal_cpu_ms_per_job"] <= r["target_cpu_ratio"]
        value = (
            f"{ratio['process_wall_s']:.2f} | {ratio['cpu_s']:.2f} | "
            f"{ratio['marginal_cpu_ms_per_job']:.2f} | {ratio['peak_rss_mib']:.2f}"
        )
        rows.append(
            _row(
                "peer",
                f"ours/{peer}: wall | CPU | CPU/job marginal | RSS",
                value,
                f"CPU/job <= {r['target_cpu_ratio']}",
                _verdict(ok),
            )
        )
    return rows


def _rows_memory(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "complete_10k" in r:
        c = r["complete_10k"]
        rows.append(
            _row(
                "memory",
                "peak RSS, 10,000 jobs run to the end",
                f"{c['peak_rss_mib']:.1f} MiB",
                "",
                f"{c.get('completed')} completed",
            )
        )
    for s in r["by_file_size"]:
        rows.append(
            _row(
                "memory",
                f"peak RSS, {s['jobs_in_file']:,}-job file ({s['file_mib']} MiB), "
                f"{r['deadline_s']:g} s of jobs",
                f"{s['peak_rss_mib']:.1f} MiB",
                "",
                f"{s.get('completed')} done",
            )
        )
    growth = f"{r['rss_growth_bytes_per_extra_job']:.0f} B"
    rows.append(_row("memory", "  growth per extra job in the file (id index)", growth))
    c = r["connections"]
    both = f"{c['c64']['peak_rss_mib']:.1f} | {c['c1000']['peak_rss_mib']:.1f} MiB"
    rows.append(_row("memory", f"peak RSS, {c['jobs']:,} jobs at -c 64 | -c 1000", both))
    per = f"{c['rss_per_connection_kib']:.0f} KiB"
    rows.append(_row("memory", "  client RSS per open connection", per))
    return rows


def _rows_validate(r: dict[str, Any]) -> list[Row]:
    return [
        _row(
            "validate",
            f"reader peak RSS, {run['jobs']:,} jobs ({run['file_mib']} MiB)",
            f"{run['peak_rss_mib']:.1f} MiB",
            "",
            f"{run['rss_per_job_bytes']} B/job over base",
        )
        for run in r["runs"]
    ]


def _rows_connections(r: dict[str, Any]) -> list[Row]:
    rss = (
        f"{r['rss_idle_kib'] / 1024:.0f} | {r['rss_holding_kib'] / 1024:.0f} | "
        f"{r['peak_rss_kib'] / 1024:.0f} MiB"
    )
    times = f"{r['open_s']:.2f} s | {r['turns_s']:.2f} s ({r['turns_per_s']:.0f}/s)"
    n = r["connections"]
    return [
        _row("connections", f"emulator RSS idle | holding {n} | peak", rss),
        _row("connections", f"open {n} | one turn on each", times),
    ]


def _rows_audio(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for case in r["cases"]:
        metric = f"{case['name']}: CPU s per audio hour"
        value = f"{case['cpu_s_per_audio_hour']:.2f}"
        if case["variant"] == "rtbatch":
            target = f"< {r['target_cpu_s_per_audio_hour']}"
            rows.append(_row("audio", metric, value, target, _verdict(case["meets_target"])))
        else:
            rows.append(_row("audio", metric, value))
    return rows


def _rows_audio_send(r: dict[str, Any]) -> list[Row]:
    target = f"< {r['target_cpu_s_per_hour']}"
    return [
        _row(
            "audio_send",
            f"rtbatch run, {c['source']} ({c['minutes']} min): client CPU s per audio hour",
            f"{c['cpu_s_per_audio_hour']:.2f}",
            target,
            _verdict(c["meets_target"] and c["completed"]),
        )
        for c in r["cases"]
    ]


def _rows_resume(r: dict[str, Any]) -> list[Row]:
    head = f"{r['lines']:,}-line result file ({r['file_mib']} MiB)"
    return [
        _row(
            "resume",
            f"{head}, {c['case']}: peak RSS | time | CPU",
            f"{c['peak_rss_mib']:.1f} MiB | {c['seconds']:.1f} s | {c['cpu_s']:.1f} s",
            "",
            f"{c['rss_over_baseline_bytes_per_line']:.0f} B/line over base",
        )
        for c in r["cases"]
    ]


def _rows_shards(r: dict[str, Any]) -> list[Row]:
    a, g = r["account"], r["account"]["goodput"]
    head = f"{a['shards']} shards, --rpm {a['rpm']}, {a['jobs']} jobs"
    ratio = "n/a" if g["ratio"] is None else f"{g['ratio']:.2f} ({g['jobs_per_s']} jobs/s)"
    rows = [
        _row(
            "shards",
            f"{head}: goodput after the first bucket / limit",
            ratio,
            f">= {a['target_goodput']}",
            _verdict(a["meets_goodput"]),
        ),
        _row(
            "shards",
            f"{head}: refused / requests",
            f"{a['refused_share']:.1%} ({a['refused']} of {a['admitted'] + a['refused']})",
            f"<= {a['target_refused']:.0%}",
            _verdict(a["meets_refused"]),
        ),
    ]
    audio = r["audio"]
    for case in audio["cases"]:
        rows.append(
            _row(
                "shards",
                f"audio, {case['shards']} shard(s) -c {case['concurrency_per_shard']}: "
                "CPU s per audio hour (marginal) | emulator",
                f"{case['cpu_s_per_audio_hour']:.1f} ({case['marginal_cpu_s_per_audio_hour']:.1f})"
                f" | {case['emulator_cpu_s_per_audio_hour']:.1f}",
                "",
                f"{case['audio_hours_per_wall_hour']:.0f} audio h per wall h",
            )
        )
    rows.append(
        _row(
            "shards",
            "audio scaling, 2 shards / 1 (2 CPU-bound processes get)",
            f"{audio['scaling_ratio']:.2f} ({audio['core_ceiling']:.2f})",
        )
    )
    return rows


def _figure(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _rows_goodput(r: dict[str, Any]) -> list[Row]:
    targets, ok = r["targets"], r["pass"]
    rows: list[Row] = []
    for name, key in (("RPM", "rpm"), ("TPM", "tpm")):
        case = r[key]
        stopped = f" (stopped: {case['stopped']})" if case.get("stopped") else ""
        rows.append(
            _row(
                "goodput",
                f"{name}-bound --{key} {case['limit']}, {case['jobs']} jobs -c "
                f"{case['concurrency']}: goodput",
                f"{_figure(case['goodput'])} ({_figure(case['run_wall_s'], '.1f')} s; limit "
                f"{case['ideal_s']:.0f} s){stopped}",
                f">= {targets[f'goodput_{key}']}",
                _verdict(ok[f"goodput_{key}"]),
            )
        )
        share = case["refused_share"]
        rows.append(
            _row(
                "goodput",
                "  refused requests",
                f"{case['refused']} of {case['requests']} ({_figure(share, '.1%')})",
                f"<= {targets['refused_share']:.0%}",
                _verdict(ok[f"refused_{key}"]),
            )
        )
        rows.append(
            _row(
                "goodput",
                "  jobs failed for a rate limit",
                str(case["limit_failures"]),
                "0",
                _verdict(ok[f"limit_failures_{key}"]),
            )
        )
    base = r["fault_free"]
    for case in r["faults"]:
        stopped = f" (stopped: {case['stopped']})" if case.get("stopped") else ""
        rows.append(
            _row(
                "goodput",
                f"{case['fault']}=0.2, {case['jobs']} jobs: wall / fault-free",
                f"{_figure(case['ratio'], '.2f')} ({_figure(case['run_wall_s'], '.1f')} s vs "
                f"{_figure(base['run_wall_s'], '.1f')} s){stopped}",
                f"<= {targets['fault_ratio']}",
                _verdict(ok[f"ratio_{case['fault']}"]),
            )
        )
    return rows


def _rows_transcribe(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    target = f"<= {r['target_cpu_ratio']}x ffmpeg"
    for c in r["cases"]:
        metric = (
            f"rtbatch transcribe vs ffmpeg CLI, {c['source']} ({c['minutes']} min): "
            "CPU s per audio hour (marginal)"
        )
        ours = c["rtbatch_cpu_s_per_audio_hour"]
        if c.get("ratio") is None:
            reason = c.get("skipped", "no ratio")
            rows.append(_row("transcribe", metric, f"{ours:.1f} | -", target, reason[:40]))
            continue
        value = (
            f"{ours:.1f} | {c['ffmpeg_cpu_s_per_audio_hour']:.1f} = {c['ratio']:.2f}x "
            f"(whole process {c['whole_ratio']:.2f}x)"
        )
        rows.append(
            _row(
                "transcribe", metric, value, target, _verdict(c["meets_target"] and c["completed"])
            )
        )
    for f in r["flat"]:
        rows.append(
            _row(
                "transcribe",
                f"{f['audio_hours']} h of audio ({f['segments']} segments): "
                "client peak RSS | CPU | wall",
                f"{f['peak_rss_mib']:.0f} MiB | {f['cpu_s']:.0f} s | {f['process_wall_s']:.0f} s",
                f"<= first + {r['flat_margin_mib']:g} MiB",
                _verdict(
                    f["status"] == "completed" and f["rss_over_first_mib"] <= r["flat_margin_mib"]
                ),
            )
        )
    return rows


def _rows_faults(r: dict[str, Any]) -> list[Row]:
    base = r["fault_free"]
    head = f"{r['jobs']} jobs -c {r['concurrency']}, {r['latency_ms']:g} ms"
    rows = [_row("faults", f"{head}: fault-free wall", f"{_figure(base['run_wall_s'], '.2f')} s")]
    for case in r["faults"]:
        stopped = f", stopped: {case['stopped']}" if case.get("stopped") else ""
        done = (
            f", {case['completed']}/{case['jobs']} completed"
            if case["completed"] != case["jobs"]
            else ""
        )
        target = f"<= {r['target_ratio']:g}x"
        if case["fault"] == "rate_limit":
            target = f"<= {_figure(case['bound_ratio'], '.2f')}x (3x + hint holds)"
        rows.append(
            _row(
                "faults",
                f"{case['fault']}={r['rate']:g}: wall / fault-free (was {case['old_ratio']}x)",
                f"{_figure(case['ratio'], '.2f')}x ({_figure(case['run_wall_s'], '.1f')} s"
                f"{done}{stopped})",
                target,
                _verdict(case["pass"]),
            )
        )
    return rows


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "startup": _rows_startup,
    "throughput": _rows_throughput,
    "tls": _rows_tls,
    "cpu": _rows_cpu,
    "peer": _rows_peer,
    "memory": _rows_memory,
    "validate": _rows_validate,
    "connections": _rows_connections,
    "audio": _rows_audio,
    "audio_send": _rows_audio_send,
    "resume": _rows_resume,
    "shards": _rows_shards,
    "goodput": _rows_goodput,
    "transcribe": _rows_transcribe,
    "faults": _rows_faults,
}


def table_rows(sections: dict[str, Any]) -> list[Row]:
    """Rows for every section; a failed section is one MISS row with its error."""
    rows: list[Row] = []
    for name, result in sections.items():
        if "error" in result and len(result) <= 3:
            first = str(result["error"]).strip().splitlines()
            rows.append((name, "error", (first[-1] if first else "?")[:70], "", "MISS"))
            continue
        try:
            rows.extend(ROWS[name](result))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            rows.append((name, "unreadable result", repr(exc)[:70], "", "MISS"))
    return rows


def render(rows: list[Row]) -> str:
    """A fixed-width table, one line per row."""
    header: Row = ("section", "metric", "value", "target", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = []
    for i, row in enumerate([header, *rows]):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- the run ---------------------------------------------------------------------


def _warm_up() -> None:
    """Compile every module the children import once, outside any measurement."""
    code = (
        "import rtbatch.cli, rtbatch.runner, rtbatch.run, rtbatch.session\n"
        "import rtbatch.output.results\n"
        "import rtbatch.emulator, rtbatch.emulator.server\n"
        "import openai, openai.resources.realtime.realtime, websockets.asyncio.client\n"
    )
    common.run_child([common.PYTHON, "-c", code], timeout_s=120)
    common.run_child([common.PYTHON, "-m", "rtbatch", "--help"], timeout_s=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repetition")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        metavar="NAME",
        help="run only this section (repeatable): " + ", ".join(SECTIONS),
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (JSON)")
    args = parser.parse_args(argv)

    common.raise_fd_limit(8192)
    names = args.only or list(SECTIONS)
    started = time.perf_counter()
    _warm_up()
    sections: dict[str, Any] = {}
    for name in names:
        t0 = time.perf_counter()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            result = SECTIONS[name](args.quick)
        except Exception as exc:  # one section's failure is data, not the end of the run
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        result["section_s"] = round(time.perf_counter() - t0, 1)
        sections[name] = result
        print(f"bench: {name} done in {result['section_s']} s", file=sys.stderr, flush=True)

    report: dict[str, Any] = {}
    if args.only and args.out.exists():
        try:
            report = json.loads(args.out.read_text())  # keep the other sections
        except ValueError:
            report = {}
    report.setdefault("sections", {}).update(sections)
    report["machine"] = common.machine_info()
    report["machine"]["driver_peak_rss_mib"] = _driver_hwm_mib()
    report["command"] = " ".join(["python -m bench", *(argv or sys.argv[1:])])
    report["quick"] = args.quick
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    keys = ("section", "metric", "value", "target", "verdict")
    report["table"] = [dict(zip(keys, r, strict=True)) for r in table_rows(report["sections"])]
    rows = table_rows(sections)  # print what this run measured
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")

    m = report["machine"]
    print(
        f"rtbatch bench ({'quick' if args.quick else 'full'}), {m['date']}, Python {m['python']}, "
        f"{m['nproc']} cores, pinning {m['pinning']}, {report['elapsed_s']} s"
    )
    print(render(rows))
    print(f"\nwritten: {args.out}")
    return 0


def _driver_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
