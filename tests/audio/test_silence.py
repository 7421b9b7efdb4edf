"""Tests for rtbatch.audio.silence: FFmpeg's silencedetect, exact to the sample."""

from __future__ import annotations

import pytest

from rtbatch.audio.silence import SILENCE_MIN_MS, Silence, SilenceDetector
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
    """Times are frame-relative, so the 100th pause is as exact as the first."""
    voice = speech(RATE, repeats=45)  # 31 minutes: absolute times would be 10 ms coarse
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
