"""A client WebSocket (RFC 6455), read by the one task that uses it.

Why not trio-websocket on the client side: it reads every connection in a task of
its own and hands each message to the user's task over a memory channel, so each of
the twenty-odd events of a response cost a task switch and a channel round trip,
and wsproto's generic, generator-driven frame decoder ran for every frame. At
C = 500 those two were over 40 % of the client's CPU and the run was CPU-bound.
Here the session's own task reads: one ``receive_some`` yields every frame it holds,
and they are handed out from a deque with no switch at all. A client's frames are
simple to read (the server never masks, and rtbatch offers no extension), so they
are parsed here; the HTTP upgrade is h11's (the parser wsproto itself uses). The
emulator, a server, keeps trio-websocket.

One task per connection: the session sends and receives from the task that runs
its job. trio raises ``BusyResourceError`` if two tasks ever used one stream at
once, a bug of ours, never taken for a lost connection.

Every failure is a :class:`WebSocketError` (or the ``OSError`` of a connect);
:mod:`rtbatch.transport` translates them once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import h11
import trio

__all__ = [
    "CloseTimeout",
    "Closed",
    "ConnectTimeout",
    "HandshakeFailed",
    "Headers",
    "Rejected",
    "WebSocket",
    "WebSocketError",
    "open_websocket",
]

Headers = list[tuple[bytes, bytes]]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# Close codes (RFC 6455, section 7.4.1).
NORMAL, PROTOCOL_ERROR, NO_STATUS, ABNORMAL, INVALID_DATA, TOO_BIG = (
    1000,
    1002,
    1005,
    1006,
    1007,
    1009,
)
# Codes a peer may not put on the wire: 1004-1006 and 1015 are reserved, 1016-2999 unassigned.
_RESERVED_CODES = frozenset({1004, NO_STATUS, ABNORMAL, 1015})
# The extended payload lengths (section 5.2): the header's size, and the least
# length that may use the form (a shorter one must use the form before).
_EXTENDED = {126: (4, 126), 127: (10, 65536)}
# A refusal's body is read for its message only; a server may send a page.
_REJECTION_BODY_BYTES = 64 * 1024


class WebSocketError(Exception):
    """A WebSocket failure: connecting, the upgrade, or the connection closed or broke."""


class ConnectTimeout(WebSocketError):
    """The TCP connect, TLS and the upgrade did not complete within the connect timeout."""


class HandshakeFailed(WebSocketError):
    """The server's answer to the upgrade was no WebSocket's (or the link broke during it)."""


class Rejected(WebSocketError):
    """The server answered the upgrade with an HTTP status other than 101."""

    def __init__(self, status_code: int, headers: Headers, body: bytes) -> None:
        super().__init__(f"the upgrade was refused with HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers
        self.body = body


class Closed(WebSocketError):
    """The connection is closed: by the peer's close frame, a broken link, or a peer's
    protocol violation (then ``code`` is the one rtbatch closed with)."""

    def __init__(self, code: int, reason: str | None) -> None:
        super().__init__(f"closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class CloseTimeout(WebSocketError):
    """The peer did not answer rtbatch's close frame within the close timeout."""


class _Violation(Exception):
    """The peer broke the protocol: the connection fails with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# XOR with each byte value as a translation table: masking is then four C passes
# over every fourth byte. Measured on a 128 KiB audio chunk: 224 us, against 519 us
# for one XOR of two big integers (which is 0.7 us faster on a 200-byte event).
_XOR_TABLES = [bytes(value ^ key for value in range(256)) for key in range(256)]


def encode_frame(opcode: int, payload: bytes) -> bytearray:
    """One final, masked client frame (a client must mask every frame, section 5.3).

    Built in one buffer and masked in place: an audio chunk is copied once, not
    three times (into a buffer, back to bytes, then after the header).
    """
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    frame = bytearray(head + key)
    start = len(frame)
    frame += payload
    for offset, key_byte in enumerate(key):
        lane = slice(start + offset, None, 4)
        frame[lane] = frame[lane].translate(_XOR_TABLES[key_byte])
    return frame


def _close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[:123]


class FrameReader:
    """The server's frames, parsed from the bytes as they come: pure, no I/O.

    :meth:`feed` takes bytes and returns every whole message they complete; control
    frames are answered by what :meth:`take_replies` returns (pongs, the close
    echo), to be sent by the caller.
    """

    def __init__(self, max_message_bytes: int) -> None:
        self._max = max_message_bytes
        self._rest = bytearray()  # the start of a frame not yet whole
        self._need = 2  # bytes of that frame needed before it is parsed again
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = _TEXT
        self._fragment_size = 0
        self._replies: list[bytes | bytearray] = []
        self.pongs: set[bytes] = set()
        #: The peer's close (code, reason), once its close frame came.
        self.closed: tuple[int, str | None] | None = None

    def feed(self, data: bytes | bytearray) -> list[str | bytes]:
        """The whole messages ``data`` completes, in order.

        Raises:
            _Violation: the peer broke the protocol (the frames after it are not read).
        """
        if self.closed is not None:
            return []  # nothing after a close frame is read (section 5.5.1)
        rest = self._rest
        if rest:
            rest += data
            if len(rest) < self._need:
                return []  # a long frame still coming: no copy until it is whole
            chunk = bytes(rest)
            rest.clear()
        else:
            chunk = bytes(data)
        messages: list[str | bytes] = []
        pos, end = 0, len(chunk)
        self._need = 2  # a header's first two bytes, until a frame says it needs more
        try:
            while end - pos >= 2 and self.closed is None:
                first, second = chunk[pos], chunk[pos + 1]
                size = second & 0x7F
                head = 2
                if size >= 126:
                    head, least = _EXTENDED[size]
                    if end - pos < head:
                        self._need = head
                        break
                    size = int.from_bytes(chunk[pos + 2 : pos + head], "big")
                    if size < least or size >> 63:
                        raise _Violation(PROTOCOL_ERROR, "a payload length not minimal")
                if second & 0x80:
                    raise _Violation(PROTOCOL_ERROR, "a masked frame from the server")
                if first & 0x70:
                    raise _Violation(PROTOCOL_ERROR, "reserved bits set (no extension agreed)")
                if size + self._fragment_size > self._max:
                    raise _Violation(TOO_BIG, f"a message over {self._max} bytes")
                stop = pos + head + size
                if stop > end:
                    self._need = stop - pos
                    break
                message = self._frame(first, chunk[pos + head : stop])
                pos = stop
                if message is not None:
                    messages.append(message)
        finally:
            if self.closed is None and pos < end:
                rest += chunk[pos:]
        return messages

    def take_replies(self) -> bytes:
        """The frames owed to the peer (pongs, the close echo), once."""
        replies, self._replies = b"".join(self._replies), []
        return replies

    def _frame(self, first: int, payload: bytes) -> str | bytes | None:
        opcode = first & 0x0F
        final = first & 0x80
        if opcode == _TEXT and final and self._fragments is None:
            try:  # the common case first: a whole text message
                return payload.decode()
            except UnicodeDecodeError:
                raise _Violation(INVALID_DATA, "a text message that is not UTF-8") from None
        if opcode >= 0x8:
            if not final or len(payload) > 125:
                raise _Violation(PROTOCOL_ERROR, "a fragmented or oversized control frame")
            self._control(opcode, payload)
            return None
        whole: bytes
        if opcode == _CONTINUATION:
            if self._fragments is None:
                raise _Violation(PROTOCOL_ERROR, "a continuation frame with nothing to continue")
            self._fragments.append(payload)
            self._fragment_size += len(payload)
            if not final:
                return None
            opcode, whole = self._fragment_opcode, b"".join(self._fragments)
            self._fragments, self._fragment_size = None, 0
        elif opcode in (_TEXT, _BINARY):
            if self._fragments is not None:
                raise _Violation(PROTOCOL_ERROR, "a new message inside a fragmented one")
            whole = payload
            if not final:
                self._fragments, self._fragment_opcode = [whole], opcode
                self._fragment_size = len(whole)
                return None
        else:
            raise _Violation(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if opcode == _BINARY:
            return whole
        try:
            return whole.decode()
        except UnicodeDecodeError:
            raise _Violation(INVALID_DATA, "a text message that is not UTF-8") from None

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            self._replies.append(encode_frame(_PONG, payload))
        elif opcode == _PONG:
            self.pongs.add(payload)
        elif opcode == _CLOSE:
            self.closed = _read_close(payload)
            code = NORMAL if self.closed[0] == NO_STATUS else self.closed[0]
            self._replies.append(encode_frame(_CLOSE, _close_payload(code)))
        else:
            raise _Violation(PROTOCOL_ERROR, f"unknown control opcode {opcode:#x}")


def _read_close(payload: bytes) -> tuple[int, str | None]:
    if not payload:
        return NO_STATUS, None
    if len(payload) == 1:
        raise _Violation(PROTOCOL_ERROR, "a close frame of one byte")
    code = int.from_bytes(payload[:2], "big")
    if code < 1000 or code in _RESERVED_CODES or 1016 <= code < 3000 or code >= 5000:
        raise _Violation(PROTOCOL_ERROR, f"close code {code} is not allowed on the wire")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise _Violation(INVALID_DATA, "a close reason that is not UTF-8") from None
    return code, reason or None


class WebSocket:
    """An open client WebSocket. Create with :func:`open_websocket`."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        leftover: bytes,
        *,
        max_message_bytes: int,
        receive_bytes: int,
    ) -> None:
        self._stream = stream
        self._reader = FrameReader(max_message_bytes)
        self._receive_bytes = receive_bytes
        self._pending: deque[str | bytes] = deque()
        self._closed: Closed | None = None  # once set, no frame is sent or read again
        self._close_sent = False
        self._leftover = leftover

    @property
    def closed(self) -> Closed | None:
        """Why the connection closed, once it has."""
        return self._closed

    async def get_message(self) -> str | bytes:
        """The next message; those received before a close are still handed out.

        Raises:
            Closed: the connection closed, and every message before it was taken.
        """
        while not self._pending:
            await self._fill()
        return self._pending.popleft()

    async def send_message(self, message: str | bytes) -> None:
        """Send one message, text for a ``str``.

        Raises:
            Closed: the connection closed or broke (a send cut short breaks it).
        """
        if isinstance(message, str):
            await self._send(encode_frame(_TEXT, message.encode()))
        else:
            await self._send(encode_frame(_BINARY, message))

    async def ping(self) -> None:
        """Send a ping and return when its pong comes (messages meanwhile are kept).

        Raises:
            Closed: the connection closed or broke before the pong.
        """
        payload = os.urandom(8)
        await self._send(encode_frame(_PING, payload))
        while payload not in self._reader.pongs:
            await self._fill()
        self._reader.pongs.clear()

    async def aclose(self) -> None:
        """Close: send a close frame and wait for the peer's, then close the stream.

        A connection already closed or broken only has its stream closed.
        """
        try:
            if self._closed is None:
                await self._send(encode_frame(_CLOSE, _close_payload(NORMAL)))
                self._close_sent = True
                while self._closed is None:
                    self._pending.clear()
                    await self._fill()
        except Closed:
            pass
        finally:
            await trio.aclose_forcefully(self._stream)

    async def _send(self, frame: bytes | bytearray) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            await self._stream.send_all(frame)
        except (trio.BrokenResourceError, OSError) as exc:
            raise self._break(f"send failed: {exc}") from exc
        except trio.Cancelled:
            # Part of the frame may be out: the stream can carry no other frame.
            self._break("a send was cut short")
            raise

    def _break(self, reason: str) -> Closed:
        self._closed = Closed(ABNORMAL, reason)
        return self._closed

    async def _fill(self) -> None:
        """Read once, keep every whole message; answer control frames."""
        if self._closed is not None:
            raise self._closed
        data: bytes | bytearray
        if self._leftover:
            data, self._leftover = self._leftover, b""
        else:
            try:
                data = await self._stream.receive_some(self._receive_bytes)
            except (trio.BrokenResourceError, OSError) as exc:
                raise self._break(f"receive failed: {exc}") from exc
            if not data:
                raise self._break("the peer closed the connection without a close frame")
        reader = self._reader
        try:
            self._pending.extend(reader.feed(data))
        except _Violation as exc:
            self._closed = Closed(exc.code, exc.reason)
            await self._last_words(encode_frame(_CLOSE, _close_payload(exc.code, exc.reason)))
            return
        replies = reader.take_replies()
        if reader.closed is not None:
            self._closed = Closed(*reader.closed)
            await self._last_words(replies)  # the echo of the peer's close
            return
        if replies:
            await self._send(replies)

    async def _last_words(self, frames: bytes | bytearray) -> None:
        """Frames ending in our close frame, unless ours went out already (one per connection).

        Best effort: the connection is over either way.
        """
        if self._close_sent:
            return
        with suppress(trio.BrokenResourceError, OSError):
            await self._stream.send_all(frames)


def _accept_token(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


async def _upgrade(
    stream: trio.abc.Stream, host: str, target: str, headers: Headers, receive_bytes: int
) -> bytes:
    """The HTTP upgrade (section 4.1); the bytes read past the server's answer.

    Raises:
        Rejected: the server answered with another status than 101.
        HandshakeFailed: the answer was no WebSocket's, or the link broke.
    """
    key = base64.b64encode(os.urandom(16))
    http = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=target,
        headers=[
            (b"Host", host.encode()),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key),
            (b"Sec-WebSocket-Version", b"13"),
            *headers,
        ],
    )
    try:
        await stream.send_all(http.send(request) or b"")
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(bytes(await stream.receive_some(receive_bytes)))
            elif isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                _check_accept(dict(event.headers), key)
                return bytes(http.trailing_data[0])
            elif isinstance(event, h11.Response):
                raise Rejected(event.status_code, list(event.headers), await _body(http, stream))
            elif isinstance(event, h11.ConnectionClosed):
                raise HandshakeFailed("the server closed the connection during the upgrade")
    except h11.ProtocolError as exc:
        raise HandshakeFailed(f"the answer to the upgrade is not HTTP: {exc}") from exc
    except (trio.BrokenResourceError, OSError) as exc:
        raise HandshakeFailed(f"the connection broke during the upgrade: {exc}") from exc


def _check_accept(headers: dict[bytes, bytes], key: bytes) -> None:
    # h11 lower-cases header names.
    if headers.get(b"upgrade", b"").lower() != b"websocket":
        raise HandshakeFailed("the server switched to another protocol than WebSocket")
    if headers.get(b"sec-websocket-accept") != _accept_token(key):
        raise HandshakeFailed("the server's Sec-WebSocket-Accept does not match the key")
    if headers.get(b"sec-websocket-extensions"):
        raise HandshakeFailed("the server named an extension rtbatch did not offer")


async def _body(http: h11.Connection, stream: trio.abc.Stream) -> bytes:
    body = bytearray()
    while len(body) < _REJECTION_BODY_BYTES:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(bytes(await stream.receive_some(_REJECTION_BODY_BYTES)))
        elif isinstance(event, h11.Data):
            body += event.data
        else:
            break
    return bytes(body[:_REJECTION_BODY_BYTES])


@asynccontextmanager
async def open_websocket(
    url: str,
    headers: Headers,
    *,
    ssl_context: ssl.SSLContext | None,
    connect_timeout_s: float,
    close_timeout_s: float,
    max_message_bytes: int,
    receive_bytes: int,
) -> AsyncIterator[WebSocket]:
    """A client WebSocket to ``url`` (``ws://`` or ``wss://``), closed on exit.

    The close handshake runs on a clean exit only; leaving with an error or a
    cancellation closes the stream at once, as a dead link would be.

    Raises:
        ConnectTimeout: no open WebSocket within ``connect_timeout_s``.
        Rejected, HandshakeFailed: the upgrade failed.
        OSError: the TCP connect failed (refused, unreachable, no such host).
        CloseTimeout: the peer did not answer the close within ``close_timeout_s``.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r}")
    if secure and ssl_context is None:
        # A default context per connection parses the system's CA bundle each time
        # (18 ms): the caller builds one and shares it (rtbatch.transport.tls_context).
        raise ValueError("a wss:// URL needs an ssl_context")
    default_port = 443 if secure else 80
    port = parts.port or default_port
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    host = name if port == default_port else f"{name}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stream: trio.abc.Stream
    with trio.move_on_after(connect_timeout_s) as connecting:
        if secure:
            stream = await trio.open_ssl_over_tcp_stream(
                parts.hostname,
                port,
                ssl_context=ssl_context,
                https_compatible=True,
            )
        else:
            stream = await trio.open_tcp_stream(parts.hostname, port)
        try:
            leftover = await _upgrade(stream, host, target, headers, receive_bytes)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    if connecting.cancelled_caught:
        raise ConnectTimeout(f"no WebSocket within {connect_timeout_s:g} s")
    ws = WebSocket(
        stream, leftover, max_message_bytes=max_message_bytes, receive_bytes=receive_bytes
    )
    try:
        yield ws
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    with trio.move_on_after(close_timeout_s) as closing:
        await ws.aclose()  # closes the stream however it ends
    if closing.cancelled_caught:
        raise CloseTimeout(f"no close frame within {close_timeout_s:g} s")
