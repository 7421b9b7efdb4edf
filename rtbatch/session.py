"""One Realtime session: configure it, run one unit of work at a time, return its reply.

The session owns the conversation with the service and nothing else: it writes no
files (output audio goes to a sink its caller provides) and makes no retry
decisions. Network failures are translated by :mod:`rtbatch.transport`; server
``error`` events and failed responses are classified by :mod:`rtbatch.retry`.
What a job's try returns is :mod:`rtbatch.reply`'s; the audio a job sends (whole,
or in segments for a transcript) is :mod:`rtbatch.session_audio`'s, and its responses
(one, a tool job's rounds, a conversation's turns) :mod:`rtbatch.session_responses`',
run here.

Everything else that can go wrong while a job waits on the service is translated
in one place, :func:`~rtbatch.boundary.boundary`, around the session's start and around each job:
a frame that does not decode into its typed event (:mod:`rtbatch.events`: a wrong
type, a missing key, a truncated frame) or a duplicated one is a
:class:`~rtbatch.errors.ProtocolError` named by its event type; the job's deadline
and the idle deadline between events are :class:`~rtbatch.errors.ResponseTimeout`;
a resume point that no longer fits the file is a
:class:`~rtbatch.errors.CheckpointMismatch`. Any other exception, raised by the
caller's code or ours, passes through :func:`open_session` unchanged: it is never
taken for a lost connection.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol

import trio

from rtbatch import errors, protocol, transport
from rtbatch.boundary import Silent, boundary
from rtbatch.config import RunConfig
from rtbatch.conversation import TurnHook
from rtbatch.events import (
    Committed,
    ErrorDetail,
    ErrorEvent,
    Event,
    MalformedEvent,
    RateLimitsUpdated,
    SessionEvent,
    decode,
)
from rtbatch.jobs import Job
from rtbatch.latency import Stages
from rtbatch.output.transcript import SegmentRecord
from rtbatch.output.turns import TurnRecord
from rtbatch.protocol import SessionKind
from rtbatch.reply import AudioOut, JobReply, classified
from rtbatch.session_audio import SegmentHook, transcribe
from rtbatch.session_responses import answer, converse_turns

# The reply shapes live in rtbatch.reply; they are named here too, since callers
# (the pool, the settling of a try) take them from the session they ran on.
from rtbatch.silences import Silences
from rtbatch.transport import WS_ERRORS, ConnectFn, connect_websocket, translate

__all__ = [
    "RECYCLE_MARGIN_S",
    "SEEN_EVENT_IDS",
    "AudioOut",
    "JobReply",
    "RateLimitHook",
    "SegmentHook",
    "Session",
    "open_session",
]

log = logging.getLogger("rtbatch.session")


class RateLimitHook(Protocol):
    """Takes a ``rate_limits.updated`` event's entries, and when the service made them."""

    def __call__(self, limits: list[dict[str, Any]], *, as_of: float | None = None) -> None: ...


ClientEvent = protocol.Event

# Streamed text deltas repeat what response.done carries whole, so their frames
# are recognised by prefix and never parsed. A server that orders keys otherwise
# only loses the shortcut: its frames are decoded and passed over as usual.
_TEXT_DELTA_PREFIXES = tuple(
    f'{{"type":"{name}"' for name in ("response.output_text.delta", "response.text.delta")
)
_SKIPPED_PREFIXES = _TEXT_DELTA_PREFIXES + tuple(
    f'{{"type":"{name}"'
    for name in ("response.output_audio_transcript.delta", "response.audio_transcript.delta")
)
# A transcription session reads its transcripts' deltas: one says that item's
# transcript has begun, so its wait no longer needs the allowance for its audio.
_SKIPPED_BY_KIND: dict[SessionKind, tuple[str, ...]] = {
    "realtime": (
        *_SKIPPED_PREFIXES,
        '{"type":"conversation.item.input_audio_transcription.delta"',
    ),
    "transcription": _SKIPPED_PREFIXES,
}

# Events that say an answer's output streams (GA names; text and transcript deltas
# are the skipped frames above): from the first, the idle deadline is the stream's.
_STREAMED = frozenset({"response.output_audio.delta", "response.function_call_arguments.delta"})

# The latency stages an event reaches the first time it arrives (GA names).
_STAGE_OF = {
    "response.created": "created",
    "response.output_text.delta": "first_text",
    "response.output_audio.delta": "first_audio",
}

# Server errors that say nothing about the job in hand.
_BENIGN_CODES = frozenset({"response_cancel_not_active"})
# A session is recycled this long before the service would expire it, so that no
# job is cut off by the expiry itself.
RECYCLE_MARGIN_S = 60.0
# Server event ids remembered to recognise a frame sent twice: a duplicate follows
# its original closely, and a bounded memory keeps a day-long session flat.
SEEN_EVENT_IDS = 512


class Session:
    """An open, configured Realtime session. Create with :func:`open_session`."""

    def __init__(
        self,
        ws: transport.Connection,
        config: RunConfig,
        kind: SessionKind,
        on_rate_limits: RateLimitHook | None,
        silences: Silences | None = None,
    ) -> None:
        self._ws = ws
        self._silences = silences or Silences(config.timeouts.idle_s, learn=False)
        self._longest_silence = 0.0  # of the answer under way, before it streamed
        self._longest_streaming = 0.0  # of the answer under way, once it streamed
        self._longest_raw = 0.0  # of the answer under way, before it streamed, allowance in
        self._streaming = False  # the answer awaited streams its output
        self._stretch = 1.0  # of the attempt under way
        self._on_answer: Callable[[], None] | None = None  # of the attempt under way
        self.stages = Stages()  # of the attempt under way
        self.config = config
        self.kind: SessionKind = kind
        self._skipped = _SKIPPED_BY_KIND[kind]
        self._dialect = config.dialect
        self._names = protocol.beta_names(config.dialect)
        self._timeouts = config.timeouts
        self._on_rate_limits = on_rate_limits
        self._seq = 0
        self._job_events: set[str] = set()
        self._config_event = "rtb_config"
        self.transcription: dict[str, Any] | None = None
        self.recycle_at = float("inf")
        self._last_rx = trio.current_time()
        self._seen: dict[str, None] = {}  # an ordered set: the oldest goes first
        self._items: set[str] = set()

    # -- wire ---------------------------------------------------------------

    def new_event_id(self) -> str:
        """A fresh client event id; an error naming it is this job's."""
        self._seq += 1
        event_id = f"rtb_{self._seq}"
        self._job_events.add(event_id)
        return event_id

    async def send(self, event: ClientEvent | str) -> None:
        """Send one client event (a dict, or a frame already serialised)."""
        frame = event if isinstance(event, str) else protocol.encode(event)
        await transport.send(self._ws, frame)

    async def next_event(
        self,
        want: Callable[[Event], bool],
        *,
        extra_idle: Callable[[], float] | None = None,
        streaming: Callable[[], bool] | None = None,
    ) -> Event:
        """Receive server events until ``want`` accepts one; return it.

        ``want`` sees every event the session does not handle itself (typed, its
        type in GA spelling) and may act on the ones it passes over.

        The server may stay silent for the idle deadline (the run's
        :class:`~rtbatch.silences.Silences`, within ``timeouts.idle_s``, plus
        ``extra_idle()`` seconds, for a transcript of long audio), counted from the
        last frame or from this call, whichever is later; past it the attempt is
        stalled. The deadline is the shorter one learned for streams once the answer
        awaited streams its output: ``streaming()`` says so (by default, a content
        delta since the last :meth:`ask`). A silence of ``ping_interval_s`` before
        that is probed with a ping, and a missing pong means the peer is gone.
        Deadlines are checked only when their scope fires, so the per-frame path
        opens no cancel scope.

        Raises:
            Silent: the idle deadline passed (translated by :func:`~rtbatch.boundary.boundary`).
        """
        since = trio.current_time()
        pinged = since
        ping_s = self._timeouts.ping_interval_s
        while True:
            quiet_from = max(self._last_rx, since)
            extra = extra_idle() if extra_idle is not None else 0.0
            flowing = self._streaming if streaming is None else streaming()
            idle = self._idle_s(extra, flowing)
            wake = min(quiet_from + idle, max(quiet_from, pinged) + ping_s)
            with trio.CancelScope(deadline=wake) as scope:

                def shortened(scope: trio.CancelScope = scope) -> None:
                    # Fires early at worst: the check below decides on the silence.
                    # The wait's state as it is when the deadline falls, on purpose.
                    due = max(self._last_rx, since) + self._idle_s(extra, flowing)  # noqa: B023
                    scope.deadline = min(scope.deadline, due)

                unwatch = self._silences.watch(shortened)
                try:
                    while True:
                        event = await self._receive_one()
                        silence = self._last_rx - max(quiet_from, since) - extra
                        if flowing:
                            self._longest_streaming = max(self._longest_streaming, silence)
                        else:
                            self._longest_silence = max(self._longest_silence, silence)
                            self._longest_raw = max(self._longest_raw, silence + extra)
                        quiet_from = self._last_rx
                        if event is not None and want(event):
                            return event
                        now_extra = extra_idle() if extra_idle is not None else 0.0
                        now_flowing = self._streaming if streaming is None else streaming()
                        if now_extra != extra or now_flowing != flowing:
                            # A transcript began (its audio's allowance is spent from
                            # now), or the output began to stream, or a wait ended.
                            extra, flowing = now_extra, now_flowing
                            idle = self._idle_s(extra, flowing)
                            scope.deadline = min(scope.deadline, quiet_from + idle)
                finally:
                    unwatch()
            if not scope.cancelled_caught:
                continue
            now = trio.current_time()
            quiet_from = max(self._last_rx, since)
            # The same sums as the deadline's: a difference can round below it and
            # re-enter a scope already past its deadline, forever.
            idle = self._idle_s(extra, flowing)
            if now >= quiet_from + idle:
                raise Silent(f"no server event for {now - quiet_from:g} s (idle deadline)")
            if now >= max(quiet_from, pinged) + ping_s:
                await transport.ping(self._ws, self._timeouts.ping_timeout_s)
                pinged = trio.current_time()

    def _idle_s(self, allowance_s: float, streaming: bool) -> float:
        return self._silences.deadline_s(allowance_s, self._stretch, streaming=streaming)

    async def ask(self, event: ClientEvent) -> None:
        """Send a request for an answer (``response.create``): its stream has not begun."""
        self._streaming = False
        await self.send(event)

    async def _receive_one(self) -> Event | None:
        """One frame as a typed event, or None for a frame the caller never needs.

        ``error`` events are raised as rtbatch errors unless they belong to another
        job; ``rate_limits.updated`` goes to the pacer.

        Raises:
            MalformedEvent: the frame does not decode into its event, or repeats
                an event already received.
        """
        raw = await transport.receive(self._ws)
        previous_rx, self._last_rx = self._last_rx, trio.current_time()
        if isinstance(raw, str) and raw.startswith(self._skipped):
            if raw.startswith(_TEXT_DELTA_PREFIXES):
                self.stages.reached("first_text")
            if not self._streaming and raw.startswith(_SKIPPED_PREFIXES):
                self._streaming = True
            return None
        event = decode(raw, self._names)
        self._check_unique(event)
        stage = _STAGE_OF.get(event.type)
        if stage is not None:
            self.stages.reached(stage)
        if not self._streaming and event.type in _STREAMED:
            self._streaming = True
        if isinstance(event, RateLimitsUpdated):
            if self._on_rate_limits is not None:
                # It follows a response.done within tens of milliseconds, and may wait
                # in the buffer until the next job reads: as of the frame before it.
                self._on_rate_limits(_limit_entries(event), as_of=previous_rx)
            return None
        if isinstance(event, ErrorEvent):
            if self._is_ours(event.error):
                raise self._error(event.error)
            return None
        return event

    def _check_unique(self, event: Event) -> None:
        """A server event id, or a committed item id, seen twice is a duplicated frame."""
        if event.event_id:
            if event.event_id in self._seen:
                raise MalformedEvent(f"{event.type}: a duplicated event")
            self._seen[event.event_id] = None
            if len(self._seen) > SEEN_EVENT_IDS:
                del self._seen[next(iter(self._seen))]
        if isinstance(event, Committed):
            if event.item_id in self._items:
                raise MalformedEvent(f"{event.type}: an item committed twice")
            self._items.add(event.item_id)

    def _error(self, error: ErrorDetail) -> errors.RtbatchError:
        exc = classified(error)
        if error.event_id == self._config_event and exc.error_class == "job":
            return errors.ConfigurationRejected(
                f"the service refused rtbatch's session configuration: {exc.message}",
                code=exc.code,
            )
        return exc

    def _is_ours(self, error: ErrorDetail) -> bool:
        if error.code in _BENIGN_CODES:
            return False
        owner = error.event_id
        if owner is None or owner == self._config_event or owner in self._job_events:
            return True
        log.warning("ignored an error for an earlier job: %s", error.code)
        return False

    async def wait_for(self, *types: str) -> Event:
        """Skip events until one of ``types`` arrives."""
        return await self.next_event(lambda event: event.type in types)

    # -- life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Configure the session for batch work and wait until it exists.

        The configuration is sent as soon as the socket opens (the protocol
        allows it) and is not waited for: the service applies events in order,
        so the first job follows right behind it. A rejection arrives as an
        ``error`` naming the configuration's event id, whenever it comes, and is
        run-fatal: no job can run on a session we cannot configure.
        """
        update = protocol.session_update(
            self._dialect, self.kind, audio_format=self.config.audio_format
        )
        update["event_id"] = self._config_event
        refused: errors.RtbatchError | None = None
        try:
            await self.send(update)
        except errors.RtbatchError as exc:
            # The service may have closed already, after saying why (a bad key, an
            # unknown model): frames received before a close can still be read.
            refused = exc
        with (
            boundary("session_timeout", "no session.created in time"),
            trio.fail_after(self._timeouts.session_s),
        ):
            created = await self.wait_for("session.created")
        if refused is not None:
            raise refused
        session = created.session if isinstance(created, SessionEvent) else None
        lifetime = _lifetime_s(session.expires_at if session is not None else None)
        if lifetime is not None:
            margin = min(RECYCLE_MARGIN_S, lifetime / 10)
            self.recycle_at = trio.current_time() + lifetime - margin

    async def update(self, event: ClientEvent) -> None:
        """Send a ``session.update`` and wait until the service applied it."""
        event["event_id"] = self.new_event_id()
        await self.send(event)
        await self.wait_for("session.updated")

    # -- jobs -----------------------------------------------------------------

    async def run_job(
        self,
        job: Job,
        *,
        audio_out: AudioOut | None = None,
        done: Sequence[SegmentRecord] = (),
        on_segment: SegmentHook | None = None,
        done_turns: Sequence[TurnRecord] = (),
        on_turn: TurnHook | None = None,
        idle_stretch: float = 1.0,
        on_answer: Callable[[], None] | None = None,
    ) -> JobReply:
        """Run one try of a job under its deadline; its reply.

        Args:
            job: the job (its kind decides what is sent).
            audio_out: where a spoken answer's audio goes, when the caller keeps it.
            done: a transcribe job's segments finished earlier (see :meth:`_transcribe`).
            on_segment: called with each segment of a transcribe job as it arrives.
            done_turns: a conversation's turns finished earlier (replayed, not asked).
            on_turn: called with each turn of a conversation as it finishes.
            idle_stretch: the learned idle deadline times this, for this try
                (:meth:`~rtbatch.silences.Silences.deadline_s`).
            on_answer: called with each answer this try gets (a response, a tool
                round, a turn's, a segment's transcript): each a request that did
                not fail.

        Raises:
            RtbatchError: the try failed; already classified.
        """
        self._job_events.clear()  # the previous job's errors are no longer ours
        self._longest_silence = self._longest_streaming = self._longest_raw = 0.0
        self._streaming = False
        self._stretch = idle_stretch
        self._on_answer = on_answer
        self.stages.reset()
        turns = (done_turns, on_turn)
        reply = await self._run_job(job, audio_out, done, on_segment, turns)
        return replace(reply, latency=self.stages.as_ms() or None)

    def note_answer(self) -> None:
        """An answer came whole (a job's reply, a segment's transcript): learn its silences."""
        streaming = self._longest_streaming
        longest = max(self._longest_silence, streaming)
        self._silences.answered(longest, streaming, max(self._longest_raw, streaming))
        self._longest_silence = self._longest_streaming = self._longest_raw = 0.0
        if self._on_answer is not None:
            self._on_answer()

    async def _run_job(
        self,
        job: Job,
        audio_out: AudioOut | None,
        done: Sequence[SegmentRecord],
        on_segment: SegmentHook | None,
        turns: tuple[Sequence[TurnRecord], TurnHook | None],
    ) -> JobReply:
        job_s = self._timeouts.job_s
        with (
            boundary("job_timeout", f"no response within {job_s:g} s", audio=job.audio),
            trio.fail_after(job_s),
        ):
            if job.kind == "transcribe":
                return await transcribe(self, job, done, on_segment)
            if job.kind == "conversation":
                return await converse_turns(self, job, audio_out, *turns)
            return await answer(self, job, audio_out)

    async def tidy(self, event: ClientEvent) -> None:
        """Send a clean-up event that must not mask the error or cancellation in flight.

        Shielded and bounded, so it also runs while the job is being cancelled; a
        failure is dropped because a broken connection is replaced anyway.
        """
        with trio.CancelScope(shield=True), trio.move_on_after(self._timeouts.close_s):
            try:
                await self.send(event)
            except errors.RtbatchError as exc:
                log.debug("clean-up event not sent: %s", exc.message)


def _limit_entries(event: RateLimitsUpdated) -> list[dict[str, Any]]:
    """The entries as the pacer reads them: named, with only the figures that were sent."""
    return [entry.as_dict() for entry in event.rate_limits if entry.name is not None]


def _lifetime_s(expires_at: float | None) -> float | None:
    # expires_at is wall-clock epoch seconds; the lifetime it implies is then
    # counted on trio's clock, which tests may run virtually.
    if expires_at is None or expires_at <= 0:
        return None
    return max(1.0, expires_at - time.time())


@asynccontextmanager
async def open_session(
    config: RunConfig,
    kind: SessionKind,
    *,
    connect: ConnectFn = connect_websocket,
    ssl_context: ssl.SSLContext | None = None,
    on_rate_limits: RateLimitHook | None = None,
    silences: Silences | None = None,
) -> AsyncIterator[Session]:
    """Open and configure one session; close it on exit under its own deadline.

    Only the connection's own failures are translated: connecting, starting and
    closing here, sending and receiving inside :class:`Session`. An exception
    raised by the body passes through unchanged (a close failure behind it is
    dropped); a close failure after a clean body is logged, not raised, since the
    work it served is done.

    Raises:
        RtbatchError: the translated failure of connecting or configuring
            (handshake refused, connection lost, authentication, …).
    """
    url = protocol.connect_url(config.url, config.model, kind)
    headers = protocol.handshake_headers(config.api_key.reveal(), config.dialect)
    body_error: BaseException | None = None
    body_done = False
    try:
        async with connect(url, headers, config.timeouts, ssl_context) as ws:
            session = Session(ws, config, kind, on_rate_limits, silences)
            await session.start()
            try:
                yield session
            except BaseException as exc:
                body_error = exc
                raise
            body_done = True
    except WS_ERRORS as exc:
        if body_error is exc:
            raise
        if body_error is None:
            if body_done:
                log.debug("error while closing a session: %r", exc)
                return
            raise translate(exc) from exc
        log.debug("error while closing a session after a failure: %r", exc)
    if body_error is not None:
        raise body_error  # the close failed too: the body's own error decides
