"""Benchmark: resuming a large result file, the way a rerun after a kill does.

A result file of ``lines`` lines (about 590 bytes each, like the lines of a text
run) is written once, then resumed by ``prepare_resume`` in a fresh child process
for each case, in this order:

* **torn tail**: the file ends in half a line, as a killed run leaves it. The
  repair copies the unchanged head in blocks and drops the torn line.
* **clean**: the repaired file again; nothing to repair, so nothing is written.
* **first line failed**: the first line says ``failed`` (failed jobs are
  retried), so every later line passes through the repair.
* **baseline**: a missing file, for the interpreter and its imports.

Each child reports its own peak RSS (``VmHWM``, which the ``exec`` resets, so the
parent's size does not leak in), the time of the call and the counts. Memory
should not follow the file's size: what grows is the index of settled ids
(:mod:`rtbatch.idindex`, 18-36 bytes a job), reported here per line over the
baseline.

    python -m bench --only resume          # 1,000,000 lines
    python -m bench.bench_resume --lines 100000
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MIB, PYTHON, run_child

LINES = 1_000_000
TORN = b'{"id":"job-torn","status":"compl'
# One line of a completed text job, as the writer lays it out (ids are fixed width,
# so a line's length never changes and a status can be rewritten in place).
_LINE = (
    '{{"id":"job-{i:07d}","status":"completed","kind":"text","model":"gpt-realtime-1.5",'
    '"output":{{"text":"{reply}"}},"usage":{{"total_tokens":41,"input_tokens":28,'
    '"output_tokens":13,"input_token_details":{{"text_tokens":28,"audio_tokens":0,'
    '"image_tokens":0,"cached_tokens":0,"cached_tokens_details":{{"text_tokens":0,'
    '"audio_tokens":0,"image_tokens":0}}}},"output_token_details":{{"text_tokens":13,'
    '"audio_tokens":0}}}},"cost_usd":0.000320,"response_id":"resp_{i:021d}","attempts":1,'
    '"latency_ms":812,"error":null,"metadata":{{"batch":"bench","row":{i}}}}}\n'
)
_REPLY = "Emulated reply amber basil cedar delta ember fable garnet harbor indigo juniper."
_COMPLETED, _FAILED = b'"status":"completed"', b'"status":"failed"   '


def write_results(path: Path, lines: int) -> int:
    """Write ``lines`` result lines and a torn tail; return the file size in bytes."""
    # Line by line: this process stays small, as its children's figures need.
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            out.write(_LINE.format(i=i, reply=_REPLY))
    with path.open("ab") as out:
        out.write(TORN)
    return path.stat().st_size


def _fail_first_line(path: Path) -> None:
    with path.open("r+b") as f:
        head = f.read(256)
        f.seek(head.index(_COMPLETED))
        f.write(_FAILED)


def _child(path: str) -> None:
    """Resume ``path`` once; print the figures as JSON."""
    from rtbatch.output.resume import prepare_resume

    target = Path(path)
    before = target.stat().st_ino if target.exists() else None
    started = time.perf_counter()
    index = prepare_resume(target, retry_failed=True)
    seconds = time.perf_counter() - started
    after = target.stat().st_ino if target.exists() else None
    report: dict[str, Any] = {
        "seconds": seconds,
        "settled": len(index.done),
        "dropped_torn": index.dropped_torn,
        "rewritten": before != after,
        "leftovers": sorted(p.name for p in target.parent.iterdir() if p != target),
    }
    # ru_maxrss is KiB on Linux, bytes on macOS; VmHWM (Linux) is the same, from /proc.
    scale = 1 if sys.platform == "darwin" else 1024
    report["vm_hwm_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MIB
    status = Path("/proc/self/status")
    for line in status.read_text().splitlines() if status.exists() else ():
        if line.startswith("VmHWM:"):
            report["vm_hwm_mib"] = int(line.split()[1]) / 1024
    print(json.dumps(report))


def _measure(path: Path) -> dict[str, Any]:
    res = run_child(
        [PYTHON, "-m", "bench.bench_resume", "--child", str(path)],
        capture_stdout=True,
        timeout_s=900,
    )
    if res.returncode != 0:
        raise RuntimeError(f"resume child failed (exit {res.returncode}): {res.stderr_tail}")
    figures: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    figures["cpu_s"] = round(res.cpu_s, 2)
    return figures


def run(lines: int = LINES) -> dict[str, Any]:
    """Every case on one file of ``lines`` lines; peak RSS (MiB), time, growth per line."""
    report: dict[str, Any] = {"lines": lines}
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-resume-") as tmp:
        folder = Path(tmp) / "results"
        folder.mkdir()
        path = folder / "r.jsonl"
        # Twice, keeping the second: the first may compile the modules, which
        # costs memory no resume does.
        _measure(folder / "missing.jsonl")
        baseline = _measure(folder / "missing.jsonl")
        report["baseline_rss_mib"] = round(baseline["vm_hwm_mib"], 1)
        started = time.perf_counter()
        size = write_results(path, lines)
        report["write_s"] = round(time.perf_counter() - started, 1)
        report["file_mib"] = round(size / MIB, 1)
        cases = []
        for name in ("torn tail", "clean", "first line failed"):
            if name == "first line failed":
                _fail_first_line(path)
            figures = _measure(path)
            over = figures["vm_hwm_mib"] - baseline["vm_hwm_mib"]
            cases.append(
                {
                    "case": name,
                    "seconds": round(figures["seconds"], 2),
                    "lines_per_s": round(lines / figures["seconds"]),
                    "peak_rss_mib": round(figures["vm_hwm_mib"], 1),
                    "rss_over_baseline_mib": round(over, 1),
                    "rss_over_baseline_bytes_per_line": round(over * MIB / lines, 1),
                    "settled": figures["settled"],
                    "dropped_torn": figures["dropped_torn"],
                    "rewritten": figures["rewritten"],
                    "leftovers": figures["leftovers"],
                    "cpu_s": figures["cpu_s"],
                }
            )
        report["cases"] = cases
    return report


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        count = int(sys.argv[sys.argv.index("--lines") + 1]) if "--lines" in sys.argv else LINES
        print(json.dumps(run(count), indent=2))
