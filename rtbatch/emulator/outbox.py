"""Sending server events: stamp ``event_id``, encode with orjson, batch into one write.

A response at zero latency is two dozen events; writing them as one TCP send instead
of one send per event is what keeps the emulator off the critical path of benchmarks
(~2,000 responses/s). trio-websocket has no batch API, so :meth:`Outbox.send` frames
each event itself (:func:`text_frame`) and writes the frames in one ``send_all`` under
the connection's send lock -- exactly the bytes that consecutive ``send_message``
calls would produce (a unit test compares them with wsproto's). It relies on three
private attributes of trio-websocket 0.12 (pinned below 0.13); if they are missing it
falls back to ``send_message``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.connection import ConnectionState

from rtbatch.emulator.ids import IdFactory


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked server-to-client text frame (RFC 6455 §5.2).

    Equivalent to what wsproto produces for a ``TextMessage`` on a server connection
    without extensions (trio-websocket's server negotiates none), at a fraction of the
    cost; the framing state of wsproto is unaffected because every frame is complete.
    """
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        header = b"\x81\x7f" + size.to_bytes(8, "big")
    return header + payload


class Outbox:
    """The one way a connection sends.

    Args:
        ws: the accepted WebSocket.
        ids: makes the ``event_id`` of each event.
        hook: ``EmulatorConfig.outgoing_hook``: gets each event just before it is
            encoded and returns the event to send (tests use it to send malformed ones).
    """

    __slots__ = ("_fast", "_hook", "_ids", "_ws", "torn")

    @property
    def ws(self) -> WebSocketConnection:
        """The socket it writes to (for a server-side close)."""
        return self._ws

    def __init__(
        self,
        ws: WebSocketConnection,
        ids: IdFactory,
        hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self._ws = ws
        self._ids = ids
        self._hook = hook
        self._fast = all(hasattr(ws, a) for a in ("_wsproto", "_stream", "_stream_lock"))
        #: A write was interrupted mid-frame: the byte stream can no longer carry frames.
        self.torn = False

    def encode(self, event: dict[str, Any]) -> bytes:
        """Stamp a fresh ``event_id`` on ``event``, pass it to the hook, encode it as JSON."""
        event["event_id"] = self._ids.make("event")
        if self._hook is not None:
            event = self._hook(event)
        return orjson.dumps(event)

    async def send(self, events: Sequence[dict[str, Any]]) -> None:
        """Send events in order, as one write when possible.

        Args:
            events: server events without ``event_id`` (it is added here).

        Raises:
            ConnectionClosed: the connection is closed or broke.
        """
        if events:
            await self._write([self.encode(e) for e in events])

    async def send_raw(self, text: str) -> None:
        """Send one text frame verbatim (the ``invalid_frame`` fault)."""
        await self._write([text.encode()])

    async def _write(self, texts: list[bytes]) -> None:
        ws = self._ws
        if ws.closed is not None:
            raise ConnectionClosed(ws.closed)
        if self._fast and ws._wsproto.state != ConnectionState.OPEN:
            # Closing handshake under way: no data frames may follow a close frame.
            raise ConnectionClosed(None)
        if self.torn:
            await self.abort()
            raise ConnectionClosed(ws.closed)
        if not self._fast:
            for text in texts:
                await ws.send_message(text.decode())
            return
        data = b"".join(map(text_frame, texts))
        async with ws._stream_lock:
            done = False
            try:
                await ws._stream.send_all(data)
                done = True
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await ws._abort_web_socket()
                raise ConnectionClosed(ws.closed) from None
            finally:
                # Cancelled part-way: later frames would be garbage on the wire.
                self.torn = self.torn or not done

    async def abort(self) -> None:
        """Cut the TCP connection without a close frame (the ``drop`` fault)."""
        stream = getattr(self._ws, "_stream", None)
        if stream is not None:
            await stream.aclose()


class Batch:
    """Events waiting to be written together at the next pause of a stream.

    Args:
        outbox: where the events go.
    """

    __slots__ = ("events", "outbox")

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.events: list[dict[str, Any]] = []

    def add(self, *events: dict[str, Any]) -> None:
        """Queue events, in order."""
        self.events.extend(events)

    async def flush(self) -> None:
        """Send what is queued, as one write.

        Raises:
            ConnectionClosed: the connection is closed or broke.
        """
        events, self.events = self.events, []
        await self.outbox.send(events)

    async def pause(self, delay_ms: float, wake: trio.Event | None = None) -> None:
        """Flush, then wait ``delay_ms`` or until ``wake`` is set; no-op for no delay.

        Raises:
            ConnectionClosed: the connection is closed or broke.
        """
        if delay_ms <= 0:
            return
        await self.flush()
        with trio.move_on_after(delay_ms / 1000):
            if wake is None:
                await trio.sleep_forever()
            else:
                await wake.wait()
