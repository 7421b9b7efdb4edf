"""Tests for rtbatch.audio: decoding any file to exact Realtime input chunks.

Every input is generated here, in ``tmp_path``, with PyAV or the stdlib ``wave``
module; a format whose encoder this PyAV wheel lacks is skipped, with the reason.
The sample-count tolerances below are measurements (PyAV 18.1, FFmpeg 8), not
guesses; the end-to-end tests rely on them, so a change of FFmpeg that moves them
should fail here first.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import os
import threading
import warnings
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from rtbatch import audio
from rtbatch.errors import BadAudio

av = pytest.importorskip("av")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the G.711 reference; gone in Python 3.13

RATE = audio.SAMPLE_RATE


# --- generating inputs -------------------------------------------------------------


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
    try:
        av.Codec(codec, "w")
    except Exception:
        pytest.skip(f"this PyAV wheel has no {codec} encoder")


LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


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
) -> None:
    """Encode ``n`` frames of :func:`tone` with PyAV."""
    require_encoder(codec)
    layout = LAYOUTS[channels]
    with av.open(str(path), "w", format=container, options=muxer_options or {}) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout, options=options or {})
        frame_size = stream.codec_context.frame_size or None  # fixed by lossy codecs
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout=layout, rate=rate, frame_size=frame_size
        )
        frame = av.AudioFrame(format="s16", layout=layout, samples=n)
        frame.planes[0].update(tone(n, rate, channels))
        frame.rate = rate
        frame.pts = 0
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))


def decode(path: Path, **kwargs: Any) -> list[bytes]:
    return list(audio.iter_chunks(path, **kwargs))


def exact(n: int, rate: int, to: int = RATE) -> float:
    return n * to / rate


# --- exactness and tolerances ------------------------------------------------------


def test_24khz_mono_wav_passes_through_byte_for_byte(tmp_path: Path) -> None:
    """24 kHz mono PCM16 input comes out unchanged, cut into 500 ms chunks."""
    path = tmp_path / "a.wav"
    pcm = write_wav(path, 61_234, RATE)
    chunks = decode(path)
    assert b"".join(chunks) == pcm
    assert [len(c) for c in chunks] == [24_000] * 5 + [len(pcm) - 5 * 24_000]


def test_24khz_mono_wav_written_by_pyav_passes_through(tmp_path: Path) -> None:
    """A WAV with a 'mono' channel mask is also passed through byte for byte."""
    path = tmp_path / "a.wav"
    encode(path, container="wav", codec="pcm_s16le", rate=RATE, channels=1, n=30_001)
    assert b"".join(decode(path)) == tone(30_001, RATE)


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_pcm_wav_resamples_to_within_one_sample(tmp_path: Path, rate: int, channels: int) -> None:
    """PCM at any rate and channel count gives n*24000/rate samples, within one."""
    n = rate + 1_234
    path = tmp_path / "a.wav"
    write_wav(path, n, rate, channels)
    got = audio.pcm16_samples(sum(map(len, decode(path))))
    assert abs(got - exact(n, rate)) < 1


def test_24khz_stereo_keeps_the_sample_count(tmp_path: Path) -> None:
    """A downmix alone neither adds nor drops samples."""
    path = tmp_path / "a.wav"
    write_wav(path, 33_333, RATE, 2)
    assert audio.pcm16_samples(sum(map(len, decode(path)))) == 33_333


# (id, container, codec, rate, channels, extra options) → tolerance in *source* samples.
# Gapless codecs decode to the PCM count: MP3 carries its delay and padding in the
# LAME/Xing header, Opus in its pre-skip and final granule position.
# AAC in MP4 keeps its end padding: 0 to 1024 extra source samples.
# FFmpeg's own Vorbis encoder (experimental; stereo only) writes approximate granule
# positions: within ±1024 source samples either way.
CODECS = [
    ("wav-u8", "wav", "pcm_u8", 22_050, 1, None, (0, 0)),
    ("wav-f32", "wav", "pcm_f32le", 48_000, 2, None, (0, 0)),
    ("wav-s24", "wav", "pcm_s24le", 44_100, 2, None, (0, 0)),
    ("wav-ulaw", "wav", "pcm_mulaw", 8_000, 1, None, (0, 0)),
    ("wav-alaw", "wav", "pcm_alaw", 8_000, 1, None, (0, 0)),
    ("flac", "flac", "flac", 44_100, 2, None, (0, 0)),
    ("mp3-44k-stereo", "mp3", "libmp3lame", 44_100, 2, None, (0, 0)),
    ("mp3-16k-mono", "mp3", "libmp3lame", 16_000, 1, None, (0, 0)),
    ("m4a-aac", "ipod", "aac", 44_100, 2, None, (0, 1024)),
    ("m4a-aac-16k", "ipod", "aac", 16_000, 1, None, (0, 1024)),
    ("ogg-opus", "ogg", "libopus", 48_000, 2, None, (0, 0)),
    ("ogg-opus-16k-mono", "ogg", "libopus", 16_000, 1, None, (0, 0)),
    ("webm-opus", "webm", "libopus", 48_000, 2, None, (0, 0)),
    ("ogg-vorbis", "ogg", "vorbis", 44_100, 2, {"strict": "experimental"}, (-1024, 1024)),
]


@pytest.mark.parametrize(
    ("container", "codec", "rate", "channels", "options", "tolerance"),
    [pytest.param(*case[1:], id=case[0]) for case in CODECS],
)
def test_codec_decodes_to_the_expected_sample_count(
    tmp_path: Path,
    container: str,
    codec: str,
    rate: int,
    channels: int,
    options: dict[str, str] | None,
    tolerance: tuple[int, int],
) -> None:
    """Each format decodes to n*24000/rate samples, within its codec's padding."""
    n = rate * 3 // 2 + 321
    path = tmp_path / f"a.{container}"
    encode(
        path, container=container, codec=codec, rate=rate, channels=channels, n=n, options=options
    )
    chunks = decode(path)
    got = audio.pcm16_samples(sum(map(len, chunks)))
    low, high = (exact(t, rate) for t in tolerance)
    assert exact(n, rate) + low - 1 < got < exact(n, rate) + high + 1
    assert all(len(c) == 24_000 for c in chunks[:-1])


def test_probe_reads_parameters_without_decoding(tmp_path: Path) -> None:
    """probe reports the source rate, channels, codec and container duration."""
    path = tmp_path / "a.mp3"
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=44_100)
    info = audio.probe(path)
    assert (info.path, info.sample_rate, info.channels) == (path, 44_100, 2)
    assert info.codec.startswith("mp3")
    assert info.duration_s == pytest.approx(1.0, abs=0.03)


# --- chunking ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk_ms", [20, 100, 137, 500, 2_000])
def test_chunks_are_exact_except_the_last(tmp_path: Path, chunk_ms: int) -> None:
    """Every chunk but the last holds exactly chunk_ms of audio; nothing is lost."""
    path = tmp_path / "a.wav"
    pcm = write_wav(path, 50_000, 16_000, 2)
    chunks = decode(path, chunk_ms=chunk_ms)
    size = 48 * chunk_ms
    assert all(len(c) == size for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= size
    assert abs(sum(map(len, chunks)) // 2 - exact(len(pcm) // 4, 16_000)) < 1


def test_a_stream_that_changes_rate_midway_is_converted_whole(tmp_path: Path) -> None:
    """Concatenated MP3s at two rates (no Xing header) decode to both parts, in order."""
    parts = []
    for rate in (44_100, 16_000):
        part = tmp_path / f"{rate}.mp3"
        encode(
            part,
            container="mp3",
            codec="libmp3lame",
            rate=rate,
            channels=1,
            n=rate,
            muxer_options={"write_xing": "0", "id3v2_version": "0"},
        )
        parts.append(part.read_bytes())
    path = tmp_path / "both.mp3"
    path.write_bytes(b"".join(parts))
    got = audio.pcm16_samples(sum(map(len, decode(path))))
    # Two seconds, plus each part's encoder delay and padding: without a Xing
    # header the decoder cannot trim them (under 3 MP3 frames per part).
    assert 2 * RATE <= got < 2 * RATE + 2 * 3 * 1152 * RATE // 16_000


@pytest.mark.parametrize(("fmt", "ref"), [("g711_ulaw", "lin2ulaw"), ("g711_alaw", "lin2alaw")])
def test_g711_table_matches_audioop_on_every_sample(fmt: audio.AudioFormat, ref: str) -> None:
    """The G.711 encoder agrees with CPython's audioop (ITU-T reference) on all 65,536 inputs."""
    every_sample = array.array("h", range(-32_768, 32_768)).tobytes()
    assert audio.pcm16_to_g711(every_sample, fmt) == getattr(audioop, ref)(every_sample, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_g711_chunks_at_8khz_match_audioop(tmp_path: Path, fmt: audio.AudioFormat) -> None:
    """An 8 kHz mono file in G.711 is audioop's encoding of its samples, 4,000 bytes a chunk."""
    path = tmp_path / "a.wav"
    pcm = write_wav(path, 20_500, 8_000)
    chunks = decode(path, fmt=fmt)
    reference = audioop.lin2ulaw if fmt == "g711_ulaw" else audioop.lin2alaw
    assert b"".join(chunks) == reference(pcm, 2)
    assert [len(c) for c in chunks] == [4_000] * 5 + [500]


def test_g711_from_48khz_stereo_has_a_third_of_the_24khz_samples(tmp_path: Path) -> None:
    """G.711 output is one byte per 8 kHz sample: n*8000/rate, within one."""
    path = tmp_path / "a.wav"
    write_wav(path, 48_000 + 999, 48_000, 2)
    g711 = sum(map(len, decode(path, fmt="g711_ulaw")))
    pcm16 = audio.pcm16_samples(sum(map(len, decode(path))))
    assert abs(g711 - exact(48_999, 48_000, 8_000)) < 1
    assert abs(g711 - pcm16 / 3) < 1


def test_bad_arguments_fail_before_reading(tmp_path: Path) -> None:
    """An unknown format or a non-positive chunk size is a ValueError naming it."""
    missing = tmp_path / "missing.wav"
    with pytest.raises(ValueError, match="'opus'"):
        audio.iter_chunks(missing, fmt="opus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_ms"):
        audio.iter_chunks(missing, chunk_ms=0)
    with pytest.raises(ValueError, match="limit"):
        audio.iter_chunks(missing, chunk_ms=3_600_000)


# --- bad files ---------------------------------------------------------------------


def _text_as_wav(path: Path) -> None:
    path.write_text("this is not audio\n" * 50)


def _no_audio_stream(path: Path) -> None:
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuvj420p"
        frame = av.VideoFrame(16, 16, "yuvj420p")
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _corrupt_mp3(path: Path) -> None:
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=88_200)
    data = path.read_bytes()
    third = len(data) // 3
    path.write_bytes(data[:third] + bytes(4_000) + data[third + 4_000 :])


def _mp3_cut_inside_its_header(path: Path) -> None:
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=44_100)
    path.write_bytes(path.read_bytes()[:300])


BAD_FILES: list[tuple[str, str, Callable[[Path], object], str]] = [
    ("missing", "a.wav", lambda p: None, "does not exist"),
    ("directory", "a.wav", lambda p: p.mkdir(), "is a directory"),
    ("text-named-wav", "a.wav", _text_as_wav, "is not a readable audio file"),
    ("zero-bytes", "a.mp3", lambda p: p.write_bytes(b""), "is not a readable audio file"),
    ("no-audio-stream", "a.mkv", _no_audio_stream, "has no audio stream"),
    ("mp3-cut-in-header", "a.mp3", _mp3_cut_inside_its_header, "is not a readable audio file"),
]


@pytest.mark.parametrize(
    ("name", "make", "message"), [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES]
)
def test_unopenable_files_are_bad_audio(
    tmp_path: Path, name: str, make: Callable[[Path], object], message: str
) -> None:
    """probe and iter_chunks both raise BadAudio naming the file and the problem."""
    path = tmp_path / name
    make(path)
    for attempt in (lambda: audio.probe(path), lambda: decode(path)):
        with pytest.raises(BadAudio, match=message) as caught:
            attempt()
        assert str(path) in str(caught.value)
        assert caught.value.code == "bad_audio"
        assert caught.value.error_class == "job"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_bad_audio(tmp_path: Path) -> None:
    """A file without read permission is BadAudio, not PermissionError."""
    path = tmp_path / "a.wav"
    write_wav(path, 8_000, 8_000)
    path.chmod(0)
    with pytest.raises(BadAudio, match="permission denied"):
        decode(path)


def test_corrupt_mp3_fails_after_its_good_chunks(tmp_path: Path) -> None:
    """Garbage inside an MP3 is BadAudio saying where decoding failed."""
    path = tmp_path / "a.mp3"
    _corrupt_mp3(path)
    good: list[bytes] = []
    with pytest.raises(BadAudio, match=r"is corrupt: decoding failed after 0\.\d+ s"):
        good.extend(audio.iter_chunks(path))
    assert len(good) == 1  # the first 500 ms came out before the damage


def test_mp3_cut_between_frames_is_just_shorter(tmp_path: Path) -> None:
    """A file cut at a frame boundary decodes to what it holds (documented limitation)."""
    path = tmp_path / "a.mp3"
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=88_200)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert 0 < audio.pcm16_samples(sum(map(len, decode(path)))) < 2 * RATE


def test_empty_wav_is_bad_audio(tmp_path: Path) -> None:
    """A WAV with no samples is 'empty'."""
    path = tmp_path / "a.wav"
    write_wav(path, 0, 16_000)
    with pytest.raises(BadAudio, match="is empty"):
        decode(path)


def test_wav_under_100ms_is_bad_audio_and_yields_nothing(tmp_path: Path) -> None:
    """50 ms is too short to commit; no chunk is produced before the error."""
    path = tmp_path / "a.wav"
    write_wav(path, 800, 16_000)
    got: list[bytes] = []
    with pytest.raises(BadAudio, match=r"shorter than 100 ms \(50\.0 ms"):
        got.extend(audio.iter_chunks(path))
    assert got == []


def test_exactly_100ms_is_enough(tmp_path: Path) -> None:
    """The limit is inclusive: 100 ms of audio (2,400 samples) is accepted."""
    path = tmp_path / "a.wav"
    write_wav(path, 2_400, RATE)
    assert [len(c) for c in decode(path)] == [4_800]


# --- the async face ----------------------------------------------------------------


@contextlib.contextmanager
def watched_iter_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Wrap audio.iter_chunks to record chunks produced (and the 4th), and its closing."""
    state: dict[str, Any] = {"produced": 0, "closed": threading.Event(), "4th": threading.Event()}
    real = audio.iter_chunks

    def watched(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        inner = real(*args, **kwargs)

        def gen() -> Iterator[bytes]:
            try:
                for chunk in inner:
                    state["produced"] += 1
                    if state["produced"] == 4:
                        state["4th"].set()
                    yield chunk
            finally:
                inner.close()
                state["closed"].set()

        return gen()

    monkeypatch.setattr(audio, "iter_chunks", watched)
    yield state


def no_audio_threads() -> bool:
    return not any(t.name.startswith("rtbatch audio") for t in threading.enumerate())


async def test_chunk_stream_yields_what_iter_chunks_yields(tmp_path: Path) -> None:
    """open_chunk_stream hands over the same chunks, in order, then ends."""
    path = tmp_path / "a.wav"
    write_wav(path, 100_000, 44_100, 2)
    async with audio.open_chunk_stream(path, chunk_ms=200, buffer_chunks=2) as chunks:
        got = [chunk async for chunk in chunks]
    assert got == decode(path, chunk_ms=200)
    assert no_audio_threads()


async def test_chunk_stream_raises_bad_audio_after_the_good_chunks(tmp_path: Path) -> None:
    """A decoding failure reaches the consumer as BadAudio, unwrapped, in order."""
    path = tmp_path / "a.mp3"
    _corrupt_mp3(path)
    got: list[bytes] = []
    with pytest.raises(BadAudio, match="is corrupt"):
        async with audio.open_chunk_stream(path) as chunks:
            async for chunk in chunks:
                got.append(chunk)
    assert len(got) == 1


async def test_chunk_stream_of_a_missing_file_raises_bad_audio(tmp_path: Path) -> None:
    """A file that cannot be opened fails on the first receive."""
    async with audio.open_chunk_stream(tmp_path / "nope.wav") as chunks:
        with pytest.raises(BadAudio, match="does not exist"):
            await chunks.receive()
        with pytest.raises(trio.EndOfChannel):
            await chunks.receive()


async def test_chunk_stream_stops_decoding_when_the_consumer_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving early closes the decoder (and its file) before the block returns."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 60, 48_000)  # a minute: 120 chunks
    with watched_iter_chunks(monkeypatch) as state:
        async with audio.open_chunk_stream(path, buffer_chunks=2) as chunks:
            async for _ in chunks:
                break
        assert state["closed"].is_set()
        assert state["produced"] <= 1 + 2 + 1  # received, buffered, one blocked in send
    assert no_audio_threads()


async def test_chunk_stream_applies_backpressure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer that does not receive holds decoding at buffer_chunks ahead."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 30, 48_000)
    with watched_iter_chunks(monkeypatch) as state:
        async with audio.open_chunk_stream(path, buffer_chunks=3) as chunks:
            assert await trio.to_thread.run_sync(state["4th"].wait, 5)
            await trio.sleep(0.1)  # room to run ahead, if it could
            assert state["produced"] == 3 + 1  # buffered, plus one blocked in send
            assert len(await chunks.receive()) == 24_000


async def test_chunk_stream_cleans_up_on_cancellation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling the consumer mid-stream still joins the thread and closes the file."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 60, 48_000)
    with watched_iter_chunks(monkeypatch) as state:
        with trio.CancelScope() as scope:
            async with audio.open_chunk_stream(path, buffer_chunks=1) as chunks:
                await chunks.receive()
                scope.cancel()
                await trio.sleep(1)  # cancelled here
                pytest.fail("not cancelled")
        assert scope.cancelled_caught
        assert state["closed"].is_set()
    assert no_audio_threads()


async def test_errors_in_the_body_are_not_wrapped(tmp_path: Path) -> None:
    """An exception raised by the consumer leaves the block as itself, not a group."""
    path = tmp_path / "a.wav"
    write_wav(path, 24_000, RATE)
    with pytest.raises(KeyError):
        async with audio.open_chunk_stream(path) as chunks:
            await chunks.receive()
            raise KeyError("consumer failed")


async def test_chunk_stream_rejects_bad_arguments_at_once(tmp_path: Path) -> None:
    """Bad arguments raise ValueError on entry, before any thread starts."""
    with pytest.raises(ValueError, match="buffer_chunks"):
        async with audio.open_chunk_stream(tmp_path / "a.wav", buffer_chunks=0):
            pass
    with pytest.raises(ValueError, match="chunk_ms"):
        async with audio.open_chunk_stream(tmp_path / "a.wav", chunk_ms=-5):
            pass


# --- WavWriter ---------------------------------------------------------------------


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
    assert b"".join(decode(path)) == pcm  # and it is valid input audio


def test_wav_writer_with_no_writes_is_an_empty_valid_wav(tmp_path: Path) -> None:
    """Closing without writing leaves a valid WAV of zero frames."""
    path = tmp_path / "out.wav"
    audio.WavWriter(path).close()
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 0


def test_helpers() -> None:
    """Unit helpers: rates, bytes per second, durations."""
    assert audio.sample_rate_of("pcm16") == 24_000
    assert audio.sample_rate_of("g711_alaw") == 8_000
    assert audio.bytes_per_second("pcm16") == 48_000
    assert audio.duration_ms(24_000) == 500
    assert audio.duration_ms(800, "g711_ulaw") == 100
    assert audio.pcm16_samples(24_001) == 12_000


# --- the examples in jobs/ ---------------------------------------------------------

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def test_example_audio_jobs_reference_decodable_speech() -> None:
    """Every file jobs/audio.jsonl names exists, is small, and decodes to 1-10 s."""
    lines = (JOBS / "audio.jsonl").read_text().splitlines()
    files = {JOBS / json.loads(line)["audio"] for line in lines if line.strip()}
    assert len(files) >= 3
    for path in files:
        assert path.stat().st_size < 100_000, path
        seconds = sum(map(len, decode(path))) / audio.bytes_per_second("pcm16")
        assert 1 < seconds < 10, path
