"""Audio inputs made by the tests, in ``tmp_path``: tones, WAVs, any codec, speech-like files.

Nothing here is committed audio: every file is generated with PyAV or the stdlib
``wave`` module. A format whose encoder this PyAV wheel lacks is skipped, with
the reason.
"""

from __future__ import annotations

import array
import io
import math
import random
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest


def tone(n: int, rate: int, channels: int = 1) -> bytes:
    """``n`` frames of interleaved s16 native-endian audio: a different tone per channel."""
    out = array.array("h", bytes(2 * n * channels))
    for ch in range(channels):
        step = 2 * math.pi * (220 + 110 * ch) / rate
        out[ch::channels] = array.array("h", (int(9000 * math.sin(step * i)) for i in range(n)))
    return out.tobytes()


def write_wav(path: Path, n: int, rate: int, channels: int = 1, *, width: int = 2) -> bytes:
    """A PCM WAV written by the stdlib (no channel mask: FFmpeg sees an unnamed layout)."""
    pcm = tone(n, rate, channels)
    if width == 1:  # 8-bit WAV is unsigned
        pcm = bytes((s >> 8) + 128 for s in array.array("h", pcm))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return pcm


def write_long_wav(path: Path, seconds: int, rate: int) -> None:
    """A long mono WAV, cheaply: one second of tone, repeated."""
    second = tone(rate, rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for _ in range(seconds):
            w.writeframesraw(second)


def require_encoder(codec: str) -> None:
    """Skip the test when this PyAV wheel cannot encode ``codec``."""
    import av

    try:
        av.Codec(codec, "w")
    except Exception:
        pytest.skip(f"this PyAV wheel has no {codec} encoder")


LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def encode_pcm(
    path: Path,
    pcm: bytes,
    *,
    container: str,
    codec: str,
    rate: int,
    channels: int,
    options: dict[str, str] | None = None,
    muxer_options: dict[str, str] | None = None,
    seekable: bool = True,
) -> None:
    """Encode interleaved s16 ``pcm`` with PyAV (as to a pipe when not ``seekable``)."""
    import av

    require_encoder(codec)
    layout = LAYOUTS[channels]
    n = len(pcm) // (2 * channels)
    with (
        path.open("wb") as file,
        av.open(
            file if seekable else _Pipe(file), "w", format=container, options=muxer_options or {}
        ) as out,
    ):
        stream = out.add_stream(codec, rate=rate, layout=layout, options=options or {})
        frame_size = stream.codec_context.frame_size or None  # fixed by lossy codecs
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout=layout, rate=rate, frame_size=frame_size
        )
        frame = av.AudioFrame(format="s16", layout=layout, samples=n)
        frame.planes[0].update(pcm)
        frame.rate = rate
        frame.pts = 0
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))


class _Pipe(io.RawIOBase):
    """A file that cannot seek: muxers then leave sizes and durations unwritten."""

    def __init__(self, file: io.BufferedWriter) -> None:
        self._file = file

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self._file.write(data)


def encode(
    path: Path,
    *,
    container: str,
    codec: str,
    rate: int,
    channels: int,
    n: int,
    options: dict[str, str] | None = None,
    muxer_options: dict[str, str] | None = None,
    seekable: bool = True,
) -> None:
    """Encode ``n`` frames of :func:`tone` with PyAV."""
    encode_pcm(
        path,
        tone(n, rate, channels),
        container=container,
        codec=codec,
        rate=rate,
        channels=channels,
        options=options,
        muxer_options=muxer_options,
        seekable=seekable,
    )


def corrupt_mp3(path: Path) -> None:
    """A 2 s MP3 with 4,000 bytes of zeros a third of the way in."""
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=88_200)
    data = path.read_bytes()
    third = len(data) // 3
    path.write_bytes(data[:third] + bytes(4_000) + data[third + 4_000 :])


# --- speech-like audio -----------------------------------------------------------------

# (burst ms, pause ms): phrases of buzz separated by pauses, some shorter than the
# detector's 500 ms minimum (inside a sentence: never a place to cut), some longer.
PHRASES: list[tuple[int, int]] = [
    (4_000, 700),
    (2_500, 250),
    (6_000, 900),
    (1_500, 300),
    (8_000, 1_200),
    (3_000, 200),
    (5_000, 600),
    (2_000, 450),
    (3_500, 800),
]
PATTERN_MS = sum(b + p for b, p in PHRASES)  # 41.4 s

NOISE_FLOOR = 100
"""Peak of the pauses' background noise: -50 dBFS, under the detector's -35 dB."""


@dataclass(frozen=True)
class Speech:
    """A speech-like recording: its samples and where its pauses are."""

    pcm: bytes
    rate: int
    #: [start, end) of every pause, in samples.
    pauses: list[tuple[int, int]]

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


def _buzz(n: int, rate: int, pitch: int) -> bytes:
    """A square-wave buzz: never near zero, so no stretch of it reads as silence."""
    half = rate // pitch // 2
    period = array.array("h", [8_000] * half + [-8_000] * half).tobytes()
    return (period * (n // (2 * half) + 1))[: 2 * n]


def _noise(n: int, rng: random.Random) -> bytes:
    return array.array("h", (rng.randint(-NOISE_FLOOR, NOISE_FLOOR) for _ in range(n))).tobytes()


def speech(rate: int, *, repeats: int = 1, lead_burst_ms: int = 0) -> Speech:
    """``repeats`` times :data:`PHRASES`, after an optional unbroken burst.

    Built from one pattern, repeated as bytes, so a 40-minute file costs the
    synthesis of 41 seconds.
    """
    # One stretch of noise, as long as the longest pause; each pause is a slice of it.
    noise = _noise(rate * max(p for _, p in PHRASES) // 1000, random.Random(7))
    pattern = bytearray()
    pauses: list[tuple[int, int]] = []
    for k, (burst_ms, pause_ms) in enumerate(PHRASES):
        pattern += _buzz(rate * burst_ms // 1000, rate, 150 + 20 * k)
        start = len(pattern) // 2
        pattern += noise[: 2 * (rate * pause_ms // 1000)]
        pauses.append((start, len(pattern) // 2))
    lead = _buzz(rate * lead_burst_ms // 1000, rate, 130)
    offset, length = len(lead) // 2, len(pattern) // 2
    every = [
        (offset + r * length + a, offset + r * length + b)
        for r in range(repeats)
        for a, b in pauses
    ]
    return Speech(lead + bytes(pattern) * repeats, rate, every)


def write_speech_wav(path: Path, voice: Speech) -> None:
    """Write ``voice`` as a mono PCM16 WAV."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(voice.rate)
        w.writeframes(voice.pcm)
