"""Benchmark: CPU of the rtbatch client to decode, resample, encode *and send* audio.

``bench_audio`` measures the decoding path alone, in-process. This measures the
whole client: ``rtbatch run`` on one transcription job of a long file against
the emulator (its own process and core), so WebSocket framing, masking, the
socket and the thread hand-off are included. The figure is the client's
marginal CPU (the run of the long file minus the run of a one-minute file, both
measured with ``wait4``), scaled to one hour of audio.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_audio import TARGET_CPU_S_PER_HOUR, ensure_source
from bench.common import Emulator, run_rtbatch

MINUTES = 10


def _job_file(tmp: Path, name: str, audio: Path) -> Path:
    path = tmp / f"{name}.jsonl"
    line = {"id": name, "audio": str(audio), "task": "transcribe"}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return path


def run(minutes: int = MINUTES) -> dict[str, Any]:
    """One case per source kind; CPU seconds per audio hour, and the client's peak RSS."""
    if minutes < 2:
        raise ValueError("minutes: at least 2 (a one-minute run is the baseline)")
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-audio-send-") as tmp_name:
        tmp = Path(tmp_name)
        sources = {
            "wav 24 kHz mono": ensure_source("wav-24k-mono", minutes),
            "mp3 48 kHz stereo": ensure_source("mp3-48k-stereo", minutes),
        }
        short = _job_file(tmp, "short", ensure_source("wav-24k-mono", 1))
        cases = []
        with Emulator(latency_ms=0) as emulator:
            fixed = run_rtbatch(emulator, short, 1)
            for label, source in sources.items():
                jobs = _job_file(tmp, "long", source)
                result = run_rtbatch(emulator, jobs, 1, extra=["--job-timeout", "1h"])
                marginal = result["cpu_s"] - fixed["cpu_s"]
                per_hour = marginal * 60 / (minutes - 1)  # the baseline holds a minute
                cases.append(
                    {
                        "source": label,
                        "minutes": minutes,
                        "completed": result.get("completed") == 1,
                        "cpu_s": result["cpu_s"],
                        "marginal_cpu_s": round(marginal, 3),
                        "cpu_s_per_audio_hour": round(per_hour, 2),
                        "meets_target": per_hour < TARGET_CPU_S_PER_HOUR,
                        "peak_rss_mib": result["peak_rss_mib"],
                        "error": result.get("error"),
                    }
                )
    return {
        "fixed_cpu_s": fixed["cpu_s"],
        "target_cpu_s_per_hour": TARGET_CPU_S_PER_HOUR,
        "cases": cases,
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(minutes=3 if "--quick" in sys.argv else MINUTES), indent=2))
