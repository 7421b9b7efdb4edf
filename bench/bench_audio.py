"""Benchmark: CPU seconds and peak memory to turn one hour of audio into append events.

What is measured is the client's whole audio path for one file, as
``rtbatch.audio.iter_chunks`` runs it: demux, decode, downmix, resample to 24 kHz
mono PCM16 (or G.711 at 8 kHz), cut 500 ms chunks, base64-encode each chunk and
serialise its ``input_audio_buffer.append`` event with orjson. The network send is
not included (it is the WebSocket library's cost, not the audio path's).

Target (issue 5): under 2 CPU seconds per hour of audio.

Each case runs in a fresh subprocess, so its ``ru_maxrss`` is the peak resident
memory of that work alone; the imports are done before the clock starts, and the
memory they take is reported separately (``rss_before_mib``; Linux ``VmHWM``, as
``ru_maxrss`` would include the parent's peak).

The one-hour sources are generated once with PyAV, outside any measurement, and
cached in ``$TMPDIR/rtbatch-bench-audio/``. The MP3 is one minute of CBR frames
(no Xing header, no ID3 tag) repeated: a valid MP3 stream (it is how MP3 radio
streams are framed), made in seconds rather than LAME's 100 s per hour.

Variants, to show where the time goes:

- ``rtbatch``: the real path (``iter_chunks``) plus base64 and JSON.
- ``decode_only``: demux and decode, nothing else; the floor no client code can go below.
- ``av_resampler``: the obvious loop with ``av.AudioResampler``, the "before" of
  ``rtbatch.audio.framewise.FrameConverter`` (see its docstring).
- ``framewise``: PyAV decoding frame by frame into ``FrameConverter``, PCM out: the
  decoder before the filter graph, and today's fallback for streams that change
  shape midway.
- ``pcm``: ``iter_pcm``, the one filter graph (read, decode, resample), PCM out.
- ``segmented_pcm``: ``iter_segmented`` in 2 s chunks (``defaults.AUDIO_CHUNK_MS``,
  what the session sends): the graph, plus silence detection and the cutting.
- ``segmented``: the same, plus base64 and JSON for every chunk.
- ``ffmpeg_cli``: FFmpeg's own command line converting the same file,
  ``ffmpeg -i IN -ac 1 -ar 24000 -f s16le -`` into a pipe: its CPU (user + system,
  from ``wait4``, less its start-up) is the yardstick of issues 12 and 20, whose target is at most
  :data:`TARGET_FFMPEG_RATIO` times it for MP3 and Opus. The CLI is the system's
  (Debian's ``ffmpeg`` package; PyAV bundles its own, newer, FFmpeg); without it on
  PATH these cases are left out and ``ffmpeg_side_by_side`` says why.

Run: ``python bench/bench_audio.py [--minutes 60] [--json]``.
"""

from __future__ import annotations

import argparse
import array
import base64
import itertools
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_CPU_S_PER_HOUR = 2.0
TARGET_FFMPEG_RATIO = 1.1
"""Issue 20 (issue 12 asked 1.25): client CPU per audio hour at most this many times
FFmpeg's CLI."""
SIDE_BY_SIDE_REPEATS = 3
"""The side-by-side cases run this many times and keep their least CPU: on a
shared machine one run's CPU time moves by a tenth or more."""
SIDE_BY_SIDE_VARIANTS = ("segmented_pcm", "segmented", "ffmpeg_cli")
FFMPEG_MISSING = "ffmpeg is not on PATH (Debian package ffmpeg): no side-by-side figures"
CACHE_DIR = Path(tempfile.gettempdir()) / "rtbatch-bench-audio"

# (name, source kind, output format, variant)
CASES: list[tuple[str, str, str, str]] = [
    ("mp3 48 kHz stereo -> pcm16", "mp3-48k-stereo", "pcm16", "rtbatch"),
    ("mp3 48 kHz stereo, decode only", "mp3-48k-stereo", "pcm16", "decode_only"),
    ("mp3 48 kHz stereo -> pcm16, av.AudioResampler", "mp3-48k-stereo", "pcm16", "av_resampler"),
    ("mp3 48 kHz stereo -> PCM, frame by frame", "mp3-48k-stereo", "pcm16", "framewise"),
    ("mp3 48 kHz stereo -> PCM, filter graph", "mp3-48k-stereo", "pcm16", "pcm"),
    ("mp3 48 kHz stereo -> PCM segments", "mp3-48k-stereo", "pcm16", "segmented_pcm"),
    ("mp3 48 kHz stereo -> pcm16 segments, events", "mp3-48k-stereo", "pcm16", "segmented"),
    ("mp3 48 kHz stereo -> PCM, ffmpeg CLI", "mp3-48k-stereo", "pcm16", "ffmpeg_cli"),
    ("opus 48 kHz stereo -> pcm16", "opus-48k-stereo", "pcm16", "rtbatch"),
    ("opus 48 kHz stereo, decode only", "opus-48k-stereo", "pcm16", "decode_only"),
    ("opus 48 kHz stereo -> PCM, frame by frame", "opus-48k-stereo", "pcm16", "framewise"),
    ("opus 48 kHz stereo -> PCM segments", "opus-48k-stereo", "pcm16", "segmented_pcm"),
    ("opus 48 kHz stereo -> pcm16 segments, events", "opus-48k-stereo", "pcm16", "segmented"),
    ("opus 48 kHz stereo -> PCM, ffmpeg CLI", "opus-48k-stereo", "pcm16", "ffmpeg_cli"),
    ("flac 16 kHz mono -> pcm16", "flac-16k-mono", "pcm16", "rtbatch"),
    ("flac 16 kHz mono -> g711_ulaw", "flac-16k-mono", "g711_ulaw", "rtbatch"),
    ("wav 24 kHz mono -> pcm16 (sent as is)", "wav-24k-mono", "pcm16", "rtbatch"),
    ("wav 24 kHz mono -> pcm16 segments, events", "wav-24k-mono", "pcm16", "segmented"),
]

# kind → (file suffix, container, codec, rate, layout)
SOURCES: dict[str, tuple[str, str, str, int, str]] = {
    "mp3-48k-stereo": ("mp3", "mp3", "libmp3lame", 48_000, "stereo"),
    "opus-48k-stereo": ("opus", "ogg", "libopus", 48_000, "stereo"),
    "flac-16k-mono": ("flac", "flac", "flac", 16_000, "mono"),
    "wav-24k-mono": ("wav", "wav", "pcm_s16le", 24_000, "mono"),
}


# --- sources (not measured) ---------------------------------------------------------


def _one_second(rate: int, channels: int) -> bytes:
    """One second of s16 audio: a gliding tone with noise, different per channel."""
    rng = random.Random(1)
    out = array.array("h", bytes(2 * rate * channels))
    for ch in range(channels):
        base = 2 * math.pi * (200 + 50 * ch)
        out[ch::channels] = array.array(
            "h",
            (
                int(7000 * math.sin(base * (i / rate) * (1 + i / rate)) + rng.randint(-2000, 2000))
                for i in range(rate)
            ),
        )
    return out.tobytes()


def _encode(path: Path, kind: str, seconds: int, muxer_options: dict[str, str]) -> None:
    import av

    _, container, codec, rate, layout = SOURCES[kind]
    channels = 2 if layout == "stereo" else 1
    second = _one_second(rate, channels)
    with av.open(str(path), "w", format=container, options=muxer_options) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name,
            layout=layout,
            rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        for s in range(seconds):
            frame = av.AudioFrame(format="s16", layout=layout, samples=rate)
            frame.planes[0].update(second)
            frame.rate = rate
            frame.pts = s * rate
            for converted in resampler.resample(frame):
                out.mux(stream.encode(converted))
        for converted in resampler.resample(None):
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))


def ensure_source(kind: str, minutes: int) -> Path:
    """The cached ``minutes``-long source of ``kind``, generated if missing."""
    suffix = SOURCES[kind][0]
    path = CACHE_DIR / f"{kind}-{minutes}min.{suffix}"
    if path.exists():
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.part")
    if kind.startswith("mp3"):
        # One minute of raw CBR frames, repeated: see the module docstring.
        minute = partial.with_suffix(".minute.mp3")
        _encode(minute, kind, 60, {"write_xing": "0", "id3v2_version": "0"})
        partial.write_bytes(minute.read_bytes() * minutes)
        minute.unlink()
    else:
        _encode(partial, kind, 60 * minutes, {})
    partial.rename(path)
    return path


# --- the measured part (runs in a child process) -------------------------------------


def _peak_rss_kib() -> int:
    """This process's peak resident memory, KiB.

    Linux's ``ru_maxrss`` survives ``exec``, so a child would report its parent's
    peak; ``VmHWM`` belongs to the process image and starts afresh.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _event(chunk: bytes) -> bytes:
    import orjson

    return orjson.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
    )


def _measure(variant: str, path: Path, fmt: str) -> dict[str, Any]:
    import av

    from rtbatch import audio
    from rtbatch.audio.framewise import iter_frame_blocks
    from rtbatch.defaults import AUDIO_CHUNK_MS

    rss_before_kib = _peak_rss_kib()
    events = event_bytes = pcm_bytes = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()

    if variant == "rtbatch":
        for chunk in audio.iter_chunks(path, fmt=fmt):  # type: ignore[arg-type]
            event = _event(chunk)
            events += 1
            event_bytes += len(event)
            pcm_bytes += len(chunk)
    elif variant in ("segmented", "segmented_pcm"):
        items = audio.iter_segmented(path, fmt=fmt, chunk_ms=AUDIO_CHUNK_MS)  # type: ignore[arg-type]
        for item in items:
            if isinstance(item, audio.Cut):
                continue
            if variant == "segmented":
                event = _event(item)
                events += 1
                event_bytes += len(event)
            pcm_bytes += len(item)
    elif variant == "pcm":
        for block in audio.iter_pcm(path, audio.SAMPLE_RATE, audio.SAMPLE_RATE * 2):
            pcm_bytes += len(block)
    elif variant == "framewise":
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            for block in iter_frame_blocks(
                container, stream, audio.SAMPLE_RATE, audio.SAMPLE_RATE * 2
            ):
                pcm_bytes += len(block)
    elif variant == "decode_only":
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                pcm_bytes += frame.samples
    elif variant == "av_resampler":
        chunk_bytes = 24_000
        pending = bytearray()
        resampler = av.AudioResampler(format="s16", layout="mono", rate=audio.SAMPLE_RATE)
        with av.open(str(path)) as container:
            frames = container.decode(audio=0)
            for frame in itertools.chain(frames, [None]):
                for out in resampler.resample(frame):
                    pending += bytes(out.planes[0])[: out.samples * 2]
                while len(pending) >= chunk_bytes or (frame is None and pending):
                    chunk = bytes(pending[:chunk_bytes])
                    del pending[:chunk_bytes]
                    event = _event(chunk)
                    events += 1
                    event_bytes += len(event)
                    pcm_bytes += len(chunk)
    else:
        raise ValueError(f"unknown variant {variant!r}")

    cpu_s = time.process_time() - cpu0
    wall_s = time.perf_counter() - wall0
    peak_kib = _peak_rss_kib()
    return {
        "cpu_s": round(cpu_s, 3),
        "wall_s": round(wall_s, 3),
        "events": events,
        "event_bytes": event_bytes,
        "output_bytes": pcm_bytes,
        "rss_before_mib": round(rss_before_kib / 1024, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def _measure_ffmpeg(path: Path) -> dict[str, Any]:
    """FFmpeg's CLI converting ``path`` to 24 kHz mono s16le into a pipe; its own CPU.

    The in-process cases start their clocks after the imports, so the CLI's own
    start-up (about 0.12 CPU s: loading, probing the file, 0.1 s of audio) is
    measured apart and subtracted; that favours FFmpeg slightly.
    """
    startup = _run_ffmpeg(path, ["-t", "0.1"])
    full = _run_ffmpeg(path, [])
    return {
        **full,
        "cpu_s": round(full["cpu_s"] - startup["cpu_s"], 3),
        "startup_cpu_s": startup["cpu_s"],
    }


def _run_ffmpeg(path: Path, limit: list[str]) -> dict[str, Any]:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), *limit]
    command += ["-ac", "1", "-ar", "24000", "-f", "s16le", "-"]
    wall0 = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    output = 0
    while block := child.stdout.read(1 << 20):  # the reader's CPU is ours, not the child's
        output += len(block)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {child.returncode}")
    return {
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_s": round(time.perf_counter() - wall0, 3),
        "events": 0,
        "event_bytes": 0,
        "output_bytes": output,
        "rss_before_mib": 0.0,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def _run_case(variant: str, path: Path, fmt: str) -> dict[str, Any]:
    if variant == "ffmpeg_cli":
        return _measure_ffmpeg(path)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", variant, str(path), fmt],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(child.stdout)
    return result


# --- the public face -----------------------------------------------------------------


def run(minutes: int = 60) -> dict[str, Any]:
    """Run every case on ``minutes`` of audio; CPU figures are scaled to one hour.

    Returns:
        ``{"benchmark", "target_cpu_s_per_audio_hour", "audio_minutes",
        "generation_s", "cases": [...], "ffmpeg_side_by_side"}``; each case has its
        name, variant, CPU and wall seconds, CPU seconds per audio hour, realtime
        factor, events, bytes, peak RSS and whether it meets the target. The
        side-by-side is a list of ``{"source", "ffmpeg_cli", "segmented_pcm",
        "segmented", "ratio", "ratio_with_events", "target_ratio",
        "meets_target"}`` (CPU s per audio hour and their ratios), or
        ``{"skipped": reason}`` when ``ffmpeg`` is not on PATH.
    """
    started = time.perf_counter()
    sources = {kind: ensure_source(kind, minutes) for kind in SOURCES}
    generation_s = time.perf_counter() - started
    audio_s = 60.0 * minutes
    have_ffmpeg = shutil.which("ffmpeg") is not None
    cases = []
    for name, kind, fmt, variant in CASES:
        if variant == "ffmpeg_cli" and not have_ffmpeg:
            continue
        repeats = SIDE_BY_SIDE_REPEATS if variant in SIDE_BY_SIDE_VARIANTS else 1
        runs = [_run_case(variant, sources[kind], fmt) for _ in range(repeats)]
        measured = min(runs, key=lambda r: float(r["cpu_s"]))
        per_hour = measured["cpu_s"] * 3600 / audio_s
        cases.append(
            {
                "name": name,
                "variant": variant,
                "source": str(sources[kind]),
                "kind": kind,
                "format": fmt,
                "audio_s": audio_s,
                **measured,
                "cpu_s_per_audio_hour": round(per_hour, 2),
                "realtime_factor": round(audio_s / measured["cpu_s"])
                if measured["cpu_s"]
                else None,
                "meets_target": per_hour < TARGET_CPU_S_PER_HOUR,
            }
        )
    return {
        "benchmark": "audio",
        "target_cpu_s_per_audio_hour": TARGET_CPU_S_PER_HOUR,
        "audio_minutes": minutes,
        "generation_s": round(generation_s, 1),
        "cases": cases,
        "ffmpeg_side_by_side": side_by_side(cases) if have_ffmpeg else {"skipped": FFMPEG_MISSING},
    }


def side_by_side(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per source with an ``ffmpeg_cli`` case: the segmenting decode's CPU against it."""
    per_hour = {(c["kind"], c["variant"]): c["cpu_s_per_audio_hour"] for c in cases}
    rows = []
    for kind, variant in per_hour:
        if variant != "ffmpeg_cli":
            continue
        ffmpeg = per_hour[kind, variant]
        ours, with_events = per_hour[kind, "segmented_pcm"], per_hour[kind, "segmented"]
        ratio = round(ours / ffmpeg, 2)
        # Issue 20 judges the whole path: base64 and the events are work FFmpeg's CLI
        # does not do, but the service needs them.
        ratio_with_events = round(with_events / ffmpeg, 2)
        rows.append(
            {
                "source": kind,
                "ffmpeg_cli": ffmpeg,
                "segmented_pcm": ours,
                "segmented": with_events,
                "ratio": ratio,
                "ratio_with_events": ratio_with_events,
                "target_ratio": TARGET_FFMPEG_RATIO,
                "meets_target": ratio_with_events <= TARGET_FFMPEG_RATIO,
            }
        )
    return rows


def _print_table(report: dict[str, Any]) -> None:
    print(
        f"audio path, {report['audio_minutes']} min of audio per case, target < "
        f"{report['target_cpu_s_per_audio_hour']} CPU s per audio hour "
        f"(sources ready in {report['generation_s']} s)"
    )
    print(f"{'case':50} {'CPU s/h':>8} {'x RT':>7} {'events':>7} {'peak RSS':>9} {'(base)':>7}")
    for case in report["cases"]:
        mark = "" if case["variant"] != "rtbatch" else (" ok" if case["meets_target"] else " MISS")
        print(
            f"{case['name']:50} {case['cpu_s_per_audio_hour']:8.2f} {case['realtime_factor']:7}"
            f" {case['events']:7} {case['peak_rss_mib']:8.1f}M {case['rss_before_mib']:6.1f}M{mark}"
        )
    versus = report["ffmpeg_side_by_side"]
    if isinstance(versus, dict):
        print(versus["skipped"])
        return
    print(
        f"segmenting decode vs ffmpeg CLI, CPU s per audio hour (target <= {TARGET_FFMPEG_RATIO}x)"
    )
    for row in versus:
        mark = "ok" if row["meets_target"] else "MISS"
        print(
            f"{row['source']:18} ffmpeg {row['ffmpeg_cli']:6.2f}"
            f"  segments {row['segmented_pcm']:6.2f} ({row['ratio']:.2f}x)"
            f"  with events {row['segmented']:6.2f} ({row['ratio_with_events']:.2f}x) {mark}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=int, default=60, help="audio per case (default 60)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--measure", nargs=3, metavar=("VARIANT", "PATH", "FMT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.measure:
        variant, path, fmt = args.measure
        print(json.dumps(_measure(variant, Path(path), fmt)))
        return 0
    report = run(args.minutes)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
