"""Opening a Realtime WebSocket, and the one place its failures are translated.

Only failures of the network are network failures: connecting (TCP, TLS, the HTTP
upgrade), reading, sending and closing. :func:`translate` turns each exception
trio-websocket (or the socket under it) raises into an :mod:`rtbatch.errors`
class; :data:`WS_ERRORS` lists every class it maps, and a test fails if
trio-websocket ever exports one that is missing. Nothing above this module and
:mod:`rtbatch.session` sees a WebSocket type.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from urllib.parse import urlsplit

import trio
import trio_websocket as tw

from rtbatch import errors
from rtbatch.config import Timeouts
from rtbatch.defaults import MAX_MESSAGE_BYTES, MESSAGE_QUEUE_SIZE, RECEIVE_BUFFER_BYTES
from rtbatch.retry import classify_close, classify_status

Headers = list[tuple[bytes, bytes]]
Connection = tw.WebSocketConnection
#: How a session opens its socket: the test seam (an emulator in a fixture, a proxy
#: that drops the link) and the production default, :func:`connect_websocket`.
ConnectFn = Callable[
    [str, Headers, Timeouts, "ssl.SSLContext | None"],
    AbstractAsyncContextManager[Connection],
]

#: Every exception class trio-websocket exports (and the socket errors under it),
#: each mapped by :func:`translate`. Order matters: subclasses first.
WS_ERRORS: tuple[type[BaseException], ...] = (
    tw.ConnectionRejected,
    tw.ConnectionTimeout,
    tw.DisconnectionTimeout,
    tw.ConnectionClosed,
    tw.HandshakeError,
    OSError,
)


def connect_websocket(
    url: str, headers: Headers, timeouts: Timeouts, ssl_context: ssl.SSLContext | None
) -> AbstractAsyncContextManager[Connection]:
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
    """The rtbatch error for a trio-websocket or socket failure.

    Raises:
        TypeError: ``exc`` is not one of :data:`WS_ERRORS` (a bug: only network
            failures may be translated).
    """
    if isinstance(exc, tw.ConnectionRejected):
        retry_after = dict(exc.headers or ()).get(b"retry-after")
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


async def send(ws: Connection, frame: str) -> None:
    """Send one text frame.

    Raises:
        RtbatchError: the translated failure (the connection closed or broke).
    """
    try:
        await ws.send_message(frame)
    except WS_ERRORS as exc:
        raise translate(exc) from exc


async def receive(ws: Connection) -> str | bytes:
    """Receive one message (frames received before a close are still handed out).

    Raises:
        RtbatchError: the translated failure (the connection closed or broke).
    """
    try:
        return await ws.get_message()
    except WS_ERRORS as exc:
        raise translate(exc) from exc


async def ping(ws: Connection, timeout_s: float) -> None:
    """Probe a silent peer.

    Raises:
        ConnectionLost: no pong within ``timeout_s``, or the connection broke.
    """
    with trio.move_on_after(timeout_s) as waiting:
        try:
            await ws.ping()
        except WS_ERRORS as exc:
            raise translate(exc) from exc
    if waiting.cancelled_caught:
        raise errors.ConnectionLost("no answer to a ping", code="ping_timeout")


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
