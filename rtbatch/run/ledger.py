"""The attempt ledger: one entry per job in the run, the only owner of its tries' bookkeeping.

An :class:`Attempt` travels with its job through the queues, the worker and the
retry timer, so nothing beside it is keyed by the job or by the entry's identity:
the count of tries and refusals, when the first try started, the wait before the
next try, the cost of the try that succeeded, and a long file's finished segments
or a conversation's finished turns.
Only the run counts a try (:meth:`Attempt.count`, from
:meth:`~rtbatch.run.batch.Run.concluded` and :meth:`~rtbatch.run.batch.Run.failed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtbatch.jobs import Job
from rtbatch.output.checkpoint import contiguous
from rtbatch.output.transcript import SegmentRecord
from rtbatch.output.turns import TurnRecord, contiguous_turns, turn_keys


@dataclass(slots=True)
class Attempt:
    """A job on its way through the run, with everything its tries left behind.

    ``attempts`` counts tries that ran; ``refusals`` counts tries the service
    refused before running them (rate or capacity limits), which are not attempts.
    """

    job: Job
    attempts: int = 0
    refusals: int = 0
    first_at: float | None = None
    #: The backoff chosen for the next try, once a failure was retried.
    next_wait_s: float | None = None
    #: What the try in hand cost, once it succeeded (None: unpriced or failed).
    cost_usd: float | None = None
    #: A long file's segments transcribed so far, by index (kept across tries).
    segments: dict[int, SegmentRecord] = field(default_factory=dict)
    #: A conversation's turns answered so far, by index (kept across tries).
    turns: dict[int, TurnRecord] = field(default_factory=dict)
    #: The try in hand's ordinal among the run's tries (None: none started).
    try_ordinal: int | None = None
    #: The idle deadline's factor for the next try (see :mod:`rtbatch.silences`).
    idle_stretch: float = 1.0
    #: Segments or turns the try in hand answered (each a request of its own).
    parts_answered: int = 0

    def start(self, now: float, ordinal: int | None = None) -> None:
        """A try starts running (past pacing): the first one starts the clock.

        ``ordinal`` is the try's place among the run's (:class:`~rtbatch.run.health.RecentTries`).
        """
        if self.first_at is None:
            self.first_at = now
        self.cost_usd = None
        self.try_ordinal = ordinal
        self.parts_answered = 0

    def count(self, *, refused: bool) -> int | None:
        """Count one try that ended: an attempt, or a refusal that never ran; its ordinal."""
        ordinal, self.try_ordinal = self.try_ordinal, None
        if refused:
            self.refusals += 1
        else:
            self.attempts += 1
        return ordinal

    def stalled(self, *, isolated: bool) -> None:
        """A try was given up for silence: unless that is isolated, wait twice as long next."""
        if not isolated:
            self.idle_stretch *= 2.0

    def elapsed_s(self, now: float) -> float:
        """Time since the first try started (0 before any try ran)."""
        return 0.0 if self.first_at is None else now - self.first_at

    def start_over(self) -> None:
        """Forget the finished segments and turns: the next try starts at the beginning."""
        self.segments.clear()
        self.turns.clear()

    def done_segments(self) -> list[SegmentRecord]:
        """The contiguous run of finished segments from the file's start."""
        return contiguous(self.segments)

    def finished_segments(self) -> list[SegmentRecord]:
        """Every finished segment, in order: a retry sends none of them again."""
        return [self.segments[i] for i in sorted(self.segments)]

    def done_turns(self) -> list[TurnRecord]:
        """The run of finished turns from the first that still answer the job's turns."""
        return contiguous_turns(self.turns, turn_keys(self.job))
