"""Tests for rtbatch.audio.decode: any file decoded to exact Realtime input chunks.

Every input is generated here, in ``tmp_path`` (tests/audio/samples.py). The
sample-count tolerances below are measurements (PyAV 18.1, FFmpeg 8), not
guesses; the end-to-end tests rely on them, so a change of FFmpeg that moves them
should fail here first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtbatch import audio
from rtbatch.audio.framewise import iter_frame_blocks
from rtbatch.defaults import AudioFormat
from rtbatch.errors import BadAudio
from tests.audio.samples import corrupt_mp3, encode, encode_pcm, tone, write_wav

av = pytest.importorskip("av")

RATE = audio.SAMPLE_RATE


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
    got = sum(map(len, decode(path))) // 2
    assert abs(got - exact(n, rate)) < 1


def test_24khz_stereo_keeps_the_sample_count(tmp_path: Path) -> None:
    """A downmix alone neither adds nor drops samples."""
    path = tmp_path / "a.wav"
    write_wav(path, 33_333, RATE, 2)
    assert sum(map(len, decode(path))) // 2 == 33_333


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
    got = sum(map(len, chunks)) // 2
    low, high = (exact(t, rate) for t in tolerance)
    assert exact(n, rate) + low - 1 < got < exact(n, rate) + high + 1
    assert all(len(c) == 24_000 for c in chunks[:-1])


def test_duration_is_the_containers_when_it_states_one(tmp_path: Path) -> None:
    """duration_s reads an MP3's stated duration (1 s of audio) without decoding it."""
    path = tmp_path / "a.mp3"
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=44_100)
    assert audio.duration_s(path) == pytest.approx(1.0, abs=0.03)


def test_duration_of_a_wav_is_exact(tmp_path: Path) -> None:
    """A WAV states its length in its header: 1.5 s at 16 kHz."""
    path = tmp_path / "a.wav"
    write_wav(path, 24_000, 16_000, 2)
    assert audio.duration_s(path) == 1.5


def test_duration_counts_samples_when_the_container_does_not_say(tmp_path: Path) -> None:
    """A Matroska file written to a pipe states no duration: its samples are counted."""
    path = tmp_path / "a.mka"
    pcm = tone(40_000, 16_000)
    encode_pcm(
        path, pcm, container="matroska", codec="flac", rate=16_000, channels=1, seekable=False
    )
    with av.open(str(path)) as container:
        assert container.duration is None
    assert audio.duration_s(path) == 2.5


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


def _two_rates_mp3(tmp_path: Path) -> Path:
    """Concatenated MP3s at 44.1 and 16 kHz, without Xing headers (1 s each)."""
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
    return path


def _frame_by_frame(path: Path, rate: int = RATE) -> bytes:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return b"".join(iter_frame_blocks(container, stream, rate, 12_000))


def test_a_stream_that_changes_rate_midway_is_converted_whole(tmp_path: Path) -> None:
    """Concatenated MP3s at two rates (no Xing header) decode to both parts, in order."""
    path = _two_rates_mp3(tmp_path)
    got = sum(map(len, decode(path))) // 2
    # Two seconds, plus each part's encoder delay and padding: without a Xing
    # header the decoder cannot trim them (under 3 MP3 frames per part).
    assert 2 * RATE <= got < 2 * RATE + 2 * 3 * 1152 * RATE // 16_000


def test_a_change_of_rate_hands_over_without_losing_or_repeating_samples(
    tmp_path: Path,
) -> None:
    """After the filter graph stops at the change, the frame-by-frame path resumes exactly."""
    path = _two_rates_mp3(tmp_path)
    assert b"".join(audio.iter_pcm(path, RATE, 1_000)) == _frame_by_frame(path)


@pytest.mark.parametrize(
    ("container", "codec", "rate", "channels"),
    [
        ("mp3", "libmp3lame", 44_100, 2),
        ("ogg", "libopus", 48_000, 2),
        ("ipod", "aac", 44_100, 1),
        ("flac", "flac", 16_000, 1),
    ],
)
def test_the_filter_graph_and_the_frame_by_frame_path_agree_bit_for_bit(
    tmp_path: Path, container: str, codec: str, rate: int, channels: int
) -> None:
    """The fallback's exactness rests on this: both paths give the same samples."""
    path = tmp_path / f"a.{container}"
    encode(path, container=container, codec=codec, rate=rate, channels=channels, n=rate * 3)
    graph = b"".join(audio.iter_pcm(path, RATE, 12_000))
    assert len(graph) > 2 * 2 * RATE
    assert graph == _frame_by_frame(path)


def test_a_file_name_with_a_colon_is_not_taken_for_a_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative name like 'take:1.flac' opens as a file, not as FFmpeg's 'take:' protocol."""
    monkeypatch.chdir(tmp_path)
    name = "take:1.flac"
    encode(tmp_path / name, container="flac", codec="flac", rate=16_000, channels=1, n=8_000)
    assert sum(map(len, decode(Path(name)))) == 2 * RATE // 2


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_g711_chunks_at_8khz_encode_every_sample(tmp_path: Path, fmt: AudioFormat) -> None:
    """An 8 kHz mono file in G.711 is the encoding of its samples, 4,000 bytes a chunk."""
    path = tmp_path / "a.wav"
    pcm = write_wav(path, 20_500, 8_000)
    chunks = decode(path, fmt=fmt)
    assert b"".join(chunks) == audio.g711_encoder(fmt)(pcm)  # type: ignore[arg-type]
    assert [len(c) for c in chunks] == [4_000] * 5 + [500]


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_g711_chunks_from_the_filter_graph_encode_every_sample(
    tmp_path: Path, fmt: AudioFormat
) -> None:
    """8 kHz FLAC (not read as a WAV) gives the same G.711 bytes as its PCM."""
    path = tmp_path / "a.flac"
    encode(path, container="flac", codec="flac", rate=8_000, channels=1, n=20_500)
    chunks = decode(path, fmt=fmt)
    assert b"".join(chunks) == audio.g711_encoder(fmt)(tone(20_500, 8_000))  # type: ignore[arg-type]


def test_g711_from_48khz_stereo_has_a_third_of_the_24khz_samples(tmp_path: Path) -> None:
    """G.711 output is one byte per 8 kHz sample: n*8000/rate, within one."""
    path = tmp_path / "a.wav"
    write_wav(path, 48_000 + 999, 48_000, 2)
    g711 = sum(map(len, decode(path, fmt="g711_ulaw")))
    pcm16 = sum(map(len, decode(path))) // 2
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
    """duration_s and iter_chunks both raise BadAudio naming the file and the problem."""
    path = tmp_path / name
    make(path)
    for attempt in (lambda: audio.duration_s(path), lambda: decode(path)):
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
    corrupt_mp3(path)
    good: list[bytes] = []
    with pytest.raises(BadAudio, match=r"is corrupt: decoding failed after 0\.\d+ s"):
        good.extend(audio.iter_chunks(path))
    assert len(good) == 1  # the first 500 ms came out before the damage


def test_mp3_cut_between_frames_is_just_shorter(tmp_path: Path) -> None:
    """A file cut at a frame boundary decodes to what it holds (documented limitation)."""
    path = tmp_path / "a.mp3"
    encode(path, container="mp3", codec="libmp3lame", rate=44_100, channels=2, n=88_200)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert 0 < sum(map(len, decode(path))) // 2 < 2 * RATE


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


# --- the examples in jobs/ ---------------------------------------------------------

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def test_example_audio_jobs_reference_decodable_speech() -> None:
    """Every file jobs/audio.jsonl names exists, is small, and decodes to 1-10 s."""
    lines = (JOBS / "audio.jsonl").read_text().splitlines()
    files = {JOBS / json.loads(line)["audio"] for line in lines if line.strip()}
    assert len(files) >= 3
    for path in files:
        assert path.stat().st_size < 100_000, path
        seconds = sum(map(len, decode(path))) / audio.bytes_per_second("pcm16")
        assert 1 < seconds < 10, path
