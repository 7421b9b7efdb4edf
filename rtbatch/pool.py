"""The run: a nursery of workers over a bounded job channel, retries, shutdown.

Shape of a run (all tasks are children of :meth:`Run.run`)::

    feeder ──► job channel (bounded) ──► worker × N ──► outcome channel ──► writer
       ▲                                    │
       └──────── retry timers ◄─────────────┘ (retryable failure, after backoff)

Workers own one connection each and run one job at a time on it. A job waiting
for its retry sleeps in its own small task, never in a worker. The run ends
when the source is exhausted and no job is pending, or earlier when it is
stopped: a run-fatal error or a first signal stops intake and lets in-flight
jobs finish; a second signal, the grace period or ``--deadline`` cancels them.
Jobs that never finished write nothing and run next time.
"""

from __future__ import annotations

import itertools
import logging
import random
import signal
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import trio

from rtbatch import errors
from rtbatch.config import RunConfig
from rtbatch.exitcodes import EXIT_FAILED, EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK
from rtbatch.idindex import IdIndex
from rtbatch.jobs import Job, JobProblem
from rtbatch.pacing import Pacer
from rtbatch.protocol import SessionKind
from rtbatch.results import Outcome, ResultFile, Summary, invalid_outcome, job_key
from rtbatch.retry import backoff_s, error_class, should_retry
from rtbatch.session import (
    ConnectFn,
    JobReply,
    Session,
    check_tls,
    connect_websocket,
    open_session,
)

if TYPE_CHECKING:
    from rtbatch.emulator import EmulatorConfig

log = logging.getLogger("rtbatch.run")

# Small, explicit buffers: the job file is streamed, never queued whole.
JOB_BUFFER = 64
OUTCOME_BUFFER = 64
FEED_BATCH = 256

AttemptState = Literal["ok", "broken", "recycle"]

# Failures after which a connection cannot be trusted for the next job.
_BREAKS_SESSION = (errors.ConnectionLost, errors.SessionExpired, errors.ResponseTimeout)


@dataclass(slots=True)
class Attempt:
    """A job on its way through the pool, with its retry bookkeeping."""

    job: Job
    attempts: int = 0
    first_at: float | None = None


@dataclass(slots=True)
class RunReport:
    """How the run ended."""

    summary: Summary
    fatal: errors.RtbatchError | None = None
    interrupted: bool = False
    deadline_reached: bool = False

    @property
    def exit_code(self) -> int:
        """The process exit code a scheduler acts on."""
        if self.fatal is not None:
            return EXIT_FATAL
        if self.interrupted or self.deadline_reached:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.summary.counts.get("failed") else EXIT_OK


def session_kind(job: Job) -> SessionKind:
    """The kind of session a job runs on."""
    return "transcription" if job.kind == "transcribe" else "realtime"


async def _dispatch(session: Session, job: Job) -> JobReply:
    if job.kind == "text":
        return await session.run_text(job)
    if job.kind == "respond":
        return await session.run_respond(job)
    return await session.run_transcribe(job)


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
    connect: ConnectFn = connect_websocket
    ssl_context: ssl.SSLContext | None = None
    handle_signals: bool = False
    emulator: EmulatorConfig | None = None
    progress: Callable[[Run], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self.summary = Summary()
        self.pacer = Pacer(self.config.concurrency, rpm=self.config.rpm, tpm=self.config.tpm)
        self.in_flight = 0
        self._rng = random.Random(self.config.seed)
        self._pending = 0
        self._feeding_done = False
        self._finished = trio.Event()
        self._stop_event = trio.Event()
        self._written = trio.Event()
        self._fatal: errors.RtbatchError | None = None
        self._interrupted = False
        self._jobs_send, self._jobs_recv = trio.open_memory_channel[Attempt](JOB_BUFFER)
        self._work_scope = trio.CancelScope()

    @property
    def stopping(self) -> bool:
        """True once intake has stopped (fatal error, signal)."""
        return self._stop_event.is_set()

    async def run(self) -> RunReport:
        """Run every job of the source; return how the run ended.

        Cancellation of the caller cancels everything; results already handed
        to the writer are still written.
        """
        started = trio.current_time()
        out_send, out_recv = trio.open_memory_channel[Outcome](OUTCOME_BUFFER)
        async with trio.open_nursery() as outer:
            if self.emulator is not None:
                await self._start_emulator(outer)
            await self._check_tls()
            outer.start_soon(self._write_results, out_recv)
            if self.handle_signals:
                outer.start_soon(self._watch_signals, outer)
            if self.progress is not None:
                outer.start_soon(self.progress, self)
            if self.config.deadline_s is not None:
                self._work_scope.deadline = started + self.config.deadline_s
            with self._work_scope:
                async with out_send, trio.open_nursery() as work:
                    self._work = work
                    work.start_soon(self._feed, out_send.clone())
                    for _ in range(self.config.concurrency):
                        work.start_soon(self._worker, out_send.clone())
            await self._written.wait()
            outer.cancel_scope.cancel()
        return self._report(started)

    def _report(self, started: float) -> RunReport:
        deadline = self._work_scope.cancelled_caught and not self._interrupted
        s = self.summary
        s.wall_s = trio.current_time() - started
        if self.total is not None:
            s.not_started = max(0, self.total - s.finished - s.skipped)
        if self._fatal is not None:
            s.stopped = f"run-fatal error: {self._fatal.message}"
        elif self._interrupted:
            s.stopped = "interrupted"
        elif deadline:
            s.stopped = "deadline reached"
        return RunReport(s, self._fatal, self._interrupted, deadline)

    async def _check_tls(self) -> None:
        try:
            await check_tls(self.config.url, self.ssl_context, self.config.timeouts.connect_s)
        except errors.RunFatalError as exc:
            self._fail_run(exc)

    async def _start_emulator(self, nursery: trio.Nursery) -> None:
        from rtbatch.emulator import serve

        emulator = await nursery.start(serve, self.emulator)
        self.config = replace(self.config, url=emulator.url)

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
                    if not await self._admit(item, out):
                        return
        self._feeding_done = True
        self._check_finished()
        await self._finished.wait()
        await self._jobs_send.aclose()

    async def _admit(self, item: Job | JobProblem, out: trio.MemorySendChannel[Outcome]) -> bool:
        if job_key(item) in self.done:
            self.summary.skipped += 1
            return True
        if isinstance(item, JobProblem):
            await out.send(invalid_outcome(item))
            return True
        self._pending += 1
        try:
            await self._jobs_send.send(Attempt(item))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def _take(self) -> Attempt | None:
        try:
            return await self._jobs_recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    def _check_finished(self) -> None:
        if self._feeding_done and self._pending == 0:
            self._finished.set()

    def _stop(self) -> None:
        if not self.stopping:
            self._stop_event.set()
            self._jobs_recv.close()
            self._finished.set()

    # -- workers ------------------------------------------------------------

    async def _worker(self, out: trio.MemorySendChannel[Outcome]) -> None:
        async with out:
            carry: Attempt | None = None
            failures = 0
            while not self.stopping:  # a job still in hand then runs next time
                carry = carry or await self._take()
                if carry is None:
                    return
                in_hand = carry
                try:
                    async with open_session(
                        self.config,
                        session_kind(carry.job),
                        connect=self.connect,
                        ssl_context=self.ssl_context,
                        on_rate_limits=self.pacer.on_rate_limits,
                    ) as session:
                        failures = 0
                        carry = await self._serve(session, carry, out)
                except errors.RtbatchError as exc:
                    # The connection itself failed: charge the job in hand, then
                    # back off before this worker dials again.
                    in_hand.attempts += 1
                    in_hand.first_at = in_hand.first_at or trio.current_time()
                    await self._settle(in_hand, exc, out)
                    carry = None
                    failures += 1
                    policy = self.config.retry
                    await self._sleep_unless_stopped(
                        backoff_s(policy, failures, self._rng, exc.retry_after_s)
                    )

    async def _serve(
        self, session: Session, attempt: Attempt, out: trio.MemorySendChannel[Outcome]
    ) -> Attempt | None:
        """Run jobs on one session until it must be replaced; return a job it cannot take."""
        while True:
            if session_kind(attempt.job) != session.kind:
                return attempt
            if trio.current_time() >= session.recycle_at:
                return attempt
            state = await self._attempt(session, attempt, out)
            if state == "recycle":
                return attempt
            if state == "broken" or self.stopping:
                return None
            next_attempt = await self._take()
            if next_attempt is None:
                return None
            attempt = next_attempt

    async def _attempt(
        self, session: Session, attempt: Attempt, out: trio.MemorySendChannel[Outcome]
    ) -> AttemptState:
        """Run one attempt of a job on ``session``; say whether the session is still usable."""
        async with self.pacer.limiter:
            await self.pacer.before_start()
            if self.stopping:
                return "broken"  # stopped while waiting: the job runs next time
            if trio.current_time() >= session.recycle_at:
                return "recycle"  # waited past the session's useful life
            attempt.attempts += 1
            started = trio.current_time()
            attempt.first_at = attempt.first_at or started
            session.begin_job()
            self.in_flight += 1
            try:
                with trio.fail_after(self.config.timeouts.job_s):
                    reply = await _dispatch(session, attempt.job)
            except trio.TooSlowError:
                failure: errors.RtbatchError = errors.ResponseTimeout(
                    f"no response within {self.config.timeouts.job_s:g} s", code="job_timeout"
                )
            except errors.RtbatchError as exc:
                failure = exc
            else:
                await self._succeed(attempt, reply, started, out)
                return "ok"
            finally:
                self.in_flight -= 1
        await self._settle(attempt, failure, out)
        if isinstance(failure, (*_BREAKS_SESSION, errors.RunFatalError)):
            return "broken"
        return "ok"

    async def _succeed(
        self,
        attempt: Attempt,
        reply: JobReply,
        started: float,
        out: trio.MemorySendChannel[Outcome],
    ) -> None:
        job = attempt.job
        self.pacer.on_success()
        if reply.usage:
            self.pacer.on_usage(int(reply.usage.get("total_tokens") or 0))
        await self._finish(
            out,
            Outcome(
                job_id=job.id,
                status=reply.status,
                kind=job.kind,
                line=job.line,
                attempts=attempt.attempts,
                output=reply.output,
                usage=reply.usage,
                response_id=reply.response_id,
                latency_ms=round((trio.current_time() - started) * 1000),
                metadata=job.metadata,
            ),
        )

    async def _settle(
        self, attempt: Attempt, exc: errors.RtbatchError, out: trio.MemorySendChannel[Outcome]
    ) -> None:
        """Decide a failed attempt's fate: retry later, fail the job, or stop the run."""
        job = attempt.job
        exc.job_id, exc.attempt = job.id, attempt.attempts
        if error_class(exc) == "run":
            self._fail_run(exc)
            return
        if isinstance(exc, errors.RateLimited) or exc.status == 429:
            self.pacer.on_rate_limited(exc.retry_after_s)
        wait = backoff_s(self.config.retry, attempt.attempts, self._rng, exc.retry_after_s)
        elapsed = trio.current_time() - (attempt.first_at or trio.current_time())
        if should_retry(self.config.retry, exc, attempt.attempts, elapsed, wait):
            log.info(
                "job %s: attempt %d failed (%s: %s); retrying in %.2f s",
                job.id,
                attempt.attempts,
                exc.kind,
                exc.message,
                wait,
            )
            self._work.start_soon(self._requeue, attempt, wait)
            return
        log.warning("job %s failed after %d attempt(s): %s", job.id, attempt.attempts, exc.message)
        await self._finish(
            out,
            Outcome(
                job_id=job.id,
                status="failed",
                kind=job.kind,
                line=job.line,
                attempts=attempt.attempts,
                error=exc.to_result(),
                metadata=job.metadata,
            ),
        )

    async def _finish(self, out: trio.MemorySendChannel[Outcome], outcome: Outcome) -> None:
        await out.send(outcome)
        self._pending -= 1
        self._check_finished()

    async def _requeue(self, attempt: Attempt, wait_s: float) -> None:
        await self._sleep_unless_stopped(wait_s)
        if self.stopping:
            return
        try:
            await self._jobs_send.send(attempt)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._stop_event.wait()

    def _fail_run(self, exc: errors.RtbatchError) -> None:
        if self._fatal is None:
            self._fatal = exc
            log.error("stopping: %s", exc.message)
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
                    except OSError as exc:
                        broken = True
                        self._fail_run(errors.OutputFailed(f"cannot write results: {exc}"))
                        continue
                    self.summary.add(outcome)
        finally:
            self._written.set()

    async def _watch_signals(self, outer: trio.Nursery) -> None:
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
                    self.in_flight,
                )
                self._stop()
                outer.start_soon(self._grace_timer)

    async def _grace_timer(self) -> None:
        await trio.sleep(self.config.grace_s)
        self._work_scope.cancel()
