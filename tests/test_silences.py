"""silences.py: the idle deadline follows the run's answers, within its floor and cap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rtbatch.defaults import (
    IDLE_FLOOR_S,
    IDLE_LEARN_AFTER,
    IDLE_LEARN_WINDOW,
    IDLE_SILENCE_FACTOR,
    IDLE_TIMEOUT_S,
)
from rtbatch.silences import Silences


def test_the_cap_until_enough_answers_came() -> None:
    silences = Silences(IDLE_TIMEOUT_S)
    for _ in range(IDLE_LEARN_AFTER - 1):
        silences.answered(1.0)
        assert silences.deadline_s() == IDLE_TIMEOUT_S
    silences.answered(1.5)
    assert silences.deadline_s() == IDLE_SILENCE_FACTOR * 1.5


def test_the_longest_recent_silence_counts_within_floor_and_cap() -> None:
    silences = Silences(IDLE_TIMEOUT_S)
    for gap in (0.1, 0.05, 0.2, 0.1, 0.05):
        silences.answered(gap)
    assert silences.deadline_s() == IDLE_FLOOR_S  # 0.4 s would be below the floor
    silences.answered(2.5)
    assert silences.deadline_s() == IDLE_SILENCE_FACTOR * 2.5
    silences.answered(9.0)
    assert silences.deadline_s() == IDLE_TIMEOUT_S  # capped


def test_a_long_silence_is_forgotten_once_it_leaves_the_window() -> None:
    silences = Silences(IDLE_TIMEOUT_S)
    silences.answered(4.0)
    for _ in range(IDLE_LEARN_WINDOW - 1):
        silences.answered(1.5)
    assert silences.deadline_s() == IDLE_SILENCE_FACTOR * 4.0
    silences.answered(1.5)
    assert silences.deadline_s() == IDLE_SILENCE_FACTOR * 1.5


def test_a_deadline_the_user_set_is_kept() -> None:
    silences = Silences(30.0, learn=False)
    for _ in range(50):
        silences.answered(0.5)
    assert silences.deadline_s() == 30.0
    assert silences.deadline_s(stretch=8.0) == 30.0  # the user's word, stall or not


def test_a_stretched_deadline_doubles_what_was_learned_up_to_the_cap() -> None:
    """A job whose tries stalled in a streak waits 2x, 4x... the learned deadline, then the cap."""
    silences = Silences(IDLE_TIMEOUT_S)
    assert silences.deadline_s(stretch=4.0) == IDLE_TIMEOUT_S  # nothing learned: the cap
    for _ in range(IDLE_LEARN_AFTER):
        silences.answered(1.0)
    learned = IDLE_SILENCE_FACTOR * 1.0
    assert [silences.deadline_s(stretch=2.0**k) for k in range(4)] == [
        min(IDLE_TIMEOUT_S, learned * 2**k) for k in range(4)
    ]
    assert silences.deadline_s(0.5, stretch=2.0) == 2 * learned + 0.5  # the allowance is not
    fast = Silences(IDLE_TIMEOUT_S)
    for _ in range(IDLE_LEARN_AFTER):
        fast.answered(0.01)
    assert fast.deadline_s(stretch=4.0) == 4 * IDLE_FLOOR_S  # the floor stretches too


def test_waits_are_told_when_the_deadline_shortens() -> None:
    """A wait begun under the cap hears of every shortening, and of nothing else."""
    silences = Silences(IDLE_TIMEOUT_S)
    told: list[float] = []
    unwatch = silences.watch(lambda: told.append(silences.deadline_s()))
    for _ in range(IDLE_LEARN_AFTER):
        silences.answered(2.0)
    silences.answered(1.0)  # not the longest: no change
    silences.answered(3.0)  # longer: the deadline grows, nobody is told
    unwatch()
    assert told == [IDLE_SILENCE_FACTOR * 2.0]


def test_a_transcript_s_allowance_is_added_to_what_was_learned() -> None:
    """Silences are learned net of the allowance; the floor holds for the whole wait."""
    silences = Silences(IDLE_TIMEOUT_S)
    assert silences.deadline_s(2.0) == IDLE_TIMEOUT_S + 2.0  # nothing learned yet
    for _ in range(IDLE_LEARN_AFTER):
        silences.answered(-0.5)  # transcripts that came sooner than their allowance
    assert silences.deadline_s(2.0) == 2.0
    assert silences.deadline_s(0.25) == IDLE_FLOOR_S
    silences.answered(1.5)
    assert silences.deadline_s(2.0) == IDLE_SILENCE_FACTOR * 1.5 + 2.0


@given(
    st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=3 * IDLE_LEARN_WINDOW)
)
def test_the_deadline_follows_the_plain_maximum_of_the_window(gaps: list[float]) -> None:
    """The kept maximum is the window's own, after every answer (against max() of a slice)."""
    silences = Silences(IDLE_TIMEOUT_S)
    for seen, gap in enumerate(gaps, start=1):
        silences.answered(gap)
        if seen < IDLE_LEARN_AFTER:
            continue
        longest = max(gaps[max(0, seen - IDLE_LEARN_WINDOW) : seen])
        expected = max(IDLE_FLOOR_S, min(IDLE_TIMEOUT_S, IDLE_SILENCE_FACTOR * longest))
        assert silences.deadline_s() == expected


def test_a_stream_s_silences_are_learned_apart_from_the_wait_before_it() -> None:
    """A 1-s wait for the first delta, then 50 ms between deltas: 2 s, then 0.5 s."""
    silences = Silences(IDLE_TIMEOUT_S)
    for _ in range(IDLE_LEARN_AFTER):
        silences.answered(1.0, streaming_s=0.05)
    assert silences.deadline_s() == IDLE_SILENCE_FACTOR * 1.0
    assert silences.deadline_s(streaming=True) == IDLE_FLOOR_S  # 0.1 s is below it
    silences.answered(1.0, streaming_s=0.8)
    assert silences.deadline_s(streaming=True) == IDLE_SILENCE_FACTOR * 0.8


def test_a_transcript_s_fixed_wait_is_covered_however_little_audio_it_has() -> None:
    """20-s segments transcribed 1 s after their commit: net of their 2 s allowance
    they teach nothing, and a 1-s tail segment (0.1 s allowance) would stall at the
    floor on every try. Twice the longest whole wait covers it."""
    silences = Silences(IDLE_TIMEOUT_S)
    for _ in range(IDLE_LEARN_AFTER):
        silences.answered(1.0 - 2.0, streaming_s=0.0, raw_s=1.0)
    assert silences.deadline_s(0.1) == IDLE_SILENCE_FACTOR * 1.0  # the tail's wait
    assert silences.deadline_s(2.0) == IDLE_SILENCE_FACTOR * 1.0  # a whole segment's
    assert silences.deadline_s(5.0) == 5.0  # its allowance, past what was learned
