"""How long a server may stay silent before an attempt is stalled: learned from the run.

A fixed idle deadline must allow for the slowest answer any model might give, so a
stalled request costs that whole allowance, many times a typical answer. The run
knows better after a few answers: each successful attempt reports the longest
silence it kept between two server events (a transcript's allowance for its audio
taken out), and the deadline becomes :data:`~rtbatch.defaults.IDLE_SILENCE_FACTOR`
times the longest of the recent ones, within ``[IDLE_FLOOR_S, cap]``. One object per
run, shared by every session, so a session opened after a stall starts with what
the run has learned.

What was learned can be wrong: answers that slow down all at once (a busy hour)
pass the deadline, so no answer can teach it the new silences, and every try would
stall until the job fails. A stall is the only evidence, so it is counted: while
most of the run's recent tries did not stall (:mod:`rtbatch.run.health`), a stalled
job's retry waits as long again, as a random stall's retry should; past that, each
stall doubles that job's deadline for its next try (``stretch``), up to the cap, and
the answers that then come teach the run the longer silences. TCP's retransmission
timer backs off the same way, for the same reason: a timeout says nothing of how
long the answer would have taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rtbatch.defaults import IDLE_FLOOR_S, IDLE_LEARN_AFTER, IDLE_LEARN_WINDOW, IDLE_SILENCE_FACTOR


class _WindowMax:
    """The largest of the last IDLE_LEARN_WINDOW values, in O(1).

    The classic monotonic queue: (answer number, value) pairs in falling order of
    value, each of the window's answers that no later one matched or beat. The head
    is the maximum: every wait asks it, and every wait is told when it falls.
    """

    __slots__ = ("_peaks",)

    def __init__(self) -> None:
        self._peaks: deque[tuple[int, float]] = deque()

    @property
    def value(self) -> float:
        return self._peaks[0][1] if self._peaks else 0.0

    def add(self, seen: int, value: float) -> None:
        peaks = self._peaks
        while peaks and peaks[-1][1] <= value:
            peaks.pop()
        peaks.append((seen, value))
        if peaks[0][0] <= seen - IDLE_LEARN_WINDOW:
            peaks.popleft()


class Silences:
    """The idle deadline a run has earned, for one kind of session.

    Two deadlines are learned: one for a wait before an answer's stream began (the
    model's time to its first output: the longest silence of any kind), and one for a
    silence once output streams (between deltas, far shorter): a stream that stopped
    midway is given up on sooner than an answer not yet begun.

    Args:
        cap_s: the most silence ever allowed (``--idle-timeout``).
        learn: follow the answers (False: always ``cap_s``, as when the user set it).
    """

    __slots__ = ("_cap", "_learn", "_longest", "_raw", "_seen", "_streaming", "_waiting")

    def __init__(self, cap_s: float, *, learn: bool = True) -> None:
        self._cap = cap_s
        self._learn = learn
        self._longest = _WindowMax()  # any silence of an answer, net of its allowance
        self._raw = _WindowMax()  # any silence of an answer, allowance and all
        self._streaming = _WindowMax()  # a silence after its stream began
        self._seen = 0
        # Waits under way, told when the deadline shortens: a wait that began under
        # the cap (before the run had answers) is held to what the run learns since.
        self._waiting: set[Callable[[], None]] = set()

    def watch(self, shortened: Callable[[], None]) -> Callable[[], None]:
        """Call ``shortened`` whenever the deadline shortens; returns the unwatch call."""
        self._waiting.add(shortened)
        return lambda: self._waiting.discard(shortened)

    def deadline_s(
        self, allowance_s: float = 0.0, stretch: float = 1.0, *, streaming: bool = False
    ) -> float:
        """Seconds of silence after which an attempt is stalled, now.

        Args:
            allowance_s: what this wait may take beyond an answer's silence (a
                transcript's time for its audio); silences are learned without it.
            stretch: the learned deadline times this, within the cap: a job whose
                tries stalled while most of the run's did (see
                :meth:`rtbatch.run.ledger.Attempt.stalled`).
            streaming: the answer awaited has begun to stream its output.
        """
        if not self._learn or self._seen < IDLE_LEARN_AFTER:
            return self._cap + allowance_s
        floor = min(self._cap, IDLE_FLOOR_S * stretch)
        if streaming:
            return max(floor, self._learned(self._streaming, stretch) + allowance_s)
        # A transcript's wait has a part its audio does not explain (the service's
        # own start): twice the longest wait seen whole, whatever its audio, covers
        # it when the learned silences net of their allowance say nothing of it.
        net = self._learned(self._longest, stretch) + allowance_s
        return max(floor, net, self._learned(self._raw, stretch))

    def _learned(self, window: _WindowMax, stretch: float) -> float:
        return min(self._cap, IDLE_SILENCE_FACTOR * max(0.0, window.value) * stretch)

    def answered(
        self, longest_s: float, streaming_s: float | None = None, raw_s: float | None = None
    ) -> None:
        """An answer (a response, a tool round, a transcript) kept at most these silences.

        Args:
            longest_s: its longest silence, net of any allowance.
            streaming_s: its longest once its output streamed (None: ``longest_s``).
            raw_s: its longest with the allowance left in (None: ``longest_s``).
        """
        before = self.deadline_s(), self.deadline_s(streaming=True)
        self._seen += 1
        self._longest.add(self._seen, longest_s)
        self._raw.add(self._seen, longest_s if raw_s is None else raw_s)
        self._streaming.add(self._seen, longest_s if streaming_s is None else streaming_s)
        if self.deadline_s() < before[0] or self.deadline_s(streaming=True) < before[1]:
            for shortened in list(self._waiting):
                shortened()
