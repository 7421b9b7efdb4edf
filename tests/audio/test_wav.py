"""Tests for rtbatch.audio.wav: output audio streamed to WAV files, atomically."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from rtbatch import audio
from tests.audio.samples import tone

RATE = audio.SAMPLE_RATE


def test_wav_writer_streams_a_valid_wav(tmp_path: Path) -> None:
    """Many writes, split anywhere (even mid-sample), read back as one 24 kHz mono WAV."""
    pcm = tone(30_001, RATE)
    path = tmp_path / "out.wav"
    with audio.WavWriter(path) as writer:
        for start in range(0, len(pcm), 4_097):  # odd: splits samples across writes
            writer.write(pcm[start : start + 4_097])
        assert writer.frames == 30_001
        assert writer.duration_s == pytest.approx(30_001 / RATE)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        assert w.getnframes() == 30_001
        assert w.readframes(30_001) == pcm
    assert b"".join(audio.iter_chunks(path)) == pcm  # and it is valid input audio


def test_wav_writer_sends_samples_to_disk_as_they_come(tmp_path: Path) -> None:
    """Nothing is held back beyond the file's small buffer: the file grows with each write."""
    path = tmp_path / "out.wav"
    with audio.WavWriter(path) as writer:
        for second in range(1, 4):
            writer.write(bytes(2 * RATE))
            assert path.stat().st_size >= second * 2 * RATE  # io's buffer is 8 KiB
        assert path.read_bytes()[:4] == b"RIFF"  # the header came first
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 3 * RATE


def test_wav_writer_with_no_writes_is_an_empty_valid_wav(tmp_path: Path) -> None:
    """Closing without writing leaves a valid WAV of zero frames."""
    path = tmp_path / "out.wav"
    audio.WavWriter(path).close()
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 0
