"""One Realtime connection: connect, configure, run jobs one at a time.

This module owns the network. It is also the one translation boundary: every
trio-websocket exception and every server ``error`` is turned into an
:mod:`rtbatch.errors` class here (via :mod:`rtbatch.retry`), chained with
``from``, and nothing above it sees a WebSocket type.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import trio
import trio_websocket as tw

from rtbatch import errors, protocol
from rtbatch.config import RunConfig, Timeouts
from rtbatch.defaults import (
    AUDIO_CHUNK_MS,
    MAX_MESSAGE_BYTES,
    MESSAGE_QUEUE_SIZE,
    RECEIVE_BUFFER_BYTES,
)
from rtbatch.jobs import Job
from rtbatch.outputs import AudioSink
from rtbatch.protocol import Event, SessionKind
from rtbatch.retry import classify_close, classify_server_error, classify_status

log = logging.getLogger("rtbatch.session")

Headers = list[tuple[bytes, bytes]]
ConnectFn = Callable[
    [str, Headers, Timeouts, "ssl.SSLContext | None"],
    AbstractAsyncContextManager[tw.WebSocketConnection],
]
RateLimitHook = Callable[[list[dict[str, Any]]], None]

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


def connect_websocket(
    url: str, headers: Headers, timeouts: Timeouts, ssl_context: ssl.SSLContext | None
) -> AbstractAsyncContextManager[tw.WebSocketConnection]:
    """The default connect function: trio-websocket with limits fit for audio events."""
    return tw.open_websocket_url(
        url,
        ssl_context,
        extra_headers=headers,
        message_queue_size=MESSAGE_QUEUE_SIZE,
        max_message_size=MAX_MESSAGE_BYTES,
        receive_buffer_size=RECEIVE_BUFFER_BYTES,
        connect_timeout=timeouts.connect_s,
        disconnect_timeout=timeouts.close_s,
    )


def translate(exc: BaseException) -> errors.RtbatchError:
    """The rtbatch error for a trio-websocket or socket failure."""
    if isinstance(exc, tw.ConnectionRejected):
        retry_after = dict(exc.headers).get(b"retry-after")
        return classify_status(exc.status_code, retry_after.decode() if retry_after else None)
    if isinstance(exc, tw.ConnectionTimeout):
        return errors.ResponseTimeout("timed out opening the WebSocket", code="connect_timeout")
    if isinstance(exc, tw.DisconnectionTimeout):
        return errors.ConnectionLost("timed out closing the WebSocket", code="close_timeout")
    if isinstance(exc, tw.ConnectionClosed):
        reason = exc.reason
        return classify_close(reason.code if reason else None, reason.reason if reason else None)
    if isinstance(exc, tw.HandshakeError | OSError):
        cause = exc.__cause__ or exc
        return errors.ConnectionLost(f"could not connect: {cause}", code="connect_failed")
    raise TypeError(f"no translation for {type(exc).__name__}") from exc


#: Every exception class trio-websocket exports, mapped by :func:`translate`.
WS_ERRORS: tuple[type[BaseException], ...] = (
    tw.ConnectionRejected,
    tw.ConnectionTimeout,
    tw.DisconnectionTimeout,
    tw.ConnectionClosed,
    tw.HandshakeError,
    OSError,
)


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
        ws: tw.WebSocketConnection,
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
        self._transcription: dict[str, str] | None = None
        self.recycle_at = float("inf")
        self.bad_frames = 0
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
        try:
            await self._ws.send_message(frame)
        except tw.ConnectionClosed as exc:
            raise translate(exc) from exc

    async def next_event(self, want: Callable[[Event], bool]) -> Event:
        """Receive server events until ``want`` accepts one; return it.

        ``want`` sees every event (type in GA spelling) and may act on the ones it
        passes over. Silence is probed with a ping once ``ping_interval_s`` passes
        without a frame; a missing pong means the peer is gone. The idle deadline
        is checked against the time of the last frame only when it fires, so the
        per-frame path opens no cancel scope.
        """
        interval = self._timeouts.ping_interval_s
        while True:
            with trio.CancelScope(deadline=self._last_rx + interval) as idle:
                while True:
                    event = await self._receive_one()
                    if event is not None and want(event):
                        return event
            if idle.cancelled_caught and trio.current_time() - self._last_rx >= interval:
                await self._ping()
                self._last_rx = trio.current_time()

    async def _receive_one(self) -> Event | None:
        """One frame as an event, or None for a frame the caller never needs.

        Frames that are not JSON objects are logged and skipped: one garbled frame
        should not cost a job. ``error`` events are raised as rtbatch errors
        unless they belong to another job.
        """
        try:
            raw = await self._ws.get_message()
        except tw.ConnectionClosed as exc:
            raise translate(exc) from exc
        self._last_rx = trio.current_time()
        if isinstance(raw, str) and raw.startswith(_SKIPPED_PREFIXES):
            return None
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.bad_frames += 1
            log.warning("skipped a frame that is not a JSON event (%d bytes)", len(raw))
            return None
        kind = event["type"] = protocol.canonical_type(self._dialect, event["type"])
        if kind == "rate_limits.updated":
            self._rate_limits(event)
            return None
        if kind == "error" and self._is_ours(event):
            raise self._error(event.get("error") or {})
        return event

    def _error(self, error: dict[str, Any]) -> errors.RtbatchError:
        exc = classify_server_error(error)
        if error.get("event_id") == self._config_event and exc.error_class == "job":
            return errors.ConfigurationRejected(
                f"the service refused rtbatch's session configuration: {exc.message}",
                code=exc.code,
            )
        return exc

    async def _ping(self) -> None:
        with trio.move_on_after(self._timeouts.ping_timeout_s) as waiting:
            try:
                await self._ws.ping()
            except tw.ConnectionClosed as exc:
                raise translate(exc) from exc
        if waiting.cancelled_caught:
            raise errors.ConnectionLost("no answer to a ping", code="ping_timeout")

    def _is_ours(self, event: Event) -> bool:
        error = event.get("error") or {}
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
            self._on_rate_limits(limits)

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
        lifetime = _lifetime_s(created.get("session") or {})
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
        event = protocol.response_create(
            self._dialect,
            job,
            event_id=self._event_id(),
            default_instructions=self._config.instructions,
        )
        await self.send(event)
        return await self._collect_response(job)

    async def run_respond(self, job: Job) -> JobReply:
        """Stream a job's audio, then answer it with an out-of-band response."""
        item_id = await self._send_audio(job)
        try:
            event = protocol.response_create(
                self._dialect,
                job,
                event_id=self._event_id(),
                default_instructions=self._config.instructions,
                audio_item_id=item_id,
            )
            await self.send(event)
            return await self._collect_response(job)
        finally:
            await self._tidy(protocol.delete_item_event(item_id, self._event_id()))

    async def run_transcribe(self, job: Job) -> JobReply:
        """Stream a job's audio into a transcription session and read its transcript."""
        options = job.transcription
        settings = protocol.transcription_settings(
            (options.model if options else None) or self._config.transcription_model,
            (options.language if options else None) or self._config.language,
            options.prompt if options else None,
        )
        if settings != self._transcription:
            await self._update(
                protocol.session_update(
                    self._dialect,
                    "transcription",
                    audio_format=self._config.audio_format,
                    transcription=settings,
                )
            )
            self._transcription = settings
        item_id = await self._send_audio(job)
        return await self._collect_transcript(item_id)

    async def _send_audio(self, job: Job) -> str:
        from rtbatch.audio import open_chunk_stream

        assert job.audio is not None
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
        committed = await self.wait_for("input_audio_buffer.committed")
        return str(committed["item_id"])

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

    async def _collect_response(self, job: Job) -> JobReply:
        async with AudioSink.for_job(self._config.audio_out, job) as sink:

            def want(event: Event) -> bool:
                if event["type"] == "response.output_audio.delta":
                    sink.add_b64(event.get("delta", ""))
                    return False
                return event["type"] == "response.done" and _for_job(event, job.id)

            done = await self.next_event(want)
            return await _reply(done.get("response") or {}, sink)

    async def _collect_transcript(self, item_id: str) -> JobReply:
        event = await self.next_event(
            lambda e: e["type"] in _TRANSCRIPTION_ENDS and e.get("item_id") == item_id
        )
        if event["type"].endswith(".failed"):
            raise classify_server_error(event.get("error"))
        return JobReply(
            status="completed",
            output={"transcript": event.get("transcript", "")},
            usage=event.get("usage"),
            response_id=None,
        )


def _for_job(done: Event, job_id: str) -> bool:
    """Whether a ``response.done`` answers this job (by the metadata it echoes).

    Only one job runs on a session at a time, so a mismatch means a stray
    response, which must not be written under this job's id.
    """
    metadata = (done.get("response") or {}).get("metadata")
    if not isinstance(metadata, dict) or "job_id" not in metadata:
        return True  # a server that does not echo metadata: one job at a time decides
    matches = metadata["job_id"] == protocol.metadata_job_id(job_id)
    if not matches:
        log.warning("ignored a response.done for another job (%s)", metadata["job_id"])
    return bool(matches)


async def _reply(response: Mapping[str, Any], sink: AudioSink) -> JobReply:
    result = protocol.read_response(dict(response))
    if result.status == "failed":
        raise classify_server_error(result.error)
    if result.status not in ("completed", "incomplete"):
        raise errors.ServerError(f"the response ended {result.status}", code=result.status)
    output: dict[str, Any] = {"text": result.text}
    if result.transcript is not None:
        output["transcript"] = result.transcript
    audio_path = await sink.finish()
    if audio_path is not None:
        output["audio_path"] = audio_path
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


async def check_tls(url: str, ssl_context: ssl.SSLContext | None, timeout_s: float) -> None:
    """Fail fast, and clearly, when a ``wss://`` server's certificate is not trusted.

    trio-websocket reports a failed TLS handshake only as a connect timeout, which
    would look transient and be retried; so a run first completes one TLS
    handshake of its own. Other failures are left to the workers' connects.

    Raises:
        HandshakeRefused: the certificate failed verification (run-fatal).
    """
    parts = urlsplit(url)
    if parts.scheme != "wss" or not parts.hostname:
        return
    context = ssl_context or ssl.create_default_context()
    try:
        with trio.fail_after(timeout_s):
            stream = await trio.open_ssl_over_tcp_stream(
                parts.hostname, parts.port or 443, ssl_context=context, https_compatible=True
            )
            async with stream:
                await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise errors.HandshakeRefused(
                f"TLS certificate of {parts.hostname} not trusted: {cause.verify_message}"
                " (to trust a private CA, set SSL_CERT_FILE)",
                code="tls_certificate",
            ) from exc
    except (OSError, trio.TooSlowError):
        return


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

    Raises:
        RtbatchError: the translated failure (handshake refused, connection lost,
            authentication, …). A failure while closing after a clean exit is
            logged, not raised: the jobs it served are already done.
    """
    url = protocol.connect_url(config.url, config.model, kind)
    headers = protocol.handshake_headers(config.api_key.reveal(), config.dialect)
    body_done = False
    try:
        async with connect(url, headers, config.timeouts, ssl_context) as ws:
            session = Session(ws, config, kind, on_rate_limits)
            await session.start()
            yield session
            body_done = True
    except WS_ERRORS as exc:
        if body_done:
            log.debug("error while closing a session: %r", exc)
            return
        raise translate(exc) from exc
