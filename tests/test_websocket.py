"""rtbatch.websocket: the client's frames against wsproto's, and the connection over loopback.

The frame reader is judged against wsproto as the reference: wsproto's server side
encodes (it never masks), rtbatch's reader decodes, in chunks cut at random places;
rtbatch's masked client frames are decoded by wsproto's server side. Every rule a
server can break ends the connection with the code RFC 6455 gives. Over a real
socket, trio-websocket's server is the peer: echo, ping, the server's close, a
refused upgrade, answers that are no WebSocket's, and the connect and close
deadlines on the virtual clock. Network rules as in tests/harness.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

import pytest
import trio
import trio.testing
import trio_websocket as tw
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from rtbatch import websocket as ws_
from rtbatch.websocket import FrameReader, _Violation, encode_frame

MAX = 1 << 20

_MESSAGES = st.lists(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        # The 64-bit length form: a long text from a short one (hypothesis draws few kB).
        st.text(min_size=1, max_size=4).map(lambda t: t * 20_000),
    ),
    min_size=1,
    max_size=12,
)


def _server_frames(messages: list[str | bytes], splits: list[int], pings: bool) -> bytes:
    """``messages`` as a server sends them: some fragmented, a ping between them."""
    server = FrameProtocol(client=False, extensions=[])
    wire = bytearray()
    for index, message in enumerate(messages):
        cut = splits[index % len(splits)] if splits else 0
        if 0 < cut < len(message):
            wire += server.send_data(message[:cut], fin=False)
            if pings:
                wire += server.ping(b"p%d" % index)  # a control frame inside a message
            wire += server.send_data(message[cut:], fin=True)
        else:
            wire += server.send_data(message, fin=True)
    return bytes(wire)


@settings(max_examples=150, deadline=None)
@given(
    messages=_MESSAGES,
    splits=st.lists(st.integers(min_value=0, max_value=400), max_size=5),
    # Cuts of a few bytes fall inside headers; long ones end inside long payloads.
    chunks=st.lists(
        st.integers(min_value=1, max_value=12) | st.integers(min_value=1, max_value=90_000),
        min_size=1,
        max_size=20,
    ),
    pings=st.booleans(),
)
def test_reader_decodes_what_wsproto_encodes(
    messages: list[str | bytes], splits: list[int], chunks: list[int], pings: bool
) -> None:
    """Every message whole and in order, however the bytes are cut; every ping answered."""
    wire = _server_frames(messages, splits, pings)
    reader = FrameReader(MAX)
    got: list[str | bytes] = []
    pos, turn = 0, 0
    while pos < len(wire):
        size = chunks[turn % len(chunks)]
        got += reader.feed(wire[pos : pos + size])
        pos, turn = pos + size, turn + 1
    assert got == messages
    replies = FrameProtocol(client=False, extensions=[])
    replies.receive_bytes(reader.take_replies())
    pongs = [f.payload for f in replies.received_frames() if f.opcode is Opcode.PONG]
    fragmented = [
        i for i, m in enumerate(messages) if 0 < (splits[i % len(splits)] if splits else 0) < len(m)
    ]
    assert pongs == ([b"p%d" % i for i in fragmented] if pings else [])


@settings(max_examples=100, deadline=None)
@given(
    payload=st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.binary(min_size=1, max_size=8).map(lambda b: b * 9000),
    )
)
def test_client_frames_are_masked_and_read_by_wsproto(payload: str | bytes) -> None:
    """A server (wsproto, which refuses unmasked client frames) reads what rtbatch sends."""
    opcode = 0x1 if isinstance(payload, str) else 0x2
    data = payload.encode() if isinstance(payload, str) else payload
    frame = encode_frame(opcode, data)
    assert frame[1] & 0x80, "masked"
    server = FrameProtocol(client=False, extensions=[])
    server.receive_bytes(frame)
    (received,) = list(server.received_frames())
    assert received.payload == payload
    assert received.message_finished


def _head(first: int, size: int, form: int = 0) -> bytes:
    if form == 126 or (not form and 126 <= size < 65536):
        return bytes((first, 126)) + size.to_bytes(2, "big")
    if form == 127 or (not form and size >= 65536):
        return bytes((first, 127)) + size.to_bytes(8, "big")
    return bytes((first, size))


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        pytest.param(bytes((0x81, 0x82)) + b"\0\0\0\0ab", 1002, id="masked"),
        pytest.param(_head(0xC1, 2) + b"ab", 1002, id="rsv1"),
        pytest.param(_head(0x83, 0), 1002, id="reserved-opcode"),
        pytest.param(_head(0x8B, 0), 1002, id="reserved-control-opcode"),
        pytest.param(_head(0x81, 5, form=126) + b"hello", 1002, id="length-not-minimal-16"),
        pytest.param(_head(0x81, 200, form=127) + b"x" * 200, 1002, id="length-not-minimal-64"),
        pytest.param(_head(0x80, 1) + b"x", 1002, id="continuation-of-nothing"),
        pytest.param(_head(0x01, 1) + b"x" + _head(0x81, 1) + b"y", 1002, id="text-in-fragment"),
        pytest.param(_head(0x09, 0), 1002, id="fragmented-ping"),
        pytest.param(_head(0x89, 126) + b"x" * 126, 1002, id="ping-over-125"),
        pytest.param(_head(0x88, 1) + b"\x03", 1002, id="close-of-one-byte"),
        pytest.param(_head(0x88, 2) + (1005).to_bytes(2, "big"), 1002, id="close-1005"),
        pytest.param(_head(0x88, 2) + (999).to_bytes(2, "big"), 1002, id="close-999"),
        pytest.param(_head(0x88, 2) + (2000).to_bytes(2, "big"), 1002, id="close-2000"),
        pytest.param(_head(0x88, 4) + (1000).to_bytes(2, "big") + b"\xff\xfe", 1007, id="reason"),
        pytest.param(_head(0x81, 2) + b"\xc3\x28", 1007, id="text-not-utf8"),
        pytest.param(_head(0x01, 1) + b"\xc3" + _head(0x80, 1) + b"\x28", 1007, id="split-utf8"),
        pytest.param(_head(0x82, MAX + 1), 1009, id="too-big-before-its-payload"),
        pytest.param(
            _head(0x02, MAX) + b"x" * MAX + _head(0x80, 1) + b"y", 1009, id="too-big-in-parts"
        ),
    ],
)
def test_a_server_breaking_the_protocol_fails_with_its_code(wire: bytes, code: int) -> None:
    """Each rule of RFC 6455 a server can break, and the close code the client answers with."""
    with pytest.raises(_Violation) as caught:
        FrameReader(MAX).feed(wire)
    assert caught.value.code == code


def test_a_long_frame_then_a_cut_header_waits_only_for_the_header() -> None:
    """After a long frame, a header cut inside its extended length waits for 4 bytes only."""
    server = FrameProtocol(client=False, extensions=[])
    long, short = bytes(server.send_data("x" * 70_000)), bytes(server.send_data("y" * 200))
    reader = FrameReader(MAX)
    assert reader.feed(long[:1000]) == []
    assert reader.feed(long[1000:] + short[:3]) == ["x" * 70_000]
    assert reader.feed(short[3:]) == ["y" * 200]


def test_a_close_ends_reading_and_is_echoed() -> None:
    """The messages before a close are kept, nothing after it is read, the code echoed."""
    server = FrameProtocol(client=False, extensions=[])
    wire = server.send_data("before") + server.close(4000, "bye") + server.send_data("after")
    reader = FrameReader(MAX)
    assert reader.feed(bytes(wire)) == ["before"]
    assert reader.closed == (4000, "bye")
    echo = FrameProtocol(client=False, extensions=[])
    echo.receive_bytes(reader.take_replies())
    (frame,) = list(echo.received_frames())
    assert frame.opcode is Opcode.CLOSE
    assert frame.payload == (4000, "")
    assert reader.feed(bytes(server.send_data("later"))) == []


def test_an_empty_close_reads_as_no_status() -> None:
    """A close frame with no payload is 1005 (no status), answered with 1000."""
    reader = FrameReader(MAX)
    reader.feed(_head(0x88, 0))
    assert reader.closed == (1005, None)
    echo = FrameProtocol(client=False, extensions=[])
    echo.receive_bytes(reader.take_replies())
    (frame,) = list(echo.received_frames())
    assert frame.opcode is Opcode.CLOSE
    assert frame.payload[0] == 1000  # 1005 may not be sent on the wire (section 7.4.1)


# -- over a socket -------------------------------------------------------------


def _open(
    port: int, path: str = "/v1/realtime", **overrides: float
) -> AbstractAsyncContextManager[ws_.WebSocket]:
    settings_ = {"connect_timeout_s": 5.0, "close_timeout_s": 5.0, **overrides}
    return ws_.open_websocket(
        f"ws://127.0.0.1:{port}{path}?model=m",
        [(b"authorization", b"Bearer sk-test")],
        ssl_context=None,
        connect_timeout_s=settings_["connect_timeout_s"],
        close_timeout_s=settings_["close_timeout_s"],
        max_message_bytes=MAX,
        receive_bytes=65536,
    )


async def _echo(request: tw.WebSocketRequest) -> None:
    assert request.path == "/v1/realtime?model=m"
    assert dict(request.headers)[b"authorization"] == b"Bearer sk-test"
    ws = await request.accept()
    await ws.send_message("hello")
    try:
        while True:
            message = await ws.get_message()
            if message == "close please":
                await ws.aclose(4001, "asked")
                return
            await ws.send_message(message)
    except tw.ConnectionClosed:
        pass


async def _serve(
    nursery: trio.Nursery, handler: Callable[[tw.WebSocketRequest], Awaitable[None]]
) -> int:
    server = await nursery.start(partial(tw.serve_websocket, handler, "127.0.0.1", 0, None))
    return int(server.port)


async def test_echo_ping_and_a_clean_close(nursery: trio.Nursery) -> None:
    """Text and binary both ways, a ping's pong, and the close handshake on exit."""
    port = await _serve(nursery, _echo)
    async with _open(port) as ws:
        assert await ws.get_message() == "hello"
        await ws.send_message("é" * 70_000)
        await ws.send_message(b"\x00\x01")
        await ws.ping()
        assert await ws.get_message() == "é" * 70_000
        assert await ws.get_message() == b"\x00\x01"
    assert ws.closed is not None
    assert ws.closed.code == 1000


async def test_the_servers_close_comes_after_its_messages(nursery: trio.Nursery) -> None:
    """Messages sent before a close are handed out, then the close with its code and reason."""
    port = await _serve(nursery, _echo)
    async with _open(port) as ws:
        assert await ws.get_message() == "hello"
        await ws.send_message("one")
        await ws.send_message("close please")
        assert await ws.get_message() == "one"
        with pytest.raises(ws_.Closed) as caught:
            await ws.get_message()
        assert (caught.value.code, caught.value.reason) == (4001, "asked")
        with pytest.raises(ws_.Closed):
            await ws.send_message("too late")


async def test_a_refused_upgrade_carries_status_headers_and_body(nursery: trio.Nursery) -> None:
    """HTTP 429 with Retry-After, as the service refuses a handshake."""

    async def refuse(request: tw.WebSocketRequest) -> None:
        await request.reject(429, extra_headers=[(b"Retry-After", b"7")], body=b'{"error":1}')

    port = await _serve(nursery, refuse)
    with pytest.raises(ws_.Rejected) as caught:
        async with _open(port):
            pass  # pragma: no cover
    assert caught.value.status_code == 429
    assert dict(caught.value.headers)[b"retry-after"] == b"7"
    assert caught.value.body == b'{"error":1}'


async def _read_request(stream: trio.SocketStream) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request:
        request += await stream.receive_some(4096)
    return request


async def _raw_server(nursery: trio.Nursery, answer: bytes | None) -> int:
    """A TCP server that reads the request and answers ``answer`` (None: nothing, ever)."""

    async def handle(stream: trio.SocketStream) -> None:
        await _read_request(stream)
        if answer is None:
            await trio.sleep_forever()
        await stream.send_all(answer)
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.2\r\n", id="not-http"),
        pytest.param(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + base64.b64encode(b"x" * 20) + b"\r\n\r\n",
            id="wrong-accept",
        ),
        pytest.param(b"", id="closed-at-once"),
    ],
)
async def test_an_answer_that_is_no_websockets_fails_the_handshake(
    nursery: trio.Nursery, answer: bytes
) -> None:
    """A server that is no WebSocket server is a failed handshake, never a hang."""
    port = await _raw_server(nursery, answer)
    with pytest.raises(ws_.HandshakeFailed):
        async with _open(port):
            pass  # pragma: no cover


def _switching(request: bytes, headers: bytes = b"Upgrade: websocket\r\n") -> bytes:
    """A 101 with the right accept token for ``request``'s key, and ``headers``."""
    match = re.search(rb"(?i)sec-websocket-key: *(\S+)", request)
    assert match is not None
    token = base64.b64encode(hashlib.sha1(match.group(1) + ws_._GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        + headers
        + b"Sec-WebSocket-Accept: "
        + token
        + b"\r\n\r\n"
    )


async def _upgrading_server(
    nursery: trio.Nursery,
    headers: bytes,
    then: Callable[[trio.SocketStream], Awaitable[None]] | None = None,
) -> int:
    """Answers the upgrade with a correct token and ``headers``, then runs ``then``."""

    async def handle(stream: trio.SocketStream) -> None:
        await stream.send_all(_switching(await _read_request(stream), headers))
        if then is not None:
            await then(stream)

    listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"Upgrade: h2c\r\n", id="another-protocol"),
        pytest.param(
            b"Upgrade: websocket\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
            id="an-extension-not-offered",
        ),
    ],
)
async def test_a_switch_to_what_was_not_asked_fails_the_handshake(
    nursery: trio.Nursery, headers: bytes
) -> None:
    """The right accept token is not enough: the protocol and extensions must be ours."""
    port = await _upgrading_server(nursery, headers)
    with pytest.raises(ws_.HandshakeFailed):
        async with _open(port):
            pass  # pragma: no cover


async def test_a_violation_while_closing_sends_no_second_close(nursery: trio.Nursery) -> None:
    """Our close is out; the peer answers with a bad frame: no second close frame follows."""
    received = bytearray()
    done = trio.Event()

    async def misbehave(stream: trio.SocketStream) -> None:
        try:
            while data := await stream.receive_some(4096):
                received.extend(data)
                await stream.send_all(_head(0x83, 0))  # a reserved opcode: a violation
        except trio.BrokenResourceError:
            pass  # the client is gone: what it sent is all in ``received``
        finally:
            done.set()

    port = await _upgrading_server(nursery, b"Upgrade: websocket\r\n", misbehave)
    async with _open(port):
        pass
    await done.wait()
    # Read by hand: wsproto's decoder stops at the first close and would hide a second.
    frames, at = [], 0
    while at < len(received):
        size = received[at + 1] & 0x7F
        assert size < 126  # close frames are short
        payload = bytes(
            b ^ received[at + 2 + i % 4] for i, b in enumerate(received[at + 6 : at + 6 + size])
        )
        frames.append((received[at] & 0x0F, int.from_bytes(payload[:2], "big")))
        at += 6 + size
    assert frames == [(0x8, 1000)]


async def test_a_silent_server_is_a_connect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The connect deadline covers the upgrade: raised exactly at it."""
    port = await _raw_server(nursery, None)
    start = trio.current_time()
    with pytest.raises(ws_.ConnectTimeout):
        async with _open(port, connect_timeout_s=3.0):
            pass  # pragma: no cover
    assert trio.current_time() - start == pytest.approx(3.0)


async def test_a_peer_that_never_answers_the_close_is_a_close_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The close handshake waits the close deadline, then the stream is closed anyway."""
    accepted = trio.Event()

    async def deaf(stream: trio.SocketStream) -> None:
        # Reads and never answers: no wsproto to echo the close.
        accepted.set()
        while await stream.receive_some(4096):
            pass

    port = await _upgrading_server(nursery, b"Upgrade: websocket\r\n", deaf)
    start = 0.0
    with pytest.raises(ws_.CloseTimeout):
        async with _open(port, close_timeout_s=2.0):
            await accepted.wait()
            start = trio.current_time()
    assert trio.current_time() - start == pytest.approx(2.0)
