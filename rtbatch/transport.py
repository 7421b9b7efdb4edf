"""Opening a Realtime WebSocket, and the one place its failures are translated.

Only failures of the network are network failures: connecting (TCP, TLS, the HTTP
upgrade), reading, sending and closing. :func:`translate` turns each exception
:mod:`rtbatch.websocket` (or the socket under it) raises into an
:mod:`rtbatch.errors` class; :data:`WS_ERRORS` lists every class it maps, and a
test fails if the WebSocket module ever defines one that is missing. Nothing above
this module and :mod:`rtbatch.session` sees a WebSocket type.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from urllib.parse import urlsplit

import trio

from rtbatch import errors
from rtbatch import websocket as ws_
from rtbatch.config import Timeouts
from rtbatch.defaults import MAX_MESSAGE_BYTES, RECEIVE_BUFFER_BYTES, UNREACHABLE_FIRST_PAUSE_S
from rtbatch.retry import classify_close, classify_status

Headers = ws_.Headers
Connection = ws_.WebSocket
#: How a session opens its socket: the test seam (an emulator in a fixture, a proxy
#: that drops the link) and the production default, :func:`connect_websocket`.
ConnectFn = Callable[
    [str, Headers, Timeouts, "ssl.SSLContext | None"],
    AbstractAsyncContextManager[Connection],
]

#: Every exception class :mod:`rtbatch.websocket` defines (and the socket errors of
#: a connect), each mapped by :func:`translate`.
WS_ERRORS: tuple[type[BaseException], ...] = (
    ws_.Rejected,
    ws_.ConnectTimeout,
    ws_.CloseTimeout,
    ws_.Closed,
    ws_.HandshakeFailed,
    OSError,
)


def tls_context(url: str, given: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """The TLS settings every connection of a run shares: ``given``, else the system's.

    Built once per run, not per connection: ``ssl.create_default_context()`` reads
    and parses the system's whole CA bundle (18 ms for Debian's 140 certificates
    here), so one per connection cost a ``-c 500`` run 9 s of CPU before its first
    job, and every reconnection paid it again. ``None`` for a ``ws://`` URL.
    """
    if given is not None or urlsplit(url).scheme != "wss":
        return given
    return ssl.create_default_context()


def connect_websocket(
    url: str, headers: Headers, timeouts: Timeouts, ssl_context: ssl.SSLContext | None
) -> AbstractAsyncContextManager[Connection]:
    """The default connect function: :mod:`rtbatch.websocket` with limits fit for audio events."""
    return ws_.open_websocket(
        url,
        headers,
        ssl_context=ssl_context,
        connect_timeout_s=timeouts.connect_s,
        close_timeout_s=timeouts.close_s,
        max_message_bytes=MAX_MESSAGE_BYTES,
        receive_bytes=RECEIVE_BUFFER_BYTES,
    )


def translate(exc: BaseException) -> errors.RtbatchError:
    """The rtbatch error for a WebSocket or socket failure.

    Raises:
        TypeError: ``exc`` is not one of :data:`WS_ERRORS` (a bug: only network
            failures may be translated).
    """
    if isinstance(exc, ws_.Rejected):
        retry_after = dict(exc.headers).get(b"retry-after")
        return classify_status(exc.status_code, retry_after.decode() if retry_after else None)
    if isinstance(exc, ws_.ConnectTimeout):
        return errors.ResponseTimeout("timed out opening the WebSocket", code="connect_timeout")
    if isinstance(exc, ws_.CloseTimeout):
        return errors.ConnectionLost("timed out closing the WebSocket", code="close_timeout")
    if isinstance(exc, ws_.Closed):
        return classify_close(exc.code, exc.reason)
    if isinstance(exc, ws_.HandshakeFailed | OSError):
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


async def check_endpoint(
    url: str, ssl_context: ssl.SSLContext | None, timeout_s: float, patience_s: float
) -> None:
    """Fail fast, and clearly, where the endpoint cannot serve any job of the run.

    Before the workers dial, one TCP connection is made to the URL's host and port.
    Where nothing accepts it (refused, no such host, no route), it is tried again
    with a doubling pause for ``patience_s``, which covers a service restarting, and
    then the run stops: every worker would otherwise retry its jobs against nothing
    until their attempts ran out, for minutes, and fail them. For ``wss://``, the
    TLS handshake follows: a failed one breaks the WebSocket's upgrade, which looks
    like a lost connection and would be retried too. Other failures (a connect that
    times out, a reset) are left to the workers' connects.

    Raises:
        EndpointUnreachable: nothing accepted a connection for ``patience_s`` (run-fatal).
        HandshakeRefused: the certificate failed verification (run-fatal).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    give_up = trio.current_time() + patience_s
    # Not retry.backoff_s: no jitter here (one preflight, no crowd to spread), so
    # the stop comes exactly at the patience and a late service is met on time.
    pause = UNREACHABLE_FIRST_PAUSE_S
    while True:
        try:
            with trio.fail_after(timeout_s):
                stream = await trio.open_tcp_stream(host, port)
            break
        except trio.TooSlowError:
            return
        except OSError as exc:
            now = trio.current_time()
            if now >= give_up:
                raise errors.EndpointUnreachable(
                    f"nothing accepts connections at {host}:{port} ({_reason(exc)}),"
                    f" tried for {patience_s:g} s: check --url",
                    code="unreachable",
                ) from exc
            await trio.sleep(min(pause, give_up - now))
            pause *= 2
    async with stream:
        context = tls_context(url, ssl_context)
        if context is not None:
            await _check_certificate(stream, host, context, timeout_s)


def _reason(exc: OSError) -> str:
    """The socket's own words: trio's connect wraps each address's error in a group."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        first = cause.exceptions[0]
        if isinstance(first, OSError) and first.errno and first.errno > 0:
            return os.strerror(first.errno)  # "Connection refused", without the address again
    return exc.strerror or str(exc)  # a failed lookup: "Name or service not known"


async def _check_certificate(
    stream: trio.SocketStream, host: str, ssl_context: ssl.SSLContext, timeout_s: float
) -> None:
    tls = trio.SSLStream(
        stream,
        ssl_context,
        server_hostname=host,
        https_compatible=True,
    )
    try:
        with trio.fail_after(timeout_s):
            await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise errors.HandshakeRefused(
                f"TLS certificate of {host} not trusted: {cause.verify_message}"
                " (to trust a private CA, set SSL_CERT_FILE)",
                code="tls_certificate",
            ) from exc
    except (OSError, trio.TooSlowError):
        return
