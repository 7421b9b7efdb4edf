"""``rtbatch transcribe`` on a directory tree, the real command against the emulator.

Rules: loopback only, port 0, the emulator started in pytest-trio's nursery; the
command runs as ``python -m rtbatch transcribe`` in a subprocess, so its exit
codes and files are the real ones. Real time (decoding runs in threads). The
inputs are generated with PyAV in ``tmp_path``; the srt and vtt files are read
back with the `srt` and `webvtt-py` packages, not with our own code.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import srt
import trio
import webvtt

from rtbatch.commands import TRANSCRIBE_RESULTS
from rtbatch.exitcodes import EXIT_FAILED
from tests.audio.samples import encode_pcm, speech, write_speech_wav
from tests.harness import by_id, read_results, received, start_emulator
from tests.output.test_formats import ms, vtt_ms

pytest.importorskip("av")

#: Segments of at most 15 s: each 41-second input makes several.
MAX_SEGMENT_S = 15
GOOD = ["interviews/2026/b.mp3", "interviews/a.flac", "meeting.wav", "notes/c.ogg"]
BROKEN = "notes/broken.mp3"


def _tree(root: Path) -> None:
    """Four formats in nested folders, one undecodable file, one file that is not audio."""
    (root / "interviews" / "2026").mkdir(parents=True)
    (root / "notes").mkdir()
    write_speech_wav(root / "meeting.wav", speech(24_000))
    for name, container, codec, rate in [
        ("interviews/a.flac", "flac", "flac", 16_000),
        ("interviews/2026/b.mp3", "mp3", "libmp3lame", 22_050),
        ("notes/c.ogg", "ogg", "libopus", 48_000),
    ]:
        voice = speech(rate)
        encode_pcm(root / name, voice.pcm, container=container, codec=codec, rate=rate, channels=1)
    (root / BROKEN).write_bytes(b"ID3" + bytes(range(256)) * 40)
    (root / "notes" / "readme.txt").write_text("not audio\n")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTBATCH_")}
    # Every option of `run` reaches `transcribe` through its RTBATCH_* variable.
    env["RTBATCH_MAX_SEGMENT"] = str(MAX_SEGMENT_S)
    return {**env, "OPENAI_API_KEY": "sk-test-transcribe", "PYTHONUNBUFFERED": "1"}


def _assert_cues_follow(cues: list[tuple[int, int, str]], segments: list[dict[str, Any]]) -> None:
    """Cues tile the segments' span: each starts where the last ended, each segment's
    first cue starts on its ``start_ms`` and its last ends on its ``end_ms``; the text
    is the segments' text."""
    assert cues[0][0] == segments[0]["start_ms"] == 0
    for (_, end, _), (start, _, _) in itertools.pairwise(cues):
        assert start == end
    assert cues[-1][1] == segments[-1]["end_ms"]
    starts, ends = {c[0] for c in cues}, {c[1] for c in cues}
    for segment in segments:
        assert segment["start_ms"] in starts and segment["end_ms"] in ends, segment
    assert " ".join(" ".join(c[2].split()) for c in cues) == " ".join(s["text"] for s in segments)


async def test_a_tree_of_mixed_formats_then_a_rerun_that_sends_nothing(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Four formats give parseable files, a corrupt one fails alone; a rerun sends no audio."""
    root, out = tmp_path / "recordings", tmp_path / "out"
    _tree(root)
    h = await start_emulator(nursery, tmp_path)
    args = [sys.executable, "-m", "rtbatch", "transcribe", str(root), "-o", str(out)]
    args += ["--url", h.emulator.url, "-c", "3", "--format", "txt,srt,vtt,json"]

    first = await trio.run_process(args, env=_env(), capture_stderr=True, check=False)
    stderr = first.stderr.decode()
    assert first.returncode == EXIT_FAILED, stderr
    assert "Traceback" not in stderr
    results = by_id(read_results(out / TRANSCRIBE_RESULTS))
    assert sorted(results) == sorted([*GOOD, BROKEN])
    broken = results[BROKEN]
    assert broken["status"] == "failed" and broken["attempts"] == 1
    assert broken["error"]["type"] == "bad_audio"
    assert "broken.mp3" in broken["error"]["message"]
    assert not list(out.glob("notes/broken.*"))

    for job_id in GOOD:
        result = results[job_id]
        assert result["status"] == "completed", result
        output = result["output"]
        segments = output["segments"]
        assert len(segments) >= 3  # 41 s at 15 s a segment
        assert 40_000 < segments[-1]["end_ms"] < 42_000
        stem = out / job_id.rsplit(".", 1)[0]
        assert stem.with_suffix(".txt").read_text() == output["transcript"] + "\n"
        document = orjson.loads(stem.with_suffix(".json").read_bytes())
        assert document["id"] == job_id
        assert document["segments"] == segments
        assert document["usage"] == result["usage"]
        subtitles = list(srt.parse(stem.with_suffix(".srt").read_text()))
        assert [s.index for s in subtitles] == list(range(1, len(subtitles) + 1))
        _assert_cues_follow([(ms(s.start), ms(s.end), s.content) for s in subtitles], segments)
        captions = webvtt.read(str(stem.with_suffix(".vtt"))).captions
        _assert_cues_follow([(vtt_ms(c.start), vtt_ms(c.end), c.text) for c in captions], segments)
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".srt", ".json")}
    assert len(written) == 2 * len(GOOD)
    appends = len(received(h.emulator, "input_audio_buffer.append"))
    assert appends > 0

    # The same command again: the finished files are skipped; the failed one is
    # retried (failed jobs run again by default) and fails again without a byte sent.
    connections = len(h.emulator.connections)
    rerun = await trio.run_process(args, env=_env(), capture_stderr=True, check=False)
    assert rerun.returncode == EXIT_FAILED, rerun.stderr.decode()
    again = h.emulator.connections[connections:]
    sent = [e["type"] for c in again for e in c.received]
    assert "input_audio_buffer.append" not in sent
    assert "input_audio_buffer.commit" not in sent
    assert len(received(h.emulator, "input_audio_buffer.append")) == appends
    lines = read_results(out / TRANSCRIBE_RESULTS)
    assert len(lines) == len(by_id(lines)) == len(GOOD) + 1
    assert by_id(lines)[BROKEN]["error"]["type"] == "bad_audio"
    assert {p: p.stat().st_mtime_ns for p in written} == written  # not rewritten
