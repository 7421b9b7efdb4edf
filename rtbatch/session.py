"""One Realtime session: configure it, run one unit of work at a time, return its reply.

The session owns the conversation with the service and nothing else: it writes no
files (output audio goes to a sink its caller provides) and makes no retry
decisions. Network failures are translated by :mod:`rtbatch.transport`; server
``error`` events and failed responses are classified by :mod:`rtbatch.retry`; a
server event that is malformed or unexpected becomes
:class:`~rtbatch.errors.ProtocolError`, named by its type. Any other exception,
raised by the caller's code or ours, passes through :func:`open_session`
unchanged: it is never taken for a lost connection.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import trio

from rtbatch import errors, protocol, transport
from rtbatch.config import RunConfig
from rtbatch.defaults import AUDIO_CHUNK_MS
from rtbatch.jobs import Job
from rtbatch.output.transcript import (
    SegmentRecord,
    clock,
    join_transcript,
    segment_json,
    sum_usage,
)
from rtbatch.protocol import Event, MalformedEvent, SessionKind
from rtbatch.retry import classify_server_error
from rtbatch.transport import WS_ERRORS, ConnectFn, connect_websocket, translate

log = logging.getLogger("rtbatch.session")

RateLimitHook = Callable[[list[dict[str, Any]]], None]
SegmentHook = Callable[[SegmentRecord], None]

# Streamed text deltas repeat what response.done carries whole, so their frames
# are recognised by prefix and never parsed. A server that orders keys otherwise
# only loses the shortcut: its frames are parsed and passed over as usual.
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

_TRANSCRIPTION_ENDS = frozenset(
    {
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
    }
)

# Server errors that say nothing about the job in hand.
_BENIGN_CODES = frozenset({"response_cancel_not_active"})
# A session is recycled this long before the service would expire it, so that no
# job is cut off by the expiry itself.
RECYCLE_MARGIN_S = 60.0


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
        self._timeouts = config.timeouts
        self._on_rate_limits = on_rate_limits
        self._seq = 0
        self._job_events: set[str] = set()
        self._config_event = "rtb_config"
        self._transcription: dict[str, Any] | None = None
        self.recycle_at = float("inf")
        self._last_rx = trio.current_time()

    # -- wire ---------------------------------------------------------------

    def _event_id(self) -> str:
        self._seq += 1
        event_id = f"rtb_{self._seq}"
        self._job_events.add(event_id)
        return event_id

    async def send(self, event: Event | str) -> None:
        """Send one client event (a dict, or a frame already serialised)."""
        frame = event if isinstance(event, str) else protocol.encode(event)
        await transport.send(self._ws, frame)

    async def next_event(self, want: Callable[[Event], bool]) -> Event:
        """Receive server events until ``want`` accepts one; return it.

        ``want`` sees every event (type in GA spelling) and may act on the ones it
        passes over; a :class:`~rtbatch.protocol.MalformedEvent` it raises becomes a
        :class:`~rtbatch.errors.ProtocolError`. Silence is probed with a ping once
        ``ping_interval_s`` passes without a frame; a missing pong means the peer is
        gone. The idle deadline is checked against the time of the last frame only
        when it fires, so the per-frame path opens no cancel scope.
        """
        interval = self._timeouts.ping_interval_s
        while True:
            with trio.CancelScope(deadline=self._last_rx + interval) as idle:
                while True:
                    event = await self._receive_one()
                    if event is None:
                        continue
                    try:
                        if want(event):
                            return event
                    except MalformedEvent as exc:
                        raise errors.ProtocolError(str(exc), code="malformed_event") from None
            if idle.cancelled_caught and trio.current_time() - self._last_rx >= interval:
                await transport.ping(self._ws, self._timeouts.ping_timeout_s)
                self._last_rx = trio.current_time()

    async def _receive_one(self) -> Event | None:
        """One frame as an event, or None for a frame the caller never needs.

        Frames that are not JSON objects with a type are logged and skipped: one
        garbled frame should not cost a job. ``error`` events are raised as rtbatch
        errors unless they belong to another job.
        """
        raw = await transport.receive(self._ws)
        self._last_rx = trio.current_time()
        if isinstance(raw, str) and raw.startswith(_SKIPPED_PREFIXES):
            return None
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            log.warning("skipped a frame that is not a JSON event (%d bytes)", len(raw))
            return None
        kind = event["type"] = protocol.canonical_type(self._dialect, event["type"])
        if kind == "rate_limits.updated":
            self._rate_limits(event)
            return None
        if kind == "error":
            error = event.get("error")
            if not isinstance(error, dict):
                raise errors.ProtocolError("an error event without an error object", code="error")
            if self._is_ours(error):
                raise self._error(error)
            return None
        return event

    def _error(self, error: dict[str, Any]) -> errors.RtbatchError:
        exc = classify_server_error(error)
        if error.get("event_id") == self._config_event and exc.error_class == "job":
            return errors.ConfigurationRejected(
                f"the service refused rtbatch's session configuration: {exc.message}",
                code=exc.code,
            )
        return exc

    def _is_ours(self, error: dict[str, Any]) -> bool:
        if error.get("code") in _BENIGN_CODES:
            return False
        owner = error.get("event_id")
        if owner is None or owner == self._config_event or owner in self._job_events:
            return True
        log.warning("ignored an error for an earlier job: %s", error.get("code"))
        return False

    def _rate_limits(self, event: Event) -> None:
        limits = event.get("rate_limits")
        if self._on_rate_limits is not None and isinstance(limits, list):
            self._on_rate_limits([entry for entry in limits if isinstance(entry, dict)])

    async def wait_for(self, *types: str) -> Event:
        """Skip events until one of ``types`` arrives."""
        return await self.next_event(lambda event: event["type"] in types)

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
        try:
            with trio.fail_after(self._timeouts.session_s):
                created = await self.wait_for("session.created")
        except trio.TooSlowError as exc:
            raise errors.ResponseTimeout(
                "no session.created in time", code="session_timeout"
            ) from exc
        if refused is not None:
            raise refused
        session = created.get("session")
        lifetime = _lifetime_s(session if isinstance(session, dict) else {})
        if lifetime is not None:
            margin = min(RECYCLE_MARGIN_S, lifetime / 10)
            self.recycle_at = trio.current_time() + lifetime - margin

    async def _update(self, event: Event) -> None:
        event["event_id"] = self._event_id()
        await self.send(event)
        await self.wait_for("session.updated")

    def begin_job(self) -> None:
        """Forget the previous job's event ids: its errors are no longer ours."""
        self._job_events.clear()

    # -- jobs -----------------------------------------------------------------

    async def run_text(self, job: Job) -> JobReply:
        """Run a prompt or messages job as one out-of-band response."""
        await self.send(self._response_create(job))
        return await self._collect_response(job, None)

    async def run_respond(self, job: Job, audio_out: AudioOut | None = None) -> JobReply:
        """Stream a job's audio, then answer it with an out-of-band response.

        Args:
            job: a respond job.
            audio_out: where the answer's audio goes, when the caller keeps it.
        """
        item_id = await self._send_audio(job)
        try:
            await self.send(self._response_create(job, item_id))
            return await self._collect_response(job, audio_out)
        finally:
            await self._tidy(protocol.delete_item_event(item_id, self._event_id()))

    async def run_transcribe(
        self,
        job: Job,
        *,
        done: Sequence[SegmentRecord] = (),
        on_segment: SegmentHook | None = None,
    ) -> JobReply:
        """Transcribe a job's audio segment by segment; the transcript and its segments.

        The audio is cut at silences (:mod:`rtbatch.audio.segments`); each segment
        is appended and committed as its own item while the transcripts of earlier
        ones arrive, matched by item id, and reassembled in order.

        Args:
            job: a transcribe job.
            done: segments finished earlier (a contiguous run from the file's start,
                as the checkpoint or an earlier attempt left them): not sent again.
            on_segment: called with each segment as its transcript arrives.

        Raises:
            BadAudio: the file cannot be decoded.
            CheckpointMismatch: ``done`` does not end at a segment boundary of this
                file as it is now (it changed, or the settings did).
            RtbatchError: a segment's transcription failed (the message names the
                segment) or the connection failed.
        """
        from rtbatch.audio import Cut, open_segment_stream, sample_rate_of

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

        def on_event(event: Event) -> bool:
            if event["type"] not in _TRANSCRIPTION_ENDS:
                return bool(event["type"] == "input_audio_buffer.committed")
            cut = waiting.pop(str(event.get("item_id")), None)
            if cut is None:
                return False
            if event["type"].endswith(".failed"):
                error = event.get("error")
                exc = classify_server_error(error if isinstance(error, dict) else None)
                where = f"segment {cut.index} ({clock(cut.start_ms)}-{clock(cut.end_ms)})"
                failed.append(type(exc)(f"{where}: {exc.message}", code=exc.code))
                return False
            result = protocol.read_transcript(event)
            record = SegmentRecord(
                cut.index, cut.start_sample, cut.end_sample, result.text, result.usage
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
                        committed = await self.next_event(on_event)
                        if failed:
                            raise failed[0]
                        waiting[protocol.item_id_of(committed)] = item
                    else:
                        await self.send(protocol.append_frame(item))
        except errors.BadAudio:
            await self._tidy({"type": "input_audio_buffer.clear", "event_id": self._event_id()})
            raise
        except ValueError as exc:
            if not start:
                raise
            raise errors.CheckpointMismatch(
                f"the recorded segments do not fit {job.audio.name} as it is now: {exc}"
            ) from None
        while waiting and not failed:
            await self.next_event(lambda e: on_event(e) or not waiting or bool(failed))
        if failed:
            raise failed[0]
        segments = [finished[i] for i in sorted(finished)]
        output: dict[str, Any] = {
            "transcript": join_transcript(segments),
            "segments": [segment_json(s, rate) for s in segments],
        }
        return JobReply("completed", output, sum_usage(s.usage for s in segments), None)

    def _response_create(self, job: Job, audio_item_id: str | None = None) -> Event:
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
        committed = await self.next_event(_is_committed)
        return protocol.item_id_of(committed)

    async def _tidy(self, event: Event) -> None:
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
            if event["type"] == "response.output_audio.delta":
                if audio_out is not None:
                    audio_out.add_b64(protocol.audio_delta(event))
                return False
            return event["type"] == "response.done" and _for_job(event, job.id)

        done = await self.next_event(want)
        try:
            result = protocol.read_response(done.get("response"))
        except MalformedEvent as exc:
            raise errors.ProtocolError(str(exc), code="malformed_event") from None
        return _reply(result)

    async def _collect_transcript(self, item_id: str) -> JobReply:
        event = await self.next_event(
            lambda e: e["type"] in _TRANSCRIPTION_ENDS and e.get("item_id") == item_id
        )
        if event["type"].endswith(".failed"):
            error = event.get("error")
            raise classify_server_error(error if isinstance(error, dict) else None)
        try:
            transcript = protocol.read_transcript(event)
        except MalformedEvent as exc:
            raise errors.ProtocolError(str(exc), code="malformed_event") from None
        return JobReply("completed", {"transcript": transcript.text}, transcript.usage, None)


def _is_committed(event: Event) -> bool:
    return bool(event["type"] == "input_audio_buffer.committed")


def _for_job(done: Event, job_id: str) -> bool:
    """Whether a ``response.done`` answers this job (by the metadata it echoes).

    Only one job runs on a session at a time, so a mismatch means a stray
    response, which must not be written under this job's id.
    """
    response = done.get("response")
    metadata = response.get("metadata") if isinstance(response, dict) else None
    if not isinstance(metadata, dict) or "job_id" not in metadata:
        return True  # a server that does not echo metadata: one job at a time decides
    matches: bool = metadata["job_id"] == protocol.metadata_job_id(job_id)
    if not matches:
        log.warning("ignored a response.done for another job")
    return matches


def _reply(result: protocol.ResponseResult) -> JobReply:
    if result.status == "failed":
        raise classify_server_error(result.error)
    if result.status not in ("completed", "incomplete"):
        raise errors.ServerError(f"the response ended {result.status}", code=result.status)
    output: dict[str, Any] = {"text": result.text}
    if result.transcript is not None:
        output["transcript"] = result.transcript
    if result.status == "incomplete":
        output["reason"] = result.reason
    return JobReply(result.status, output, result.usage, result.response_id)


def _lifetime_s(session: Mapping[str, Any]) -> float | None:
    # expires_at is wall-clock epoch seconds; the lifetime it implies is then
    # counted on trio's clock, which tests may run virtually.
    expires_at = session.get("expires_at")
    if not isinstance(expires_at, int | float) or expires_at <= 0:
        return None
    return max(1.0, float(expires_at) - time.time())


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
