"""Benchmark: ``rtbatch transcribe`` end to end, beside FFmpeg's own CLI; ten hours, flat.

**Client CPU per audio hour.** ``rtbatch transcribe FILE`` runs as a measured
child (its own CPU and peak RSS, from ``wait4``) on the client core, against
``rtbatch serve`` in another process on the other core: decoding, resampling,
silence detection, segmenting, base64, JSON, WebSocket framing, the segment
checkpoint and the transcript files, all of it. Beside it, in the same run and on
the same core, FFmpeg's CLI converts the same file to what the service takes,
into a pipe this process drains (as ``bench_audio``'s ``ffmpeg_cli`` case does)::

    ffmpeg -nostdin -v error -i FILE -ac 1 -ar 24000 -f s16le -

Both are measured on the long file and on a one-minute file of the same kind;
the difference (start-up removed, on both sides alike) is scaled to one audio
hour, and each figure is the least of :data:`REPEATS` runs (a shared machine
moves one run's CPU by a tenth or more). The four commands take turns, one
round of each at a time, so that the machine's speed drifting over the minute a
case takes moves both sides alike rather than one. Target (issue 20): rtbatch's
marginal CPU at most ``TARGET_FFMPEG_RATIO`` × FFmpeg's, for mp3 and opus. Without an
``ffmpeg`` on ``PATH`` (Debian: ``apt-get install ffmpeg``) the ratio is skipped
and the result says why; rtbatch's own figures are still measured.

**Ten hours, flat.** One mp3 of one hour and one of ten hours (speech-like: tone
phrases and pauses, so cuts fall in silences), each through ``rtbatch transcribe``
against the emulator: the client's peak RSS must not grow with the audio (the
result line's transcript, about 50 KB per hour, is all that does).

The sources are generated once, in a child process (so this process stays small
and its children's ``ru_maxrss`` is their own), and cached in
``$TMPDIR/rtbatch-bench-audio/``. Run: ``python -m bench.bench_transcribe [--quick]``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import common
from bench.bench_audio import CACHE_DIR, FFMPEG_MISSING, TARGET_FFMPEG_RATIO, _run_ffmpeg

#: Long-file length for the CPU comparison (the figures are scaled to one hour).
MINUTES = 20
#: Runs of each measured command in the CPU comparison; the least CPU is kept.
REPEATS = 5
#: Audio hours of the two flat-memory runs.
HOURS = (1, 10)
#: A peak RSS within this of the one-hour run's counts as flat.
FLAT_MARGIN_MIB = 16.0
#: The per-attempt deadline of a ten-hour job, seconds (the default 300 s is sized
#: for one item, not for sending ten hours of audio to a loopback emulator).
JOB_TIMEOUT_S = 3600
#: (label, bench_audio source kind) of the CPU comparison.
CPU_CASES = (("mp3 48 kHz stereo", "mp3-48k-stereo"), ("opus 48 kHz stereo", "opus-48k-stereo"))


# --- sources (not measured; generated in a child) ------------------------------------


def _speech_minute_mp3(path: Path) -> None:
    """One minute of tone phrases and pauses as CBR MP3, 24 kHz mono, no Xing or ID3 tag.

    Raw CBR frames, so copies of the file can be concatenated into a valid
    longer stream (as MP3 radio streams are framed).
    """
    import array
    import math
    import random

    import av

    rate = 24_000
    rng = random.Random(3)
    samples = array.array("h")
    # 3 x 18 s of phrases, then 6 s of the noise floor: exactly one minute.
    for burst_ms, pause_ms in [(4_000, 700), (2_500, 300), (6_000, 900), (3_000, 600)] * 3:
        step = 2 * math.pi * rng.choice((180, 220, 260)) / rate
        samples.extend(int(8000 * math.sin(step * i)) for i in range(rate * burst_ms // 1000))
        samples.extend(rng.randint(-60, 60) for _ in range(rate * pause_ms // 1000))
    samples.extend(rng.randint(-60, 60) for _ in range(60 * rate - len(samples)))
    assert len(samples) == 60 * rate
    with av.open(
        str(path), "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}
    ) as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = 32_000
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name,
            layout="mono",
            rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples))
        frame.planes[0].update(samples.tobytes())
        frame.rate = rate
        frame.pts = 0
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))


def speech_mp3(hours: int) -> Path:
    """The cached ``hours``-long speech-like MP3, made of one minute repeated."""
    path = CACHE_DIR / f"speech-mp3-24k-mono-{hours}h.mp3"
    if path.exists():
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    minute = CACHE_DIR / "speech-mp3-24k-mono-1min.mp3"
    if not minute.exists():
        part = minute.with_name(minute.name + f".{os.getpid()}.part")
        _speech_minute_mp3(part)
        part.rename(minute)
    one = minute.read_bytes()
    part = path.with_name(path.name + f".{os.getpid()}.part")
    with part.open("wb") as out:
        for _ in range(60 * hours):
            out.write(one)
    part.rename(path)
    return path


def prepare(minutes: int, hours: tuple[int, ...]) -> dict[str, str]:
    """Every source the benchmark reads, generated if missing; name -> path."""
    from bench.bench_audio import ensure_source

    paths: dict[str, str] = {}
    for _, kind in CPU_CASES:
        paths[f"{kind}/1"] = str(ensure_source(kind, 1))
        paths[f"{kind}/{minutes}"] = str(ensure_source(kind, minutes))
    for h in hours:
        paths[f"speech/{h}h"] = str(speech_mp3(h))
    return paths


# --- the measured children ------------------------------------------------------------


def _transcribe(emulator: common.Emulator, source: Path, tmp: Path) -> dict[str, Any]:
    """``rtbatch transcribe SOURCE`` into a fresh directory, measured; figures and outcome."""
    client_cpus, _ = common.placement()
    out = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    summary = out / "summary.json"
    argv = [common.PYTHON, "-m", "rtbatch", "transcribe", str(source), "-o", str(out)]
    argv += ["--url", emulator.url, "-c", "1", "-q", "--format", "txt,srt,vtt,json"]
    env = common.child_env(RTBATCH_SUMMARY=str(summary), RTBATCH_JOB_TIMEOUT=str(JOB_TIMEOUT_S))
    for name in [
        k
        for k in env
        if k.startswith("RTBATCH_") and k not in ("RTBATCH_SUMMARY", "RTBATCH_JOB_TIMEOUT")
    ]:
        env.pop(name)
    emu_before = emulator.cpu_s()
    res = common.run_child(argv, cpus=client_cpus, env=env, timeout_s=2 * JOB_TIMEOUT_S)
    figures = res.figures()
    figures["emulator_cpu_s"] = round(emulator.cpu_s() - emu_before, 3)
    result_lines = (
        (out / "results.jsonl").read_bytes().splitlines()
        if (out / "results.jsonl").exists()
        else []
    )
    record = json.loads(result_lines[0]) if len(result_lines) == 1 else {}
    figures["status"] = record.get("status")
    figures["segments"] = len((record.get("output") or {}).get("segments") or [])
    figures["result_line_kib"] = round(len(result_lines[0]) / 1024, 1) if result_lines else 0
    if summary.exists():
        figures["run_wall_s"] = json.loads(summary.read_text()).get("wall_s")
    if res.returncode != 0 or figures["status"] != "completed":
        figures["error"] = res.stderr_tail[-1500:]
    shutil.rmtree(out, ignore_errors=True)
    return figures


def _ffmpeg(source: Path) -> dict[str, Any]:
    """FFmpeg's CLI converting SOURCE to 24 kHz mono s16le into a pipe; its own CPU.

    ``bench_audio``'s own runner, so both sections measure FFmpeg the same way.
    """
    return _run_ffmpeg(source, [])


def _least(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the least CPU."""
    return min(runs, key=lambda r: float(r["cpu_s"]))


def _per_hour(long: dict[str, Any], short: dict[str, Any], minutes: int) -> float:
    """Marginal CPU seconds per audio hour: the long run less the one-minute run."""
    return (long["cpu_s"] - short["cpu_s"]) * 60 / (minutes - 1)


def _cpu_case(
    emulator: common.Emulator,
    ffmpeg: str | None,
    label: str,
    short: Path,
    long: Path,
    minutes: int,
    tmp: Path,
) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {"ours": [], "ours_1": [], "ff": [], "ff_1": []}
    for _ in range(REPEATS):
        rounds["ours_1"].append(_transcribe(emulator, short, tmp))
        rounds["ours"].append(_transcribe(emulator, long, tmp))
        if ffmpeg is not None:
            rounds["ff_1"].append(_ffmpeg(short))
            rounds["ff"].append(_ffmpeg(long))
    ours_short, ours_long = _least(rounds["ours_1"]), _least(rounds["ours"])
    case: dict[str, Any] = {
        "source": label,
        "minutes": minutes,
        "completed": ours_long["status"] == "completed" and ours_short["status"] == "completed",
        "rtbatch": ours_long,
        "rtbatch_one_minute": ours_short,
        "rtbatch_cpu_s_per_audio_hour": round(_per_hour(ours_long, ours_short, minutes), 2),
        "rtbatch_whole_cpu_s_per_audio_hour": round(ours_long["cpu_s"] * 60 / minutes, 2),
        # Every run's CPU, in the order run: how far one run strays from the least.
        "cpu_s_runs": {name: [r["cpu_s"] for r in runs] for name, runs in rounds.items()},
    }
    if ffmpeg is None:
        case["ratio"] = None
        case["skipped"] = FFMPEG_MISSING
        return case
    theirs_short, theirs_long = _least(rounds["ff_1"]), _least(rounds["ff"])
    theirs = _per_hour(theirs_long, theirs_short, minutes)
    case["ffmpeg"] = theirs_long
    case["ffmpeg_one_minute"] = theirs_short
    case["ffmpeg_cpu_s_per_audio_hour"] = round(theirs, 2)
    case["ffmpeg_whole_cpu_s_per_audio_hour"] = round(theirs_long["cpu_s"] * 60 / minutes, 2)
    case["ratio"] = round(case["rtbatch_cpu_s_per_audio_hour"] / theirs, 2) if theirs > 0 else None
    case["whole_ratio"] = round(ours_long["cpu_s"] / theirs_long["cpu_s"], 2)
    case["meets_target"] = case["ratio"] is not None and case["ratio"] <= TARGET_FFMPEG_RATIO
    return case


def run(minutes: int = MINUTES, hours: tuple[int, ...] | list[int] = HOURS) -> dict[str, Any]:
    """The CPU comparison for mp3 and opus, then the flat-memory runs; JSON-able figures."""
    if minutes < 2:
        raise ValueError("minutes: at least 2 (a one-minute run is the baseline)")
    hours = tuple(hours)
    made = common.run_python_call(
        "bench.bench_transcribe",
        "prepare",
        kwargs={"minutes": minutes, "hours": list(hours)},
        timeout_s=1800,
    )
    sources = {name: Path(path) for name, path in made.items()}
    ffmpeg = shutil.which("ffmpeg")
    cases, flat = [], []
    with (
        tempfile.TemporaryDirectory(prefix="rtbatch-bench-transcribe-") as tmp_name,
        common.Emulator(latency_ms=0) as emulator,
    ):
        tmp = Path(tmp_name)
        for label, kind in CPU_CASES:
            short, long = sources[f"{kind}/1"], sources[f"{kind}/{minutes}"]
            cases.append(_cpu_case(emulator, ffmpeg, label, short, long, minutes, tmp))
        for h in hours:
            figures = _transcribe(emulator, sources[f"speech/{h}h"], tmp)
            figures["audio_hours"] = h
            flat.append(figures)
        emulator_rss = emulator.rss_mib()
    base = flat[0]["peak_rss_mib"] if flat else 0.0
    for figures in flat:
        figures["rss_over_first_mib"] = round(figures["peak_rss_mib"] - base, 1)
    return {
        "target_cpu_ratio": TARGET_FFMPEG_RATIO,
        "ffmpeg": ffmpeg,
        "ffmpeg_version": _ffmpeg_version(ffmpeg),
        "cases": cases,
        "flat": flat,
        "flat_margin_mib": FLAT_MARGIN_MIB,
        "rss_flat": all(f["rss_over_first_mib"] <= FLAT_MARGIN_MIB for f in flat),
        "all_completed": all(f["status"] == "completed" for f in flat),
        "emulator_rss_mib": emulator_rss,
        "driver_rss_mib": round(common.self_rss_mib(), 1),
    }


def _ffmpeg_version(binary: str | None) -> str | None:
    if binary is None:
        return None
    res = common.run_child([binary, "-version"], env=dict(os.environ), capture_stdout=True)
    return res.stdout.splitlines()[0] if res.stdout else None


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(
        json.dumps(run(minutes=5 if quick else MINUTES, hours=(1, 2) if quick else HOURS), indent=2)
    )
