"""End-to-end audio jobs against the emulator over real sockets.

Network rules as in tests/harness.py, except the clock: decoding runs in worker
threads, which trio's virtual clock cannot see, so these tests use real time
with an emulator that answers at once.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

import pytest
import trio

from rtbatch import audio
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK
from tests.audio.samples import encode, write_wav
from tests.harness import by_id, received, start_emulator, write_jobs

SECONDS = 1.5


def _expected_samples(path: Path) -> int:
    """What our decoder produces: the count the server must report receiving."""
    return sum(len(c) for c in audio.iter_chunks(path)) // 2


def _inputs(tmp: Path) -> dict[str, tuple[Path, int | None]]:
    """Generated inputs: name → (path, exact 24 kHz sample count where lossless)."""
    files: dict[str, tuple[Path, int | None]] = {}
    n24 = int(SECONDS * 24000)
    write_wav(tmp / "mono24k.wav", n24, 24000)
    files["wav-24k-mono"] = (tmp / "mono24k.wav", n24)
    write_wav(tmp / "stereo16k.wav", int(SECONDS * 16000), 16000, 2)
    files["wav-16k-stereo"] = (tmp / "stereo16k.wav", n24)
    encode(
        tmp / "a.flac",
        container="flac",
        codec="flac",
        rate=44100,
        channels=2,
        n=int(SECONDS * 44100),
    )
    files["flac-44k-stereo"] = (tmp / "a.flac", n24)
    encode(
        tmp / "a.mp3",
        container="mp3",
        codec="libmp3lame",
        rate=48000,
        channels=2,
        n=int(SECONDS * 48000),
    )
    files["mp3-48k-stereo"] = (tmp / "a.mp3", None)
    encode(
        tmp / "a.ogg",
        container="ogg",
        codec="libopus",
        rate=48000,
        channels=1,
        n=int(SECONDS * 48000),
    )
    files["opus-48k-mono"] = (tmp / "a.ogg", None)
    return files


def _transcript_samples(text: str) -> int:
    import re

    match = re.search(r"(\d+) samples", text)
    assert match, text
    return int(match.group(1))


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_transcription_receives_every_sample(
    nursery: trio.Nursery, tmp_path: Path, dialect: str
) -> None:
    """Each format and layout arrives whole: the server counts exactly what we decoded."""
    h = await start_emulator(nursery, tmp_path)
    inputs = _inputs(tmp_path)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": name,
                "audio": str(path),
                "task": "transcribe",
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            }
            for name, (path, _) in inputs.items()
        ],
    )
    report, results = await h.run(jobs, concurrency=3, dialect=dialect)
    assert report.exit_code == EXIT_OK
    got = by_id(results)
    for name, (path, exact) in inputs.items():
        record = got[name]
        assert record["status"] == "completed"
        counted = _transcript_samples(record["output"]["transcript"])
        assert counted == _expected_samples(path)
        if exact is not None:  # lossless: within the resampler's one sample
            assert abs(counted - exact) <= 1, (name, counted, exact)
        else:  # lossy: the codec's padding, well under 100 ms
            assert abs(counted - SECONDS * 24000) < 2400, (name, counted)
        usage = record["usage"]
        assert usage["input_token_details"]["audio_tokens"] == math.ceil(counted / 2400)
    assert {c.intent for c in h.emulator.connections} == {"transcription"}


async def test_whisper_usage_is_billed_by_duration(nursery: trio.Nursery, tmp_path: Path) -> None:
    """whisper-1 reports duration usage, and the summary adds it up."""
    h = await start_emulator(nursery, tmp_path)
    write_wav(tmp_path / "a.wav", 48000, 24000)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": "w",
                "audio": "a.wav",
                "task": "transcribe",
                "transcription": {"model": "whisper-1"},
            },
        ],
    )
    report, results = await h.run(jobs)
    assert results[0]["usage"]["type"] == "duration"
    assert report.summary.usage.transcription_seconds == pytest.approx(2.0)


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_spoken_answer_is_saved_as_a_wav(
    nursery: trio.Nursery, tmp_path: Path, dialect: str
) -> None:
    """A respond job with audio output saves a valid WAV as long as the audio the server sent."""
    h = await start_emulator(nursery, tmp_path)
    write_wav(tmp_path / "q.wav", 36000, 24000)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": "q/1",
                "audio": "q.wav",
                "task": "respond",
                "output_modalities": ["audio"],
                "instructions": "Answer aloud.",
            },
            {"id": "q2", "audio": "q.wav", "task": "respond"},
        ],
    )
    out_dir = tmp_path / "answers"
    report, results = await h.run(jobs, concurrency=1, dialect=dialect, audio_out=out_dir)
    assert report.exit_code == EXIT_OK
    got = by_id(results)
    spoken = got["q/1"]
    path = Path(spoken["output"]["audio_path"])
    assert path.parent == out_dir and path.name == "q_1.wav"
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        frames = w.getnframes()
    sent_ms = _sent_audio_ms(h.emulator, "q/1")
    assert frames == sent_ms * 24
    assert spoken["output"]["transcript"]
    assert spoken["usage"]["output_token_details"]["audio_tokens"] == math.ceil(frames / 1200)
    assert spoken["usage"]["input_token_details"]["audio_tokens"] == 15  # 1.5 s at 10/s
    assert got["q2"]["output"]["text"] and "audio_path" not in got["q2"]["output"]
    assert not list(out_dir.glob("*.part"))
    # Each job's committed item is deleted again: no state is left for the next job.
    committed = len(received(h.emulator, "input_audio_buffer.commit"))
    assert len(received(h.emulator, "conversation.item.delete")) == committed == 2


def _sent_audio_ms(emulator: Any, job_id: str) -> int:
    for conn in emulator.connections:
        for response in conn.responses:
            if (response.get("metadata") or {}).get("job_id") == job_id:
                tokens = response["usage"]["output_token_details"]["audio_tokens"]
                return int(tokens) * 50 if tokens else 0
    raise AssertionError(f"no response for {job_id}")


async def test_bad_files_fail_alone(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Missing, corrupt, empty and too-short files fail as bad_audio; the good one completes."""
    h = await start_emulator(nursery, tmp_path)
    write_wav(tmp_path / "good.wav", 24000, 24000)
    write_wav(tmp_path / "short.wav", 1200, 24000)  # 50 ms
    write_wav(tmp_path / "empty.wav", 0, 24000)
    (tmp_path / "corrupt.mp3").write_bytes(b"ID3" + bytes(range(256)) * 40)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": name, "audio": f"{name}.{ext}", "task": task}
            for name, ext, task in [
                ("good", "wav", "transcribe"),
                ("short", "wav", "transcribe"),
                ("empty", "wav", "respond"),
                ("corrupt", "mp3", "transcribe"),
                ("missing", "wav", "respond"),
            ]
        ],
    )
    report, results = await h.run(jobs, concurrency=2)
    assert report.exit_code == EXIT_FAILED
    got = by_id(results)
    assert got["good"]["status"] == "completed"
    for name in ("short", "empty", "corrupt", "missing"):
        assert got[name]["status"] == "failed", name
        assert got[name]["error"]["type"] == "bad_audio", got[name]
        assert got[name]["attempts"] == 1
        assert name in got[name]["error"]["message"]


async def test_g711_input_is_counted_at_24khz(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With G.711 input the server receives a third as many bytes, the same duration."""
    h = await start_emulator(nursery, tmp_path)
    write_wav(tmp_path / "a.wav", 24000, 24000)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "u", "audio": "a.wav", "task": "transcribe"}]
    )
    report, results = await h.run(jobs, audio_format="g711_ulaw")
    assert report.exit_code == EXIT_OK
    assert _transcript_samples(results[0]["output"]["transcript"]) == 24000


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_spoken_answers_of_text_jobs_are_saved(
    nursery: trio.Nursery, tmp_path: Path, dialect: str
) -> None:
    """A text job that asks for audio gets its WAV under --audio-out, as a respond job does."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [{"id": f"v{i}", "prompt": "speak", "output_modalities": ["audio"]} for i in range(3)],
    )
    out = tmp_path / "answers"
    report, results = await h.run(jobs, audio_out=out, dialect=dialect)
    assert report.exit_code == EXIT_OK
    for record in by_id(results).values():
        assert record["status"] == "completed"
        path = Path(record["output"]["audio_path"])
        assert path.parent == out
        with wave.open(str(path)) as wav:
            assert wav.getframerate() == 24000
            assert wav.getnframes() > 0
        assert record["usage"]["output_token_details"]["audio_tokens"] > 0
