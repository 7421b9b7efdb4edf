"""How long a server may stay silent before an attempt is stalled: learned from the run.

A fixed idle deadline must allow for the slowest answer any model might give, so a
stalled request costs that whole allowance, many times a typical answer. The run
knows better after a few answers: each successful attempt reports the longest
silence it kept between two server events (a transcript's allowance for its audio
taken out), and the deadline becomes :data:`~rtbatch.defaults.IDLE_SILENCE_FACTOR`
times the longest of the recent ones, within ``[IDLE_FLOOR_S, cap]``. One object per
run, shared by every session, so a session opened after a stall starts with what
the run has learned.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rtbatch.defaults import IDLE_FLOOR_S, IDLE_LEARN_AFTER, IDLE_LEARN_WINDOW, IDLE_SILENCE_FACTOR


class Silences:
    """The idle deadline a run has earned.

    Args:
        cap_s: the most silence ever allowed (``--idle-timeout``).
        learn: follow the answers (False: always ``cap_s``, as when the user set it).
    """

    __slots__ = ("_cap", "_learn", "_peaks", "_seen", "_waiting")

    def __init__(self, cap_s: float, *, learn: bool = True) -> None:
        self._cap = cap_s
        self._learn = learn
        # The window's maximum, kept as the classic monotonic queue: (answer number,
        # silence) pairs in falling order of silence, each answer of the last
        # IDLE_LEARN_WINDOW that no later one matched or beat. The head is the
        # maximum, in O(1): every wait asks it, and every wait is told when it falls.
        self._peaks: deque[tuple[int, float]] = deque()
        self._seen = 0
        # Waits under way, told when the deadline shortens: a wait that began under
        # the cap (before the run had answers) is held to what the run learns since.
        self._waiting: set[Callable[[], None]] = set()

    def watch(self, shortened: Callable[[], None]) -> Callable[[], None]:
        """Call ``shortened`` whenever the deadline shortens; returns the unwatch call."""
        self._waiting.add(shortened)
        return lambda: self._waiting.discard(shortened)

    def deadline_s(self, allowance_s: float = 0.0) -> float:
        """Seconds of silence after which an attempt is stalled, now.

        Args:
            allowance_s: what this wait may take beyond an answer's silence (a
                transcript's time for its audio); silences are learned without it.
        """
        if not self._learn or self._seen < IDLE_LEARN_AFTER:
            return self._cap + allowance_s
        longest = self._peaks[0][1] if self._peaks else 0.0
        learned = min(self._cap, IDLE_SILENCE_FACTOR * max(0.0, longest))
        return max(IDLE_FLOOR_S, learned + allowance_s)

    def answered(self, longest_silence_s: float) -> None:
        """An answer (a response, a tool round, a transcript) kept at most this silence."""
        before = self.deadline_s()
        self._seen += 1
        peaks = self._peaks
        while peaks and peaks[-1][1] <= longest_silence_s:
            peaks.pop()
        peaks.append((self._seen, longest_silence_s))
        if peaks[0][0] <= self._seen - IDLE_LEARN_WINDOW:
            peaks.popleft()
        if self.deadline_s() < before:
            for shortened in list(self._waiting):
                shortened()
