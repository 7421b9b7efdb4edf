"""One Realtime session: configure it, run one unit of work at a time, return its reply.

The session owns the conversation with the service and nothing else: it writes no
files (output audio goes to a sink its caller provides) and makes no retry
decisions. Network failures are translated by :mod:`rtbatch.transport`; server
``error`` events and failed responses are classified by :mod:`rtbatch.retry`.

Everything else that can go wrong while a job waits on the service is translated
in one place, :func:`_boundary`, around the session's start and around each job:
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
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from rtbatch import errors, protocol, transport
from rtbatch.config import RunConfig
from rtbatch.defaults import AUDIO_CHUNK_MS, TRANSCRIPT_IDLE_PER_AUDIO_S
from rtbatch.events import (
    AudioDelta,
    Committed,
    ErrorDetail,
    ErrorEvent,
    Event,
    MalformedEvent,
    RateLimitsUpdated,
    ResponseDone,
    SessionEvent,
    TranscriptionCompleted,
    TranscriptionFailed,
    decode,
)
from rtbatch.jobs import Job
from rtbatch.output.transcript import SegmentRecord, clock, sum_usage, transcript_output
from rtbatch.protocol import SessionKind
from rtbatch.retry import classify_server_error
from rtbatch.transport import WS_ERRORS, ConnectFn, connect_websocket, translate

log = logging.getLogger("rtbatch.session")


class RateLimitHook(Protocol):
    """Takes a ``rate_limits.updated`` event's entries, and when the service made them."""

    def __call__(self, limits: list[dict[str, Any]], *, as_of: float | None = None) -> None: ...


SegmentHook = Callable[[SegmentRecord], None]
ClientEvent = protocol.Event

# Streamed text deltas repeat what response.done carries whole, so their frames
# are recognised by prefix and never parsed. A server that orders keys otherwise
# only loses the shortcut: its frames are decoded and passed over as usual.
_SKIPPED_PREFIXES = tuple(
    f'{{"type":"{name}"'
    for name in (
        "response.output_text.delta",
        "response.text.delta",
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
        "conversation.item.input_audio_transcription.delta",
    )
)

# Server errors that say nothing about the job in hand.
_BENIGN_CODES = frozenset({"response_cancel_not_active"})
# A session is recycled this long before the service would expire it, so that no
# job is cut off by the expiry itself.
RECYCLE_MARGIN_S = 60.0
# Server event ids remembered to recognise a frame sent twice: a duplicate follows
# its original closely, and a bounded memory keeps a day-long session flat.
SEEN_EVENT_IDS = 512


class AudioOut(Protocol):
    """Where a response's output audio goes; the caller provides it."""

    def add_b64(self, delta: str) -> None:
        """Take one ``output_audio.delta`` payload (base64 PCM16)."""


@dataclass(frozen=True, slots=True)
class JobReply:
    """A job's answer: its final status (completed or incomplete) and what it produced."""

    status: str
    output: dict[str, Any]
    usage: dict[str, Any] | None
    response_id: str | None

    @property
    def total_tokens(self) -> int:
        """The usage's ``total_tokens`` (0 when the service gave none)."""
        total = (self.usage or {}).get("total_tokens")
        return total if isinstance(total, int) else 0


class _Silent(Exception):
    """The server sent nothing for the idle deadline while a job waited on it."""


@contextmanager
def _boundary(deadline_code: str, deadline_message: str) -> Iterator[None]:
    """The one place a session's own failures become rtbatch errors (see the module doc)."""
    try:
        yield
    except MalformedEvent as exc:
        raise errors.ProtocolError(str(exc), code="malformed_event") from None
    except _Silent as exc:
        raise errors.ResponseTimeout(str(exc), code="idle_timeout") from None
    except trio.TooSlowError:
        raise errors.ResponseTimeout(deadline_message, code=deadline_code) from None


class Session:
    """An open, configured Realtime session. Create with :func:`open_session`."""

    def __init__(
        self,
        ws: transport.Connection,
        config: RunConfig,
        kind: SessionKind,
        on_rate_limits: RateLimitHook | None,
    ) -> None:
        self._ws = ws
        self._config = config
        self.kind: SessionKind = kind
        self._dialect = config.dialect
        self._names = protocol.beta_names(config.dialect)
        self._timeouts = config.timeouts
        self._on_rate_limits = on_rate_limits
        self._seq = 0
        self._job_events: set[str] = set()
        self._config_event = "rtb_config"
        self._transcription: dict[str, Any] | None = None
        self.recycle_at = float("inf")
        self._last_rx = trio.current_time()
        self._seen: dict[str, None] = {}  # an ordered set: the oldest goes first
        self._items: set[str] = set()

    # -- wire ---------------------------------------------------------------

    def _event_id(self) -> str:
        self._seq += 1
        event_id = f"rtb_{self._seq}"
        self._job_events.add(event_id)
        return event_id

    async def send(self, event: ClientEvent | str) -> None:
        """Send one client event (a dict, or a frame already serialised)."""
        frame = event if isinstance(event, str) else protocol.encode(event)
        await transport.send(self._ws, frame)

    async def next_event(
        self, want: Callable[[Event], bool], *, extra_idle: Callable[[], float] | None = None
    ) -> Event:
        """Receive server events until ``want`` accepts one; return it.

        ``want`` sees every event the session does not handle itself (typed, its
        type in GA spelling) and may act on the ones it passes over.

        The server may stay silent for the idle deadline (``timeouts.idle_s``, plus
        ``extra_idle()`` seconds, for a transcript of long audio), counted from the
        last frame or from this call, whichever is later; past it the attempt is
        stalled. A silence of ``ping_interval_s`` before that is probed with a ping,
        and a missing pong means the peer is gone. Deadlines are checked only when
        their scope fires, so the per-frame path opens no cancel scope.

        Raises:
            _Silent: the idle deadline passed (translated by :func:`_boundary`).
        """
        since = trio.current_time()
        pinged = since
        while True:
            quiet_from = max(self._last_rx, since)
            idle = self._timeouts.idle_s + (extra_idle() if extra_idle is not None else 0.0)
            wake = min(quiet_from + idle, max(quiet_from, pinged) + self._timeouts.ping_interval_s)
            with trio.CancelScope(deadline=wake) as scope:
                while True:
                    event = await self._receive_one()
                    if event is not None and want(event):
                        return event
            if not scope.cancelled_caught:
                continue
            now = trio.current_time()
            quiet_from = max(self._last_rx, since)
            if now - quiet_from >= idle:
                raise _Silent(f"no server event for {now - quiet_from:g} s (idle deadline)")
            if now - max(quiet_from, pinged) >= self._timeouts.ping_interval_s:
                await transport.ping(self._ws, self._timeouts.ping_timeout_s)
                pinged = trio.current_time()

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
        if isinstance(raw, str) and raw.startswith(_SKIPPED_PREFIXES):
            return None
        event = decode(raw, self._names)
        self._check_unique(event)
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
        exc = _classified(error)
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
            self._dialect, self.kind, audio_format=self._config.audio_format
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
            _boundary("session_timeout", "no session.created in time"),
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

    async def _update(self, event: ClientEvent) -> None:
        event["event_id"] = self._event_id()
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
    ) -> JobReply:
        """Run one try of a job under its deadline; its reply.

        Args:
            job: the job (its kind decides what is sent).
            audio_out: where a spoken answer's audio goes, when the caller keeps it.
            done: a transcribe job's segments finished earlier (see :meth:`_transcribe`).
            on_segment: called with each segment of a transcribe job as it arrives.

        Raises:
            RtbatchError: the try failed; already classified.
        """
        self._job_events.clear()  # the previous job's errors are no longer ours
        job_s = self._timeouts.job_s
        with _boundary("job_timeout", f"no response within {job_s:g} s"), trio.fail_after(job_s):
            if job.kind == "transcribe":
                return await self._transcribe(job, done, on_segment)
            item_id = await self._send_audio(job) if job.kind == "respond" else None
            try:
                await self.send(self._response_create(job, item_id))
                return await self._collect_response(job, audio_out)
            finally:
                if item_id is not None:
                    await self._tidy(protocol.delete_item_event(item_id, self._event_id()))

    async def _transcribe(
        self, job: Job, done: Sequence[SegmentRecord], on_segment: SegmentHook | None
    ) -> JobReply:
        """Transcribe a job's audio segment by segment; the transcript and its segments.

        The audio is cut at silences (:mod:`rtbatch.audio.segments`); each segment
        is appended and committed as its own item while the transcripts of earlier
        ones arrive, matched by item id, and reassembled in order. ``done`` holds
        the segments finished earlier (a contiguous run from the file's start, as
        the checkpoint or an earlier attempt left them): they are not sent again.

        Raises:
            BadAudio: the file cannot be decoded.
            CheckpointMismatch: ``done`` does not end at a segment boundary of this
                file as it is now (it changed, or the settings did).
            RtbatchError: a segment's transcription failed (the message names the
                segment) or the connection failed.
        """
        from rtbatch.audio import Cut, SegmentMismatch, open_segment_stream, sample_rate_of

        await self._configure_transcription(job)
        if job.audio is None:
            raise ValueError(f"job {job.id!r} has no audio")
        rate = sample_rate_of(self._config.audio_format)
        finished = {s.index: s for s in done}
        start = done[-1].end_sample if done else 0
        waiting: dict[str, Cut] = {}
        # A segment's failure is raised only once the commit in flight is
        # acknowledged: a `committed` left unread would be taken for the next
        # try's first commit on this session, and every later transcript matched
        # to the segment before its own.
        failed: list[errors.RtbatchError] = []

        def allowance_s() -> float:
            seconds = sum(c.end_sample - c.start_sample for c in waiting.values()) / rate
            return seconds * TRANSCRIPT_IDLE_PER_AUDIO_S

        def on_event(event: Event) -> bool:
            if isinstance(event, Committed):
                return True
            if not isinstance(event, TranscriptionCompleted | TranscriptionFailed):
                return False
            cut = waiting.pop(event.item_id, None)
            if cut is None:
                return False
            if isinstance(event, TranscriptionFailed):
                exc = _classified(event.error)
                where = f"segment {cut.index} ({clock(cut.start_ms)}-{clock(cut.end_ms)})"
                failed.append(type(exc)(f"{where}: {exc.message}", code=exc.code))
                return False
            usage = event.usage.as_dict() if event.usage is not None else None
            record = SegmentRecord(
                cut.index, cut.start_sample, cut.end_sample, event.transcript, usage
            )
            finished[cut.index] = record
            if on_segment is not None:
                on_segment(record)
            return False

        try:
            async with open_segment_stream(
                job.audio,
                fmt=self._config.audio_format,
                chunk_ms=AUDIO_CHUNK_MS,
                max_segment_ms=self._config.max_segment_ms,
                tolerance_ms=self._config.max_segment_ms // 5,
                start_sample=start,
            ) as items:
                async for item in items:
                    if isinstance(item, Cut):
                        await self.send(protocol.commit_event(self._event_id()))
                        committed = await self.next_event(on_event, extra_idle=allowance_s)
                        if failed:
                            raise failed[0]
                        assert isinstance(committed, Committed)
                        waiting[committed.item_id] = item
                    else:
                        await self.send(protocol.append_frame(item))
        except errors.BadAudio:
            await self._tidy({"type": "input_audio_buffer.clear", "event_id": self._event_id()})
            raise
        except SegmentMismatch as exc:
            raise errors.CheckpointMismatch(
                f"the recorded segments do not fit {job.audio.name} as it is now: {exc}"
            ) from None
        while waiting and not failed:
            await self.next_event(
                lambda e: on_event(e) or not waiting or bool(failed),
                extra_idle=allowance_s,
            )
        if failed:
            raise failed[0]
        segments = [finished[i] for i in sorted(finished)]
        output = transcript_output(segments, rate)
        return JobReply("completed", output, sum_usage(s.usage for s in segments), None)

    def _response_create(self, job: Job, audio_item_id: str | None = None) -> ClientEvent:
        return protocol.response_create(
            self._dialect,
            job,
            event_id=self._event_id(),
            default_instructions=self._config.instructions,
            audio_item_id=audio_item_id,
        )

    async def _configure_transcription(self, job: Job) -> None:
        options = job.transcription
        settings = protocol.transcription_settings(
            (options.model if options else None) or self._config.transcription_model,
            (options.language if options else None) or self._config.language,
            options.prompt if options else None,
            options.languages if options else None,
        )
        if settings == self._transcription:
            return
        await self._update(
            protocol.session_update(
                self._dialect,
                "transcription",
                audio_format=self._config.audio_format,
                transcription=settings,
            )
        )
        self._transcription = settings

    async def _send_audio(self, job: Job) -> str:
        from rtbatch.audio import open_chunk_stream

        if job.audio is None:
            raise ValueError(f"job {job.id!r} has no audio")
        try:
            async with open_chunk_stream(
                job.audio, fmt=self._config.audio_format, chunk_ms=AUDIO_CHUNK_MS
            ) as chunks:
                async for chunk in chunks:
                    await self.send(protocol.append_frame(chunk))
        except errors.BadAudio:
            await self._tidy({"type": "input_audio_buffer.clear", "event_id": self._event_id()})
            raise
        await self.send(protocol.commit_event(self._event_id()))
        committed = await self.next_event(lambda e: isinstance(e, Committed))
        assert isinstance(committed, Committed)
        return committed.item_id

    async def _tidy(self, event: ClientEvent) -> None:
        """Send a clean-up event that must not mask the error or cancellation in flight.

        Shielded and bounded, so it also runs while the job is being cancelled; a
        failure is dropped because a broken connection is replaced anyway.
        """
        with trio.CancelScope(shield=True), trio.move_on_after(self._timeouts.close_s):
            try:
                await self.send(event)
            except errors.RtbatchError as exc:
                log.debug("clean-up event not sent: %s", exc.message)

    async def _collect_response(self, job: Job, audio_out: AudioOut | None) -> JobReply:
        def want(event: Event) -> bool:
            if isinstance(event, AudioDelta):
                if audio_out is not None:
                    audio_out.add_b64(event.delta)
                return False
            return isinstance(event, ResponseDone) and _for_job(event, job.id)

        done = await self.next_event(want)
        assert isinstance(done, ResponseDone)
        return _reply(protocol.read_response(done.response))


def _for_job(done: ResponseDone, job_id: str) -> bool:
    """Whether a ``response.done`` answers this job (by the metadata it echoes).

    Only one job runs on a session at a time, so a mismatch means a stray
    response, which must not be written under this job's id.
    """
    metadata = done.response.metadata
    if metadata is None or "job_id" not in metadata:
        return True  # a server that does not echo metadata: one job at a time decides
    matches = metadata["job_id"] == protocol.metadata_job_id(job_id)
    if not matches:
        log.warning("ignored a response.done for another job")
    return matches


def _limit_entries(event: RateLimitsUpdated) -> list[dict[str, Any]]:
    """The entries as the pacer reads them: named, with only the figures that were sent."""
    return [entry.as_dict() for entry in event.rate_limits if entry.name is not None]


def _classified(error: ErrorDetail | None) -> errors.RtbatchError:
    """A server error object as its rtbatch error (no object: a server error)."""
    return classify_server_error(error.as_dict() if error is not None else None)


def _reply(result: protocol.ResponseResult) -> JobReply:
    if result.status == "failed":
        raise _classified(result.error)
    if result.status not in ("completed", "incomplete"):
        raise errors.ServerError(f"the response ended {result.status}", code=result.status)
    output: dict[str, Any] = {"text": result.text}
    if result.transcript is not None:
        output["transcript"] = result.transcript
    if result.status == "incomplete":
        output["reason"] = result.reason
    return JobReply(result.status, output, result.usage, result.response_id)


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
            session = Session(ws, config, kind, on_rate_limits)
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
