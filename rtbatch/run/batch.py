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

The worker's loop is :func:`rtbatch.run.worker.work`; each job's bookkeeping is
its :class:`~rtbatch.run.ledger.Attempt`; why the run stops is its
:class:`~rtbatch.run.stop.StopState`. Errors are classified where they arise
(:mod:`rtbatch.transport`, :mod:`rtbatch.session`); a failed try's fate is
:func:`rtbatch.retry.decide`'s, and :meth:`Run.concluded` and :meth:`Run.failed`
are the one place a try is counted. An exception that is not an rtbatch error is a
bug of ours: :meth:`Run.run`, and only it, stops the run with it as
:class:`~rtbatch.errors.InternalError`, never a retry; the jobs in flight are
cancelled and run next time.
"""

from __future__ import annotations

import itertools
import logging
import random
import signal
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import get_args

import trio

from rtbatch import errors
from rtbatch.budget import Budget
from rtbatch.config import RunConfig
from rtbatch.defaults import DNS_CACHE_S
from rtbatch.estimate import Estimator
from rtbatch.idindex import IdIndex
from rtbatch.jobs import Job, JobProblem
from rtbatch.output.audio_sink import check_writable_dir
from rtbatch.output.checkpoint import Checkpoint
from rtbatch.output.outcome import Outcome, invalid_outcome
from rtbatch.output.results import ResultFile
from rtbatch.output.resume import job_key
from rtbatch.output.writing import writing
from rtbatch.pacing import Pacer, Share, Ticket
from rtbatch.progress import Snapshot
from rtbatch.protocol import SessionKind
from rtbatch.resolver import cached_resolution
from rtbatch.retry import decide, is_refusal
from rtbatch.run.health import RecentTries
from rtbatch.run.ledger import Attempt
from rtbatch.run.lines import failed_outcome, success_outcome
from rtbatch.run.queues import WorkQueues
from rtbatch.run.report import RunReport
from rtbatch.run.stop import Stop, StopState, gravest
from rtbatch.run.worker import Crew, Outcomes, work
from rtbatch.session import JobReply
from rtbatch.silences import Silences
from rtbatch.summary import Summary
from rtbatch.transport import ConnectFn, check_endpoint, connect_websocket, tls_context

log = logging.getLogger("rtbatch.run")

# Small, explicit buffers: the job file is streamed, never queued whole.
QUEUE_BOUND = 64
OUTCOME_BUFFER = 64
FEED_BATCH = 256


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
    #: Lines of the result file an earlier run settled without passing their checks.
    settled_failed_checks: int = 0

    def __post_init__(self) -> None:
        self.summary = Summary()
        self.summary.checks.settled_failed = self.settled_failed_checks
        self.recent = RecentTries()
        self.pacer = Pacer(
            self.config.concurrency,
            rpm=self.config.rpm,
            tpm=self.config.tpm,
            share=Share.of_work(self.config.account_share, self.shard_work, len(self.done)),
        )
        # One per session kind for the run: a session opened after a stall starts
        # with what the run learned, and a transcript's silences (net of its audio's
        # allowance, often none) say nothing of how long a response is silent for.
        timeouts = self.config.timeouts
        self.silences: dict[SessionKind, Silences] = {
            kind: Silences(timeouts.idle_s, learn=timeouts.idle_learned)
            for kind in get_args(SessionKind)
        }
        self.connections = 0
        self.open_failures = 0
        self.rng = random.Random(self.config.seed)
        self.stop = StopState()
        self.queues = WorkQueues(QUEUE_BOUND)
        self._pending = 0
        self._feeding_done = False
        self._started = 0.0
        self._written = trio.Event()
        self._work_scope = trio.CancelScope()

    @property
    def stopping(self) -> bool:
        """True once intake has stopped (fatal error, try-later, signal, budget)."""
        return self.stop.stopping

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
        to the writer are still written. This is the one place an exception of
        our own (a bug) is caught: it stops the run as
        :class:`~rtbatch.errors.InternalError` in the report.
        """
        self._started = trio.current_time()
        try:
            self.ssl_context = tls_context(self.config.url, self.ssl_context)
            with cached_resolution(DNS_CACHE_S):
                await self._run()
        except* errors.RtbatchError as group:
            first = _first(group)
            assert isinstance(first, errors.RtbatchError)
            self.fail_run(first)
        except* Exception as group:
            self.fail_run(_internal(_first(group)))
        return self._report()

    async def _run(self) -> None:
        out_send, out_recv = trio.open_memory_channel[Outcome](OUTCOME_BUFFER)
        async with trio.open_nursery() as outer:
            self._nursery = outer
            outer.start_soon(self._write_results, out_recv)
            try:
                await self._check_endpoint()
                self._check_audio_out()
                if self.handle_signals:
                    outer.start_soon(self._watch_signals)
                if self.progress is not None:
                    outer.start_soon(self.progress, self.snapshot)
                if self.config.deadline_s is not None:
                    self._work_scope.deadline = self._started + self.config.deadline_s
                with self._work_scope:
                    async with out_send, trio.open_nursery() as work_nursery:
                        self._work = work_nursery
                        work_nursery.start_soon(self._feed, out_send.clone())
                        for _ in range(self.config.concurrency):
                            crew: Crew = self
                            work_nursery.start_soon(work, crew, out_send.clone())
            finally:
                # However the work ended (a bug of ours included), the writer
                # drains what was handed to it before the run reports.
                with trio.CancelScope(shield=True):
                    await out_send.aclose()
                    await self._written.wait()
            outer.cancel_scope.cancel()

    def _report(self) -> RunReport:
        s = self.summary
        s.wall_s = trio.current_time() - self._started
        if self.total is not None:
            s.not_started = max(0, self.total - s.finished - s.skipped)
        if self._work_scope.cancelled_caught and self.stop.get("interrupted") is None:
            self.stop.stop(Stop("deadline"))
        if (stop := gravest(self.stop.stops)) is not None:
            s.stopped = stop.message
        later = self.stop.get("try_later")
        resets_in = None
        if later is not None and later.resets_at is not None:
            resets_in = max(0.0, later.resets_at - trio.current_time())
        return RunReport(s, self.stop.stops, resets_in, fail_on_check=self.config.fail_on_check)

    async def _check_endpoint(self) -> None:
        timeouts = self.config.timeouts
        try:
            await check_endpoint(
                self.config.url, self.ssl_context, timeouts.connect_s, timeouts.unreachable_s
            )
        except errors.RunFatalError as exc:
            self.fail_run(exc)

    def _check_audio_out(self) -> None:
        """An ``--audio-out`` that cannot be written stops the run before anything is paid."""
        if self.config.audio_out is None:
            return
        try:
            with writing(f"audio answers to {self.config.audio_out}"):
                check_writable_dir(self.config.audio_out)
        except errors.OutputFailed as exc:
            self.fail_run(exc)

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
                    if self.stop.stopping:
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
        if self.checkpoint is not None and item.kind == "conversation":
            attempt.turns = {t.index: t for t in self.checkpoint.finished_turns(item.id)}
        await self.queues.put(attempt)

    def _check_finished(self) -> None:
        if self._feeding_done and self._pending == 0:
            self.queues.close()

    def _stop(self, stop: Stop) -> bool:
        first = self.stop.stop(stop)
        self.queues.close()
        return first

    # -- outcomes -------------------------------------------------------------

    async def concluded(
        self, attempt: Attempt, reply: JobReply, started: float, out: Outcomes
    ) -> None:
        """Count a try that succeeded: the job's line is written."""
        ordinal = attempt.count(refused=False)
        seconds = trio.current_time() - started
        self.recent.succeeded(seconds, ordinal, parts=attempt.parts_answered)
        await self._finish(out, success_outcome(self.config, attempt, reply, started))

    async def failed(
        self, attempt: Attempt, failure: errors.RtbatchError, out: Outcomes, ticket: Ticket | None
    ) -> None:
        """Count a try that failed, and decide the job's fate (retry, stop, or its line).

        With :meth:`concluded`, the only place tries are counted.
        """
        job = attempt.job
        refused = is_refusal(failure)
        ordinal = attempt.count(refused=refused)
        if refused:
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
            self.recent.failed(ordinal, stalled=failure.code == "idle_timeout")
            if ticket is not None:
                # A request ran and failed. A session that never opened held no slot:
                # it is no completion, and must not grow a concurrency cut back.
                self.pacer.on_done(0, ticket)
        failure.job_id, failure.attempt = job.id, attempt.attempts
        if failure.code == "idle_timeout":
            attempt.stalled(isolated=not self.recent.stalling())
        if isinstance(failure, errors.CheckpointMismatch):
            attempt.start_over()
            if self.checkpoint is not None:
                self.checkpoint.forget(job.id)
        decision = decide(
            failure,
            attempts=attempt.attempts,
            refusals=attempt.refusals,
            elapsed_s=attempt.elapsed_s(trio.current_time()),
            policy=self.config.retry,
            rng=self.rng,
            quick_s=self.recent.quick_retry_s(),
        )
        if decision.action == "retry":
            log.info(
                "job %s: %s (%s); retrying in %.2f s",
                job.id,
                "refused" if refused else f"attempt {attempt.attempts} failed",
                failure.message,
                decision.wait_s,
            )
            attempt.next_wait_s = decision.wait_s
            self._work.start_soon(self._requeue, attempt)
            return
        if decision.action == "stop":
            self.fail_run(failure)
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

    async def _requeue(self, attempt: Attempt) -> None:
        await self.stop.sleep(attempt.next_wait_s or 0.0)
        self.queues.put_retry(attempt)

    def fail_run(self, exc: errors.RtbatchError) -> None:
        """Stop the run for a run-fatal error (the first one is the one reported)."""
        if self._stop(Stop("fatal", exc)):
            log.error("stopping: %s", exc.message)

    def _try_later(self, exc: errors.RtbatchError, wait_s: float) -> None:
        resets_at = trio.current_time() + wait_s if wait_s else None
        if self._stop(Stop("try_later", exc, resets_at=resets_at)):
            when = f" (resets in {wait_s:.0f} s)" if wait_s else ""
            log.warning("no new jobs: %s%s; rerun later to continue", exc.message, when)

    def over_budget(self) -> None:
        """``--max-cost``: the next job would pass the budget; no new jobs."""
        if self._stop(Stop("budget", max_cost_usd=self.config.max_cost_usd)):
            log.warning(
                "--max-cost: the next job would pass $%g; no new jobs (rerun to continue)",
                self.config.max_cost_usd,
            )

    # -- output and control ---------------------------------------------------

    async def _write_results(self, outcomes: trio.MemoryReceiveChannel[Outcome]) -> None:
        broken = False
        try:
            async with outcomes:
                async for outcome in outcomes:
                    if broken:
                        continue  # drained, not written: those jobs run next time
                    try:
                        with writing("results"):
                            self.results.write(outcome)
                            if self.checkpoint is not None and outcome.kind in _CHECKPOINTED:
                                self.checkpoint.forget(str(outcome.job_id))
                    except errors.OutputFailed as exc:
                        broken = True
                        self.fail_run(exc)
                        continue
                    self.summary.add(outcome)
        finally:
            self._written.set()

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if self.stopping:
                    self.stop.stop(Stop("interrupted"))
                    log.warning("second signal: cancelling jobs in flight")
                    self._work_scope.cancel()
                    continue
                log.warning(
                    "%s: no new jobs; up to %g s for the %d in flight (signal again to stop now)",
                    signal.Signals(signum).name,
                    self.config.grace_s,
                    self.pacer.in_flight,
                )
                self._stop(Stop("interrupted"))
                self._nursery.start_soon(self._grace_timer)

    async def _grace_timer(self) -> None:
        await trio.sleep(self.config.grace_s)
        self._work_scope.cancel()


#: The kinds of job the checkpoint holds pieces of, forgotten once their line is written.
_CHECKPOINTED = ("transcribe", "conversation")


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
