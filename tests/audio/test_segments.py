"""Tests for rtbatch.audio.segments: long files cut at silences into exact segments.

The inputs are speech-like (tests/audio/samples.py): phrases of buzz separated
by pauses whose positions the test knows, some shorter than the detector's
500 ms minimum. The 40-minute case repeats one synthesized pattern, written once
per module as a WAV, and is segmented once for the properties it proves.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from rtbatch import audio
from rtbatch.audio import Cut
from rtbatch.audio.silence import SILENCE_MIN_MS
from rtbatch.errors import BadAudio
from tests.audio.samples import Speech, corrupt_mp3, encode_pcm, speech, write_speech_wav

pytest.importorskip("av")

RATE = audio.SAMPLE_RATE
MAX = audio.MAX_SEGMENT_MS * RATE // 1000
TOLERANCE = audio.SEGMENT_TOLERANCE_MS * RATE // 1000


@dataclass
class Segmented:
    """What one pass yielded: the cuts, and each segment's chunk sizes (samples)."""

    cuts: list[Cut]
    chunks: list[list[int]]


def collect(items: Iterable[bytes | Cut], bytes_per_sample: int = 2) -> Segmented:
    cuts: list[Cut] = []
    chunks: list[list[int]] = [[]]
    for item in items:
        if isinstance(item, Cut):
            cuts.append(item)
            chunks.append([])
        else:
            chunks[-1].append(len(item) // bytes_per_sample)
    assert chunks[-1] == [], "chunks after the last cut"
    return Segmented(cuts, chunks[:-1])


def segment(path: Path, **kwargs: Any) -> Segmented:
    return collect(audio.iter_segmented(path, **kwargs))


def long_pauses(voice: Speech) -> list[tuple[int, int]]:
    """The pauses the detector must find: at least its minimum long."""
    return [(a, b) for a, b in voice.pauses if (b - a) * 1000 >= SILENCE_MIN_MS * voice.rate]


def assert_tiles(result: Segmented, total: int) -> None:
    """Contiguous from 0 to ``total``, each segment's chunks adding up to it."""
    assert result.cuts[0].start_sample == 0
    for before, after in zip(result.cuts, result.cuts[1:], strict=False):
        assert before.end_sample == after.start_sample
    assert result.cuts[-1].end_sample == total
    assert [c.index for c in result.cuts] == list(range(len(result.cuts)))
    assert [sum(sizes) for sizes in result.chunks] == [c.samples for c in result.cuts]


# --- forty minutes, default limits -------------------------------------------------------


@pytest.fixture(scope="module")
def forty_minutes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Speech]:
    """7 minutes of unbroken buzz (a hard cut), then phrases and pauses: 41 minutes."""
    voice = speech(RATE, repeats=50, lead_burst_ms=7 * 60_000)
    path = tmp_path_factory.mktemp("long") / "forty.wav"
    write_speech_wav(path, voice)
    return path, voice


@pytest.fixture(scope="module")
def forty_segmented(forty_minutes: tuple[Path, Speech]) -> Segmented:
    path, _ = forty_minutes
    return segment(path, chunk_ms=2_000)


def test_forty_minutes_tile_exactly(
    forty_minutes: tuple[Path, Speech], forty_segmented: Segmented
) -> None:
    """Every sample of the file lies in exactly one segment, in order."""
    _, voice = forty_minutes
    assert voice.samples > 40 * 60 * RATE
    assert_tiles(forty_segmented, voice.samples)
    assert len(forty_segmented.cuts) >= 40 * 60 // 300


def test_silence_cuts_lie_inside_pauses(
    forty_minutes: tuple[Path, Speech], forty_segmented: Segmented
) -> None:
    """Each cut that is not hard falls inside a pause of at least 500 ms."""
    _, voice = forty_minutes
    pauses = long_pauses(voice)
    silence_cuts = [c for c in forty_segmented.cuts if c.kind == "silence"]
    assert len(silence_cuts) >= 7
    for cut in silence_cuts:
        assert any(a < cut.end_sample < b for a, b in pauses), cut
        assert MAX - TOLERANCE <= cut.samples <= MAX


def test_hard_cuts_only_where_no_pause_lies_within_the_tolerance(
    forty_minutes: tuple[Path, Speech], forty_segmented: Segmented
) -> None:
    """A hard cut is exactly at the limit, with no pause in the last minute before it."""
    _, voice = forty_minutes
    pauses = long_pauses(voice)
    hard = [c for c in forty_segmented.cuts if c.kind == "hard"]
    assert [c.index for c in hard] == [0]  # the 7 minutes of buzz
    for cut in hard:
        assert cut.samples == MAX
        window = (cut.end_sample - TOLERANCE, cut.end_sample)
        assert not any(window[0] <= a and b <= window[1] for a, b in pauses)


def test_chunks_never_straddle_a_cut(forty_segmented: Segmented) -> None:
    """Each segment's chunks are whole 2 s chunks but its last, which is shorter."""
    for sizes in forty_segmented.chunks:
        assert all(n == 2 * RATE for n in sizes[:-1])
        assert 0 < sizes[-1] <= 2 * RATE
    assert forty_segmented.cuts[-1].kind == "end"


def test_memory_stays_flat_over_forty_minutes(forty_minutes: tuple[Path, Speech]) -> None:
    """Segmenting 110 MiB of audio holds a few chunks, not a segment (28 MiB)."""
    path, _ = forty_minutes
    tracemalloc.start()
    try:
        for _ in audio.iter_segmented(path, chunk_ms=2_000):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024


# --- short limits, several formats ---------------------------------------------------


SHORT = {"max_segment_ms": 20_000, "tolerance_ms": 5_000, "chunk_ms": 500}


@pytest.fixture
def two_minutes(tmp_path: Path) -> tuple[Path, Speech]:
    voice = speech(RATE, repeats=3)  # 123 s
    path = tmp_path / "speech.wav"
    write_speech_wav(path, voice)
    return path, voice


@pytest.mark.parametrize(
    ("suffix", "container", "codec", "rate", "fmt"),
    [
        ("flac", "flac", "flac", 16_000, "pcm16"),
        ("mp3", "mp3", "libmp3lame", 22_050, "pcm16"),
        ("opus", "ogg", "libopus", 48_000, "pcm16"),
        ("flac", "flac", "flac", 16_000, "g711_ulaw"),
    ],
)
def test_decoded_files_tile_as_iter_chunks_decodes_them(
    tmp_path: Path, suffix: str, container: str, codec: str, rate: int, fmt: str
) -> None:
    """Resampled and lossy inputs: the segments hold exactly the samples iter_chunks gives."""
    pcm = speech(rate).pcm[: 2 * rate * 20]  # the first 20 s: 5 phrases
    path = tmp_path / f"speech.{suffix}"
    encode_pcm(path, pcm, container=container, codec=codec, rate=rate, channels=1)
    width = 2 if fmt == "pcm16" else 1
    limits = {"max_segment_ms": 6_000, "tolerance_ms": 3_000, "chunk_ms": 500}
    result = collect(audio.iter_segmented(path, fmt=fmt, **limits), width)  # type: ignore[arg-type]
    total = sum(map(len, audio.iter_chunks(path, fmt=fmt))) // width  # type: ignore[arg-type]
    assert_tiles(result, total)
    out_rate = audio.sample_rate_of(fmt)  # type: ignore[arg-type]
    assert {c.rate for c in result.cuts} == {out_rate}
    assert len(result.cuts) >= 4
    assert all(c.samples <= 6 * out_rate for c in result.cuts)


def test_segment_chunks_are_the_file_s_samples_in_order(two_minutes: tuple[Path, Speech]) -> None:
    """Joined, the chunks of all segments are the file's PCM, byte for byte."""
    path, voice = two_minutes
    chunks = [i for i in audio.iter_segmented(path, **SHORT) if isinstance(i, bytes)]
    assert b"".join(chunks) == voice.pcm


@pytest.mark.parametrize("fmt", ["pcm16", "g711_alaw"])
def test_start_sample_resumes_exactly_at_each_boundary(
    two_minutes: tuple[Path, Speech], fmt: str
) -> None:
    """From any cut on, a resumed pass yields the same chunks and cuts as the full one."""
    path, _ = two_minutes
    full = list(audio.iter_segmented(path, fmt=fmt, **SHORT))  # type: ignore[arg-type]
    cuts = [i for i in full if isinstance(i, Cut)]
    assert len(cuts) >= 5
    for cut in cuts:
        after = full[full.index(cut) + 1 :]
        resumed = audio.iter_segmented(path, fmt=fmt, start_sample=cut.end_sample, **SHORT)  # type: ignore[arg-type]
        assert list(resumed) == after


def test_start_sample_inside_a_segment_is_refused(two_minutes: tuple[Path, Speech]) -> None:
    """A start that is not a boundary fails naming the segment, before yielding anything."""
    path, _ = two_minutes
    first = segment(path, **SHORT).cuts[1]
    got: list[object] = []
    with pytest.raises(ValueError, match=f"segment 1 spans samples {first.start_sample} to"):
        got.extend(audio.iter_segmented(path, start_sample=first.start_sample + 1, **SHORT))
    assert got == []


def test_start_sample_at_or_past_the_end(two_minutes: tuple[Path, Speech]) -> None:
    """At the end nothing is left to send; past it is an error."""
    path, voice = two_minutes
    assert list(audio.iter_segmented(path, start_sample=voice.samples, **SHORT)) == []
    with pytest.raises(ValueError, match="past the end"):
        list(audio.iter_segmented(path, start_sample=voice.samples + 1, **SHORT))


# --- the 100 ms tail ------------------------------------------------------------------------


def buzz_then_pause(tmp_path: Path, buzz_ms: int, pause_ms: int, tail_ms: int) -> Path:
    """Buzz, a pause, then a little more buzz, as a 24 kHz WAV."""
    buzz = speech(RATE).pcm  # it opens with 4 s of buzz
    pcm = (
        buzz[: 2 * RATE * buzz_ms // 1000]
        + bytes(2 * RATE * pause_ms // 1000)
        + buzz[: 2 * RATE * tail_ms // 1000]
    )
    path = tmp_path / "a.wav"
    write_speech_wav(path, Speech(pcm, RATE, []))
    return path


def test_a_tiny_tail_joins_the_segment_before_it(tmp_path: Path) -> None:
    """A cut 90 ms before the end would leave an uncommittable segment: there is none."""
    path = buzz_then_pause(tmp_path, 500, 600, 40)
    cuts = segment(path, max_segment_ms=3_000, tolerance_ms=2_000, chunk_ms=100).cuts
    assert [(c.start_sample, c.end_sample, c.kind) for c in cuts] == [(0, 27_360, "end")]


def test_a_tiny_tail_moves_the_cut_back_when_joining_would_break_the_limit(
    tmp_path: Path,
) -> None:
    """The last segment gets exactly 100 ms; the cut stays inside the pause."""
    path = buzz_then_pause(tmp_path, 500, 600, 40)
    cuts = segment(path, max_segment_ms=1_100, tolerance_ms=100, chunk_ms=100).cuts
    assert [(c.start_sample, c.end_sample, c.kind) for c in cuts] == [
        (0, 27_360 - 2_400, "silence"),
        (27_360 - 2_400, 27_360, "end"),
    ]


def test_a_tiny_tail_after_a_hard_cut(tmp_path: Path) -> None:
    """1.05 s of buzz with a 1 s limit: 0.95 s (hard), then 100 ms."""
    path = buzz_then_pause(tmp_path, 1_050, 0, 0)
    cuts = segment(path, max_segment_ms=1_000, tolerance_ms=500, chunk_ms=300).cuts
    assert [(c.samples, c.kind) for c in cuts] == [(22_800, "hard"), (2_400, "end")]


def test_a_file_shorter_than_the_limit_is_one_segment(tmp_path: Path) -> None:
    """No cut is needed: one segment, the whole file, its chunks as iter_chunks cuts them."""
    path = buzz_then_pause(tmp_path, 1_000, 700, 300)
    result = segment(path, max_segment_ms=10_000, tolerance_ms=5_000, chunk_ms=500)
    assert [(c.index, c.start_sample, c.end_sample, c.kind) for c in result.cuts] == [
        (0, 0, 48_000, "end")
    ]
    assert result.chunks == [[len(c) // 2 for c in audio.iter_chunks(path)]]
    assert (result.cuts[0].start_ms, result.cuts[0].end_ms) == (0, 2_000)


# --- bad input ------------------------------------------------------------------------------


def test_bad_arguments_fail_at_the_call(tmp_path: Path) -> None:
    """Limits that leave no room for two committable segments, or negative values."""
    missing = tmp_path / "missing.wav"
    with pytest.raises(ValueError, match="at least 200 ms"):
        audio.iter_segmented(missing, max_segment_ms=1_000, tolerance_ms=900)
    with pytest.raises(ValueError, match="tolerance_ms"):
        audio.iter_segmented(missing, tolerance_ms=-1)
    with pytest.raises(ValueError, match="start_sample"):
        audio.iter_segmented(missing, start_sample=-1)
    with pytest.raises(ValueError, match="chunk_ms"):
        audio.iter_segmented(missing, chunk_ms=0)


def test_bad_files_are_bad_audio(tmp_path: Path) -> None:
    """Too short to commit: BadAudio, nothing yielded; corrupt: BadAudio after the good chunks."""
    short = buzz_then_pause(tmp_path, 50, 0, 0)
    got: list[object] = []
    with pytest.raises(BadAudio, match="shorter than 100 ms"):
        got.extend(audio.iter_segmented(short))
    assert got == []
    corrupt = tmp_path / "a.mp3"
    corrupt_mp3(corrupt)
    with pytest.raises(BadAudio, match="is corrupt"):
        got.extend(audio.iter_segmented(corrupt, chunk_ms=100))
    assert 0 < len(got) < 10


# --- the async twin -------------------------------------------------------------------------


async def test_segment_stream_yields_what_iter_segmented_yields(
    two_minutes: tuple[Path, Speech],
) -> None:
    """The same chunks and cuts, in order, through the worker thread."""
    path, _ = two_minutes
    async with audio.open_segment_stream(path, start_sample=0, **SHORT) as items:
        got = [item async for item in items]
    assert got == list(audio.iter_segmented(path, **SHORT))


async def test_segment_stream_stops_when_the_consumer_leaves(
    two_minutes: tuple[Path, Speech],
) -> None:
    """Leaving after the first cut joins the thread; nothing is left running."""
    path, _ = two_minutes
    with trio.fail_after(10):
        async with audio.open_segment_stream(path, buffer_chunks=1, **SHORT) as items:
            async for item in items:
                if isinstance(item, Cut):
                    break
    prefix = audio.bridge.THREAD_NAME_PREFIX
    assert not any(t.name.startswith(prefix) for t in threading.enumerate())


async def test_segment_stream_rejects_bad_arguments_at_once(tmp_path: Path) -> None:
    """ValueError on entry, before any thread starts."""
    with pytest.raises(ValueError, match="max_segment_ms"):
        async with audio.open_segment_stream(tmp_path / "a.wav", max_segment_ms=100):
            pass
