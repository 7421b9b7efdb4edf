"""One worker: a plain loop over the sessions it holds, one job at a time.

::

    take a job (its session's kind first) ──► its kind's session held? ── no ──► open one
        ▲                                        │ yes                           │ failed: the try
        │                                        ▼                               │ is concluded;
        └── conclude (the run counts it) ◄── try it: budget, pacing slot, job    │ back off
                │                                                                ▼
                └── a broken connection closes its session; the next job reopens one

The worker never decides a job's fate: the run does
(:meth:`~rtbatch.run.batch.Run.concluded`, :meth:`~rtbatch.run.batch.Run.failed`).
It raises nothing of its own: an rtbatch error of a try is concluded, and anything
else (a bug of ours, cancellation) rises to :meth:`~rtbatch.run.batch.Run.run`,
the one place that makes it an :class:`~rtbatch.errors.InternalError`.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from functools import partial
from types import TracebackType
from typing import Literal, Protocol

import trio

from rtbatch import errors
from rtbatch.budget import Budget
from rtbatch.config import RunConfig
from rtbatch.cost import reply_cost
from rtbatch.estimate import Estimator
from rtbatch.output.audio_sink import AudioSink, wants_audio, wav_name
from rtbatch.output.checkpoint import Checkpoint
from rtbatch.output.outcome import Outcome
from rtbatch.output.transcript import SegmentRecord
from rtbatch.output.turns import TurnRecord
from rtbatch.output.writing import writing
from rtbatch.pacing import Pacer, Ticket
from rtbatch.protocol import SessionKind
from rtbatch.retry import backoff_s
from rtbatch.run.health import RecentTries
from rtbatch.run.ledger import Attempt
from rtbatch.run.lines import expected_cost, model_of, write_transcripts
from rtbatch.run.queues import WorkQueues, session_kind
from rtbatch.run.stop import StopState
from rtbatch.session import JobReply, Session, open_session
from rtbatch.silences import Silences
from rtbatch.transport import ConnectFn

TryState = Literal["ok", "broken", "carry"]
Outcomes = trio.MemorySendChannel[Outcome]

# Failures after which a connection cannot be trusted for the next job.
_BREAKS_SESSION = (
    errors.ConnectionLost,
    errors.SessionExpired,
    errors.ResponseTimeout,
    errors.ProtocolError,
)


class Crew(Protocol):
    """What a worker shares with the run it works for (:class:`rtbatch.run.batch.Run`)."""

    @property
    def config(self) -> RunConfig: ...
    @property
    def connect(self) -> ConnectFn: ...
    @property
    def ssl_context(self) -> ssl.SSLContext | None: ...
    @property
    def checkpoint(self) -> Checkpoint | None: ...
    @property
    def budget(self) -> Budget | None: ...
    @property
    def estimator(self) -> Estimator | None: ...
    @property
    def pacer(self) -> Pacer: ...
    @property
    def silences(self) -> Mapping[SessionKind, Silences]: ...
    @property
    def recent(self) -> RecentTries: ...
    @property
    def queues(self) -> WorkQueues: ...
    @property
    def stop(self) -> StopState: ...
    @property
    def rng(self) -> random.Random: ...

    #: Sessions opened so far, by every worker.
    connections: int
    #: Session opens that failed in a row, by any worker (the backoff's count).
    open_failures: int

    async def concluded(
        self, attempt: Attempt, reply: JobReply, started: float, out: Outcomes
    ) -> None: ...

    async def failed(
        self, attempt: Attempt, failure: errors.RtbatchError, out: Outcomes, ticket: Ticket | None
    ) -> None: ...

    def over_budget(self) -> None: ...


class Held:
    """The sessions one worker keeps open, at most one per kind, closed last-opened first.

    A worker that meets both kinds of job keeps a session of each rather than
    closing one to open the other: against the service every new session is a
    TLS handshake, an upgrade and a session set-up, and an idle one costs nothing.
    So a fault-free run opens at most two connections per worker. A session holds
    a nursery, and trio's cancel scopes must close in the reverse order they
    opened: closing one session closes every session opened after it.
    """

    def __init__(self) -> None:
        self._open: list[tuple[SessionKind, Session, AbstractAsyncContextManager[Session]]] = []

    def get(self, kind: SessionKind) -> Session | None:
        """The open session of ``kind``, if any."""
        return next((s for k, s, _ in self._open if k == kind), None)

    async def open(self, kind: SessionKind, opening: AbstractAsyncContextManager[Session]) -> None:
        """Enter ``opening`` and hold its session as ``kind``'s."""
        session = await opening.__aenter__()
        self._open.append((kind, session, opening))

    async def close(self, kind: SessionKind) -> None:
        """Close ``kind``'s session and every session opened after it."""
        while self._open:
            closed, _, opening = self._open.pop()
            await opening.__aexit__(None, None, None)
            if closed == kind:
                return

    async def __aenter__(self) -> Held:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Each session sees the exception that ends the worker, as a nested
        # ``async with`` would; one raised while closing replaces it for the rest.
        raised: BaseException | None = None
        while self._open:
            _, _, opening = self._open.pop()
            try:
                await opening.__aexit__(exc_type, exc, tb)
            except BaseException as new:
                if new is not exc:
                    raised = exc = new
                    exc_type, tb = type(new), new.__traceback__
        if raised is not None:
            raise raised


async def work(crew: Crew, out: trio.MemorySendChannel[Outcome]) -> None:
    """One worker's loop: take a job, find or open its session, try it, until none is left.

    A job of the kind last served is taken first, so a mixed file does not churn
    connections. A job still in hand when the run stops runs next time.
    """
    async with out, Held() as held:
        carry: Attempt | None = None
        prefer: SessionKind | None = None
        while not crew.stop.stopping:
            attempt = carry or await crew.queues.take(prefer=prefer)
            if attempt is None:
                return
            carry = None
            kind = prefer = session_kind(attempt.job)
            session = held.get(kind)
            if session is None:
                if not await _open(crew, held, kind, attempt, out):
                    continue
                session = held.get(kind)
                assert session is not None
            state = await _try(crew, session, attempt, out)
            if state != "ok":
                await held.close(kind)
                carry = attempt if state == "carry" else None


async def _open(
    crew: Crew,
    held: Held,
    kind: SessionKind,
    attempt: Attempt,
    out: trio.MemorySendChannel[Outcome],
) -> bool:
    """Open a session of ``kind``; False (the job's try concluded, backed off) if it failed."""
    crew.connections += 1
    opening = open_session(
        crew.config,
        kind,
        connect=crew.connect,
        ssl_context=crew.ssl_context,
        on_rate_limits=crew.pacer.on_rate_limits,
        silences=crew.silences[kind],
    )
    try:
        await held.open(kind, opening)
    except errors.RtbatchError as exc:
        # Opening or configuring the session failed: the job in hand is charged,
        # and this worker backs off before dialing again.
        await crew.failed(attempt, exc, out, None)
        crew.open_failures += 1
        config = crew.config.retry
        await crew.stop.sleep(backoff_s(config, crew.open_failures, crew.rng, exc.retry_after_s))
        return False
    crew.open_failures = 0
    return True


async def _try(
    crew: Crew, session: Session, attempt: Attempt, out: trio.MemorySendChannel[Outcome]
) -> TryState:
    """Run one try of a job on ``session``; say whether the session is still usable."""
    if trio.current_time() >= session.recycle_at:
        return "carry"  # the session is near the end of its useful life
    budget = crew.budget
    estimate = 0.0
    if budget is not None:
        done_turns = len(attempt.done_turns())
        estimate = await expected_cost(crew.estimator, attempt.job, done_turns)
        if not budget.admit(estimate):
            crew.over_budget()
            return "broken"  # not started: the job runs next time
        budget.start(estimate)
    try:
        return await _try_started(crew, session, attempt, out)
    finally:
        if budget is not None:
            budget.finish(estimate, attempt.cost_usd)


async def _try_started(
    crew: Crew, session: Session, attempt: Attempt, out: trio.MemorySendChannel[Outcome]
) -> TryState:
    async with crew.pacer.slot() as ticket:
        if crew.stop.stopping:
            return "broken"  # stopped while waiting: the job runs next time
        if trio.current_time() >= session.recycle_at:
            return "carry"  # waited past the session's useful life
        started = trio.current_time()
        attempt.start(started, crew.recent.started())
        try:
            reply = await _dispatch(crew, session, attempt)
        except errors.RtbatchError as exc:
            failure = exc
        else:
            crew.pacer.on_done(reply.total_tokens, ticket)
            attempt.cost_usd = reply_cost(
                model_of(crew.config, attempt.job), reply.usage, reply.output
            )
            await crew.concluded(attempt, reply, started, out)
            return "ok"
    await crew.failed(attempt, failure, out, ticket)
    if isinstance(failure, (*_BREAKS_SESSION, errors.RunFatalError)):
        return "broken"
    return "ok"


async def _dispatch(crew: Crew, session: Session, attempt: Attempt) -> JobReply:
    job, config = attempt.job, crew.config
    if job.kind == "transcribe":
        reply = await session.run_job(
            job,
            idle_stretch=attempt.idle_stretch,
            on_answer=partial(_answered, crew.recent, attempt),
            done=attempt.finished_segments(),
            on_segment=partial(_segment_done, crew.checkpoint, attempt),
        )
        await write_transcripts(config, job, reply.output, reply.usage)
        return reply
    run = partial(
        session.run_job,
        job,
        idle_stretch=attempt.idle_stretch,
        on_answer=partial(_answered, crew.recent, attempt),
    )
    if job.kind == "conversation":
        on_turn = partial(_turn_done, crew.checkpoint, attempt)
        run = partial(run, done_turns=attempt.done_turns(), on_turn=on_turn)
    if config.audio_out is None or not wants_audio(job):
        return await run()
    # Every kind alike: a spoken answer that was paid for is kept (a conversation's
    # turns answered in this try, one after the other).
    with AudioSink(config.audio_out / wav_name(job.id)) as sink:
        reply = await run(audio_out=sink)
        return replace(reply, output={**reply.output, "audio_path": sink.commit()})


def _answered(recent: RecentTries, attempt: Attempt) -> None:
    """One of the try's requests answered (:mod:`rtbatch.run.health` counts each)."""
    recent.part_answered()
    attempt.parts_answered += 1


def _turn_done(checkpoint: Checkpoint | None, attempt: Attempt, turn: TurnRecord) -> None:
    attempt.turns[turn.index] = turn
    if checkpoint is not None:
        with writing("the checkpoint"):
            checkpoint.record_turn(attempt.job.id, turn)


def _segment_done(checkpoint: Checkpoint | None, attempt: Attempt, segment: SegmentRecord) -> None:
    attempt.segments[segment.index] = segment
    if checkpoint is not None:
        with writing("the segment checkpoint"):
            checkpoint.record(attempt.job.id, segment)
