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

    __slots__ = ("_cap", "_learn", "_recent", "_seen", "_waiting")

    def __init__(self, cap_s: float, *, learn: bool = True) -> None:
        self._cap = cap_s
        self._learn = learn
        self._recent: deque[float] = deque(maxlen=IDLE_LEARN_WINDOW)
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
        longest = max(self._recent, default=0.0)  # at most IDLE_LEARN_WINDOW of them
        learned = min(self._cap, IDLE_SILENCE_FACTOR * max(0.0, longest))
        return max(IDLE_FLOOR_S, learned + allowance_s)

    def answered(self, longest_silence_s: float) -> None:
        """An answer (a response, a tool round, a transcript) kept at most this silence."""
        before = self.deadline_s()
        self._seen += 1
        self._recent.append(longest_silence_s)
        if self.deadline_s() < before:
            for shortened in list(self._waiting):
                shortened()
