"""Tests for rtbatch.audio.silence: FFmpeg's silencedetect rule, exact to the sample.

The detector replaced FFmpeg's ``silencedetect`` filter (run through PyAV); the
filter, driven as rtbatch drove it before, is the reference the last tests hold
it to, on speech and on seeded signals that sit on the threshold's edge.
"""

from __future__ import annotations

import array
import random
from fractions import Fraction

import pytest

from rtbatch.audio.silence import SILENCE_MIN_MS, Silence, SilenceDetector, noise_threshold
from tests.audio.samples import PHRASES, speech

pytest.importorskip("av")

RATE = 24_000


def detect(pcm: bytes, block_samples: int) -> list[Silence]:
    """Push ``pcm`` in blocks; the silences that ended, then any still going on."""
    detector = SilenceDetector(RATE)
    found: list[Silence] = []
    for offset in range(0, len(pcm), 2 * block_samples):
        found = [s for s in found if not s.ongoing]  # an ongoing one is reported again
        found += detector.push(pcm[offset : offset + 2 * block_samples])
    assert detector.position == len(pcm) // 2
    return found


@pytest.mark.parametrize("block_samples", [48_000, 12_000, 1_001, 101])
def test_pauses_of_half_a_second_or_more_are_found_to_the_sample(block_samples: int) -> None:
    """Every pause >= 500 ms is found exactly; shorter ones are not, however blocks fall."""
    voice = speech(RATE)
    long_pauses = [(a, b) for (a, b) in voice.pauses if (b - a) * 1000 >= SILENCE_MIN_MS * RATE]
    assert len(long_pauses) < len(PHRASES)  # some pauses are too short to count
    found = detect(voice.pcm, block_samples)
    assert [(s.start, s.end) for s in found] == long_pauses
    # The pattern ends in a pause, still going on when the samples run out.
    assert [s.ongoing for s in found] == [False] * (len(found) - 1) + [True]


def test_positions_stay_exact_half_an_hour_into_the_stream() -> None:
    """Positions are whole sample counts, so the 100th pause is as exact as the first."""
    voice = speech(RATE, repeats=45)  # 31 minutes
    found = detect(voice.pcm, 48_000)
    long_pauses = [(a, b) for (a, b) in voice.pauses if b - a >= RATE // 2]
    assert [(s.start, s.end) for s in found] == long_pauses
    assert found[-1].end > 30 * 60 * RATE


def test_a_silence_still_going_on_is_reported_growing_until_it_ends() -> None:
    """Once confirmed, each push reports it again, up to the detector's position."""
    buzz = speech(RATE).pcm[: 2 * RATE]  # the first phrase is 4 s of buzz
    detector = SilenceDetector(RATE)
    assert detector.push(buzz) == []
    quiet = bytes(2 * RATE // 4)
    assert detector.push(quiet) == []  # 250 ms: not yet a silence
    assert detector.push(quiet) == [Silence(RATE, RATE + RATE // 2, True)]
    assert detector.push(quiet) == [Silence(RATE, RATE + 3 * RATE // 4, True)]
    assert detector.push(buzz[:4_800]) == [Silence(RATE, RATE + 3 * RATE // 4, False)]
    assert detector.push(buzz) == []


def test_bad_settings_are_refused() -> None:
    """The threshold must be below 0 dBFS and the minimum length positive."""
    with pytest.raises(ValueError, match="noise_db"):
        SilenceDetector(RATE, noise_db=0)
    with pytest.raises(ValueError, match="min_silence_ms"):
        SilenceDetector(RATE, min_silence_ms=0)


# --- against FFmpeg's filter ---------------------------------------------------------

Found = list[tuple[int, int, bool]]


def filter_silences(
    pcm: bytes, rate: int, blocks: list[int], noise_db: float, min_ms: int
) -> list[Found]:
    """Per block of ``blocks`` samples, what FFmpeg's silencedetect reports (the old path).

    Frames no longer than the shortest silence, each at timestamp 0 so that the
    printed times (six digits) are frame-relative and exact to the sample.
    """
    import av
    from av.filter import Graph

    graph = Graph()
    source = graph.add(
        "abuffer",
        sample_rate=str(rate),
        sample_fmt="s16",
        channel_layout="mono",
        time_base=f"1/{rate}",
    )
    detect = graph.add("silencedetect", noise=f"{noise_db}dB", d=f"{min_ms / 1000}")
    sink = graph.add("abuffersink")
    graph.link_nodes(source, detect, sink)
    graph.configure()
    step = 2 * max(1, rate * min_ms // 1000)
    position, ongoing, read = 0, None, 0
    out: list[Found] = []
    for n in blocks:
        block, read = pcm[2 * read : 2 * (read + n)], read + n
        found: Found = []
        for offset in range(0, len(block), step):
            piece = block[offset : offset + step]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(piece) // 2)
            frame.planes[0].update(piece)
            frame.sample_rate = rate
            frame.time_base = Fraction(1, rate)
            frame.pts = 0
            graph.push(frame)
            tags = graph.pull().metadata
            origin, position = position, position + len(piece) // 2
            start_tag, end_tag = tags.get("lavfi.silence_start"), tags.get("lavfi.silence_end")
            start = None if start_tag is None else origin + round(float(start_tag) * rate)
            if end_tag is not None:
                end = origin + round(float(end_tag) * rate)
                began = start if start is not None and start < end else ongoing
                if began is not None:
                    found.append((began, end, False))
                ongoing = start if start is not None and start > end else None
            elif start is not None:
                ongoing = start
        if ongoing is not None:
            found.append((ongoing, position, True))
        out.append(found)
    return out


def detector_silences(
    pcm: bytes, rate: int, blocks: list[int], noise_db: float, min_ms: int
) -> list[Found]:
    """The same, from :class:`SilenceDetector`."""
    detector = SilenceDetector(rate, noise_db=noise_db, min_silence_ms=min_ms)
    out: list[Found] = []
    read = 0
    for n in blocks:
        found = detector.push(pcm[2 * read : 2 * (read + n)])
        out.append([(s.start, s.end, s.ongoing) for s in found])
        read += n
    return out


@pytest.mark.parametrize("rate", [24_000, 8_000])
@pytest.mark.parametrize("block_samples", [48_000, 16_000, 4_001, 97])
def test_speech_gives_what_ffmpeg_s_filter_gives(rate: int, block_samples: int) -> None:
    """Every push reports what silencedetect reported for the same samples."""
    pcm = speech(rate, repeats=2).pcm
    total = len(pcm) // 2
    blocks = [block_samples] * (total // block_samples) + [total % block_samples]
    expected = filter_silences(pcm, rate, blocks, -35.0, SILENCE_MIN_MS)
    assert detector_silences(pcm, rate, blocks, -35.0, SILENCE_MIN_MS) == expected
    assert sum(len(f) for f in expected) > 10


def edgy_signal(rng: random.Random, threshold: int, shortest: int) -> bytes:
    """Runs just under and at the threshold, of lengths around the shortest silence."""
    quiet = [0, threshold - 1, 1 - threshold] if threshold > 0 else [0]
    loud = [threshold, -threshold, 32_767, -32_768]
    lengths = [1, 2, shortest - 1, shortest, shortest + 1, 2 * shortest + 3]
    samples = array.array("h")
    for _ in range(24):
        length = max(1, rng.choice(lengths))
        kind = rng.random()
        if kind < 0.5:
            samples.extend(rng.choice(quiet) for _ in range(length))
        elif kind < 0.6:
            samples.extend(rng.choice(loud) for _ in range(length))
        else:
            samples.extend(rng.randint(-32_768, 32_767) for _ in range(length))
    return samples.tobytes()


@pytest.mark.parametrize("seed", range(12))
def test_signals_on_the_threshold_give_what_ffmpeg_s_filter_gives(seed: int) -> None:
    """Seeded signals at the threshold's edge, silences one sample short of or over the
    minimum, in blocks of every size: the same silences as the filter, to the sample."""
    rng = random.Random(seed)
    rate = rng.choice([8_000, 24_000, 44_100])
    min_ms = rng.choice([1, 7, 100, 333, 500])
    noise_db = rng.choice([-35.0, -60.0, -6.0, -12.345, -95.0])
    shortest = max(1, (min_ms * rate + 500) // 1000)
    pcm = edgy_signal(rng, noise_threshold(noise_db), shortest)
    left, blocks = len(pcm) // 2, [0]
    while left > 0:
        n = min(left, rng.choice([1, 7, shortest, 4 * shortest, rng.randint(1, 5 * shortest)]))
        blocks.append(n)
        left -= n
    expected = filter_silences(pcm, rate, blocks, noise_db, min_ms)
    assert detector_silences(pcm, rate, blocks, noise_db, min_ms) == expected


@pytest.mark.parametrize(
    ("rate", "min_ms"),
    [
        pytest.param(8_000, 1, id="8-samples"),
        pytest.param(44_100, 7, id="308.7-samples-rounded-up"),
        pytest.param(24_000, 1, id="24-samples"),
    ],
)
def test_a_silence_of_exactly_the_minimum_is_found_wherever_the_windows_fall(
    rate: int, min_ms: int
) -> None:
    """Loud, then exactly the shortest silence (or one sample less), then loud, at every
    offset against the detector's windows: what the filter finds, and it finds one."""
    shortest = (min_ms * rate + 500) // 1000
    loud, quiet = array.array("h", [20_000]), array.array("h", [0])
    for length, silences in ((shortest, 1), (shortest - 1, 0)):
        for offset in range(shortest + 2):
            pcm = (loud * (shortest + offset) + quiet * length + loud * shortest).tobytes()
            blocks = [len(pcm) // 2]
            expected = filter_silences(pcm, rate, blocks, -35.0, min_ms)
            assert sum(len(f) for f in expected) == silences, (length, offset)
            assert detector_silences(pcm, rate, blocks, -35.0, min_ms) == expected, (length, offset)


def test_the_threshold_is_ffmpeg_s() -> None:
    """-35 dBFS is 582: 581 and -581 are silent, 582, -582 and -32,768 are not."""
    assert noise_threshold(-35.0) == 582
    shortest = RATE // 2
    for value, silent in [(581, True), (-581, True), (582, False), (-582, False), (-32_768, False)]:
        pcm = array.array("h", [value] * shortest).tobytes()
        blocks = [shortest]
        expected = [[(0, shortest, True)]] if silent else [[]]
        assert filter_silences(pcm, RATE, blocks, -35.0, SILENCE_MIN_MS) == expected
        assert detector_silences(pcm, RATE, blocks, -35.0, SILENCE_MIN_MS) == expected
