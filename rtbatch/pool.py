"""The run: one nursery of workers over a queue per session kind, retries, shutdown.

Shape of a run (all tasks are children of :meth:`Run.run`)::

    feeder ──► work queues (realtime | transcription, one bound) ──► worker × N ──► writer
       ▲                                                               │
       └──────────── retry timers ◄────────────────────────────────────┘ (after backoff)

A worker owns one connection and keeps its session's kind: it takes from its own
kind's queue and switches kind (a new connection) only when that queue is empty,
so a mixed file does not churn connections. One job runs at a time on a
connection. A job waiting for its retry sleeps in its own small task, never in a
worker. The run ends when the source is exhausted and no job is pending, or
earlier when it is stopped: a run-fatal error, a limit that resets later than the
run can wait, or a first signal stop intake and let in-flight jobs finish; a
second signal, the grace period or ``--deadline`` cancels them. Jobs that never
finished write nothing and run next time.

Errors are classified where they arise (:mod:`rtbatch.transport`,
:mod:`rtbatch.session`); a failed try's fate is :func:`rtbatch.retry.decide`'s,
and :meth:`Run._conclude` is the one place a try is counted. An exception that is
not an rtbatch error is a bug of ours: it stops the run as
:class:`~rtbatch.errors.InternalError`, never a retry.
"""

from __future__ import annotations

import itertools
import logging
import random
import signal
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal

import trio

from rtbatch import errors
from rtbatch.budget import Budget
from rtbatch.config import RunConfig
from rtbatch.cost import outcome_cost
from rtbatch.estimate import Estimator
from rtbatch.idindex import IdIndex
from rtbatch.jobs import Job, JobProblem
from rtbatch.output.audio_sink import AudioSink, check_writable_dir, wants_audio, wav_name
from rtbatch.output.checkpoint import Checkpoint
from rtbatch.output.outcome import Outcome, invalid_outcome
from rtbatch.output.results import ResultFile
from rtbatch.output.resume import job_key
from rtbatch.output.transcript import SegmentRecord
from rtbatch.pacing import Pacer, Share, Ticket
from rtbatch.progress import Snapshot
from rtbatch.protocol import SessionKind
from rtbatch.queues import Attempt, WorkQueues, session_kind
from rtbatch.report import RunReport
from rtbatch.retry import backoff_s, decide, is_refusal
from rtbatch.session import JobReply, Session, open_session
from rtbatch.settle import (
    expected_cost,
    failed_outcome,
    model_of,
    success_outcome,
    write_transcripts,
)
from rtbatch.summary import Summary
from rtbatch.transport import ConnectFn, check_tls, connect_websocket

log = logging.getLogger("rtbatch.run")

# Small, explicit buffers: the job file is streamed, never queued whole.
QUEUE_BOUND = 64
OUTCOME_BUFFER = 64
FEED_BATCH = 256

TryState = Literal["ok", "broken", "carry"]

# Failures after which a connection cannot be trusted for the next job.
_BREAKS_SESSION = (
    errors.ConnectionLost,
    errors.SessionExpired,
    errors.ResponseTimeout,
    errors.ProtocolError,
)


def _take_batch(source: Iterator[Job | JobProblem], n: int) -> list[Job | JobProblem]:
    return list(itertools.islice(source, n))


@dataclass
class Run:
    """One batch run. Build it, then ``await run.run()`` once."""

    config: RunConfig
    source: Iterator[Job | JobProblem]
    results: ResultFile
    done: IdIndex = field(default_factory=IdIndex)
    total: int | None = None
    #: Every shard's lines in the job file, this shard's first (empty: not sharded).
    shard_work: tuple[int, ...] = ()
    connect: ConnectFn = connect_websocket
    ssl_context: ssl.SSLContext | None = None
    handle_signals: bool = False
    progress: Callable[[Callable[[], Snapshot]], Awaitable[None]] | None = None
    checkpoint: Checkpoint | None = None
    budget: Budget | None = None
    estimator: Estimator | None = None

    def __post_init__(self) -> None:
        self.summary = Summary()
        self.pacer = Pacer(
            self.config.concurrency,
            rpm=self.config.rpm,
            tpm=self.config.tpm,
            share=Share.of_work(self.config.account_share, self.shard_work, len(self.done)),
        )
        self.connections = 0
        self._failures = 0
        self._rng = random.Random(self.config.seed)
        self._pending = 0
        self._feeding_done = False
        self._started = 0.0
        self._stop_event = trio.Event()
        self._written = trio.Event()
        self._fatal: errors.RtbatchError | None = None
        self._later: errors.RtbatchError | None = None
        self._resets_at: float | None = None
        self._interrupted = False
        self._budget_reached = False
        self._last_cost: dict[int, float | None] = {}
        self._queues = WorkQueues(QUEUE_BOUND)
        self._work_scope = trio.CancelScope()

    @property
    def stopping(self) -> bool:
        """True once intake has stopped (fatal error, try-later, signal)."""
        return self._stop_event.is_set()

    def snapshot(self) -> Snapshot:
        """The figures a progress line shows, now."""
        return self.summary.snapshot(
            in_flight=self.pacer.in_flight,
            total=self.total,
            elapsed_s=trio.current_time() - self._started,
        )

    async def run(self) -> RunReport:
        """Run every job of the source; return how the run ended.

        Cancellation of the caller cancels everything; results already handed
        to the writer are still written. An exception of our own (a bug) stops
        the run as :class:`~rtbatch.errors.InternalError` in the report.
        """
        self._started = trio.current_time()
        try:
            await self._run()
        except* errors.RtbatchError as group:
            first = _first(group)
            assert isinstance(first, errors.RtbatchError)
            self._fail_run(first)
        except* Exception as group:
            self._fail_run(_internal(_first(group)))
        return self._report()

    async def _run(self) -> None:
        out_send, out_recv = trio.open_memory_channel[Outcome](OUTCOME_BUFFER)
        async with trio.open_nursery() as outer:
            self._nursery = outer
            outer.start_soon(self._write_results, out_recv)
            await self._check_tls()
            self._check_audio_out()
            if self.handle_signals:
                outer.start_soon(self._watch_signals)
            if self.progress is not None:
                outer.start_soon(self.progress, self.snapshot)
            if self.config.deadline_s is not None:
                self._work_scope.deadline = self._started + self.config.deadline_s
            with self._work_scope:
                async with out_send, trio.open_nursery() as work:
                    self._work = work
                    work.start_soon(self._feed, out_send.clone())
                    for _ in range(self.config.concurrency):
                        work.start_soon(self._worker, out_send.clone())
            await self._written.wait()
            outer.cancel_scope.cancel()

    def _report(self) -> RunReport:
        deadline = self._work_scope.cancelled_caught and not self._interrupted
        s = self.summary
        s.wall_s = trio.current_time() - self._started
        if self.total is not None:
            s.not_started = max(0, self.total - s.finished - s.skipped)
        resets_in = None
        if self._resets_at is not None:
            resets_in = max(0.0, self._resets_at - trio.current_time())
        if self._fatal is not None:
            s.stopped = f"run-fatal error: {self._fatal.message}"
        elif self._interrupted:
            s.stopped = "interrupted"
        elif deadline:
            s.stopped = "deadline reached"
        elif self._later is not None:
            s.stopped = f"try later: {self._later.message}"
        elif self._budget_reached:
            s.stopped = f"--max-cost reached (${self.config.max_cost_usd:g})"
        return RunReport(
            s,
            self._fatal,
            self._later,
            resets_in,
            self._interrupted,
            deadline,
            self._budget_reached,
        )

    async def _check_tls(self) -> None:
        try:
            await check_tls(self.config.url, self.ssl_context, self.config.timeouts.connect_s)
        except errors.RunFatalError as exc:
            self._fail_run(exc)

    def _check_audio_out(self) -> None:
        """An ``--audio-out`` that cannot be written stops the run before anything is paid."""
        if self.config.audio_out is None:
            return
        try:
            check_writable_dir(self.config.audio_out)
        except OSError as exc:
            self._fail_run(
                errors.OutputFailed(
                    f"cannot write audio answers to {self.config.audio_out}: {exc.strerror or exc}"
                )
            )

    # -- intake -------------------------------------------------------------

    async def _feed(self, out: trio.MemorySendChannel[Outcome]) -> None:
        async with out:
            while not self.stopping:
                # The source is a local file (stdin is spooled first) read through
                # a buffer: a batch costs well under a millisecond, so it is read
                # in the loop rather than in a thread, which would also let trio's
                # virtual clock jump while the thread runs.
                batch = _take_batch(self.source, FEED_BATCH)
                await trio.lowlevel.checkpoint()
                if not batch:
                    break
                for item in batch:
                    if self._stop_event.is_set():
                        break
                    await self._admit(item, out)
        self._feeding_done = True
        self._check_finished()

    async def _admit(self, item: Job | JobProblem, out: trio.MemorySendChannel[Outcome]) -> None:
        if job_key(item) in self.done:
            self.summary.skipped += 1
            return
        if isinstance(item, JobProblem):
            await out.send(invalid_outcome(item))
            return
        self._pending += 1
        attempt = Attempt(item)
        if self.checkpoint is not None and item.kind == "transcribe":
            attempt.segments = {s.index: s for s in self.checkpoint.finished(item.id)}
        await self._queues.put(attempt)

    def _check_finished(self) -> None:
        if self._feeding_done and self._pending == 0:
            self._queues.close()

    def _stop(self) -> None:
        if not self.stopping:
            self._stop_event.set()
            self._queues.close()

    # -- workers ------------------------------------------------------------

    async def _worker(self, out: trio.MemorySendChannel[Outcome]) -> None:
        try:
            async with out:
                carry: Attempt | None = None
                while not self.stopping:  # a job still in hand then runs next time
                    attempt = carry or await self._queues.take(prefer=None)
                    if attempt is None:
                        return
                    carry, _ = await self._serve({}, attempt, out)
        except Exception as exc:
            # A bug of ours: stop cleanly (in-flight jobs finish, the writer drains)
            # instead of tearing the run down; the job in hand runs next time.
            self._fail_run(_internal(exc))

    async def _serve(
        self,
        held: dict[SessionKind, Session],
        attempt: Attempt | None,
        out: trio.MemorySendChannel[Outcome],
    ) -> tuple[Attempt | None, SessionKind | None]:
        """Serve jobs on the sessions ``held``, opening a nested one for a kind not held.

        A worker that meets both kinds of job keeps a session of each rather than
        closing one to open the other: against the service every new session is a
        TLS handshake, an upgrade and a session set-up, and an idle one costs
        nothing. So a fault-free run opens at most two connections per worker.
        Sessions nest (``async with`` inside ``async with``), so a broken outer
        session also closes the inner one.

        Returns:
            A job not yet run (or None), and the kind of a held session that must
            be closed (or None); the level that opened that session closes it.
        """
        kind: SessionKind | None = None
        while True:
            if attempt is None:
                if self.stopping:
                    return None, None
                attempt = await self._queues.take(prefer=kind)
                if attempt is None:
                    return None, None
            kind = session_kind(attempt.job)
            session = held.get(kind)
            if session is None:
                attempt, closing = await self._open(held, kind, attempt, out)
                if closing is not None:
                    return attempt, closing
                continue
            state = await self._try(session, attempt, out)
            if state != "ok":
                return (attempt if state == "carry" else None), kind
            attempt = None

    async def _open(
        self,
        held: dict[SessionKind, Session],
        kind: SessionKind,
        attempt: Attempt,
        out: trio.MemorySendChannel[Outcome],
    ) -> tuple[Attempt | None, SessionKind | None]:
        """Open a session of ``kind`` and serve on it (see :meth:`_serve`)."""
        self.connections += 1
        try:
            async with open_session(
                self.config,
                kind,
                connect=self.connect,
                ssl_context=self.ssl_context,
                on_rate_limits=self.pacer.on_rate_limits,
            ) as session:
                self._failures = 0
                carry, closing = await self._serve({**held, kind: session}, attempt, out)
        except errors.RtbatchError as exc:
            # Opening or configuring the session failed (the body raises none):
            # the job in hand is charged, and this worker backs off before dialing
            # again.
            await self._conclude(attempt, exc, out)
            self._failures += 1
            wait = backoff_s(self.config.retry, self._failures, self._rng, exc.retry_after_s)
            await self._sleep_unless_stopped(wait)
            return None, None
        return carry, (None if closing == kind else closing)

    async def _try(
        self, session: Session, attempt: Attempt, out: trio.MemorySendChannel[Outcome]
    ) -> TryState:
        """Run one try of a job on ``session``; say whether the session is still usable."""
        if trio.current_time() >= session.recycle_at:
            return "carry"  # the session is near the end of its useful life
        estimate = await expected_cost(self.estimator, attempt.job) if self.budget else 0.0
        if self.budget is not None:
            if not self.budget.admit(estimate):
                self._over_budget()
                return "broken"  # not started: the job runs next time
            self.budget.start(estimate)
        try:
            return await self._try_started(session, attempt, out)
        finally:
            if self.budget is not None:
                self.budget.finish(estimate, self._last_cost.pop(id(attempt), None))

    def _over_budget(self) -> None:
        if not self._budget_reached:
            self._budget_reached = True
            log.warning(
                "--max-cost: the next job would pass $%g; no new jobs (rerun to continue)",
                self.config.max_cost_usd,
            )
        self._stop()

    async def _try_started(
        self, session: Session, attempt: Attempt, out: trio.MemorySendChannel[Outcome]
    ) -> TryState:
        async with self.pacer.slot() as ticket:
            if self.stopping:
                return "broken"  # stopped while waiting: the job runs next time
            if trio.current_time() >= session.recycle_at:
                return "carry"  # waited past the session's useful life
            started = trio.current_time()
            if attempt.first_at is None:
                attempt.first_at = started
            try:
                reply = await self._dispatch(session, attempt)
            except errors.RtbatchError as exc:
                failure = exc
            else:
                self.pacer.on_done(reply.total_tokens, ticket)
                model = model_of(self.config, attempt.job)
                self._last_cost[id(attempt)] = outcome_cost(model, reply.usage)
                await self._conclude(attempt, None, out, reply=reply, started=started)
                return "ok"
        await self._conclude(attempt, failure, out, ticket=ticket)
        if isinstance(failure, (*_BREAKS_SESSION, errors.RunFatalError)):
            return "broken"
        return "ok"

    async def _dispatch(self, session: Session, attempt: Attempt) -> JobReply:
        job = attempt.job
        if job.kind == "transcribe":
            reply = await session.run_job(
                job,
                done=attempt.done_segments(),
                on_segment=partial(self._segment_done, attempt),
            )
            await write_transcripts(self.config, job, reply.output, reply.usage)
            return reply
        if self.config.audio_out is None or not wants_audio(job):
            return await session.run_job(job)
        # Text and respond jobs alike: a spoken answer that was paid for is kept.
        with AudioSink(self.config.audio_out / wav_name(job.id)) as sink:
            reply = await session.run_job(job, audio_out=sink)
            return replace(reply, output={**reply.output, "audio_path": sink.commit()})

    def _segment_done(self, attempt: Attempt, segment: SegmentRecord) -> None:
        attempt.segments[segment.index] = segment
        if self.checkpoint is not None:
            try:
                self.checkpoint.record(attempt.job.id, segment)
            except OSError as exc:
                raise errors.OutputFailed(f"cannot write the segment checkpoint: {exc}") from exc

    # -- outcomes -------------------------------------------------------------

    async def _conclude(
        self,
        attempt: Attempt,
        failure: errors.RtbatchError | None,
        out: trio.MemorySendChannel[Outcome],
        *,
        reply: JobReply | None = None,
        started: float = 0.0,
        ticket: Ticket | None = None,
    ) -> None:
        """Count one try of a job, the only place tries are counted, and decide its fate."""
        job = attempt.job
        if failure is None:
            attempt.attempts += 1
            assert reply is not None
            await self._finish(out, success_outcome(self.config, attempt, reply, started))
            return
        refused = is_refusal(failure)
        if refused:
            attempt.refusals += 1
            # A refused upgrade delays only its own worker (its backoff, by retry-after);
            # a refused generation is the account's word to every worker.
            if isinstance(failure, errors.RateLimited):
                self.pacer.on_refusal(
                    failure.retry_after_s,
                    capacity=isinstance(failure, errors.Overloaded),
                    limits=failure.limits,
                    ticket=ticket,
                )
        else:
            attempt.attempts += 1
            self.pacer.on_done(0, ticket)
        failure.job_id, failure.attempt = job.id, attempt.attempts
        if isinstance(failure, errors.CheckpointMismatch):
            attempt.segments.clear()  # the next try starts the file over
            if self.checkpoint is not None:
                self.checkpoint.forget(job.id)
        now = trio.current_time()
        decision = decide(
            failure,
            attempts=attempt.attempts,
            refusals=attempt.refusals,
            elapsed_s=now - (attempt.first_at if attempt.first_at is not None else now),
            policy=self.config.retry,
            rng=self._rng,
        )
        if decision.action == "retry":
            log.info(
                "job %s: %s (%s); retrying in %.2f s",
                job.id,
                "refused" if refused else f"attempt {attempt.attempts} failed",
                failure.message,
                decision.wait_s,
            )
            self._work.start_soon(self._requeue, attempt, decision.wait_s)
            return
        if decision.action == "stop":
            self._fail_run(failure)
            return
        if decision.action == "try_later":
            self._try_later(failure, decision.wait_s)
            return
        log.warning(
            "job %s failed after %d attempt(s): %s", job.id, attempt.attempts, failure.message
        )
        await self._finish(out, failed_outcome(self.config, attempt, failure))

    async def _finish(self, out: trio.MemorySendChannel[Outcome], outcome: Outcome) -> None:
        await out.send(outcome)
        self._pending -= 1
        self._check_finished()

    async def _requeue(self, attempt: Attempt, wait_s: float) -> None:
        await self._sleep_unless_stopped(wait_s)
        self._queues.put_retry(attempt)

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._stop_event.wait()

    def _fail_run(self, exc: errors.RtbatchError) -> None:
        if self._fatal is None:
            self._fatal = exc
            log.error("stopping: %s", exc.message)
        self._stop()

    def _try_later(self, exc: errors.RtbatchError, wait_s: float) -> None:
        if self._later is None:
            self._later = exc
            self._resets_at = trio.current_time() + wait_s if wait_s else None
            when = f" (resets in {wait_s:.0f} s)" if wait_s else ""
            log.warning("no new jobs: %s%s; rerun later to continue", exc.message, when)
        self._stop()

    # -- output and control ---------------------------------------------------

    async def _write_results(self, outcomes: trio.MemoryReceiveChannel[Outcome]) -> None:
        broken = False
        try:
            async with outcomes:
                async for outcome in outcomes:
                    if broken:
                        continue  # drained, not written: those jobs run next time
                    try:
                        self.results.write(outcome)
                        if self.checkpoint is not None and outcome.kind == "transcribe":
                            self.checkpoint.forget(str(outcome.job_id))
                    except OSError as exc:
                        broken = True
                        self._fail_run(errors.OutputFailed(f"cannot write results: {exc}"))
                        continue
                    self.summary.add(outcome)
        finally:
            self._written.set()

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self._interrupted = True
                if self.stopping:
                    log.warning("second signal: cancelling jobs in flight")
                    self._work_scope.cancel()
                    continue
                log.warning(
                    "%s: no new jobs; up to %g s for the %d in flight (signal again to stop now)",
                    signal.Signals(signum).name,
                    self.config.grace_s,
                    self.pacer.in_flight,
                )
                self._stop()
                self._nursery.start_soon(self._grace_timer)

    async def _grace_timer(self) -> None:
        await trio.sleep(self.config.grace_s)
        self._work_scope.cancel()


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    while True:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner


def _internal(exc: BaseException) -> errors.InternalError:
    """An unexpected exception as one clear line (its type and message, no traceback)."""
    log.debug("internal error", exc_info=exc)
    return errors.InternalError(f"internal error: {type(exc).__name__}: {exc}")
