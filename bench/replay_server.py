"""A Realtime server that costs next to nothing: the emulator's own frames, replayed.

The throughput cells measure rtbatch against the emulator, and at C = 500 the
emulator's CPU (its WebSocket library, validation, usage, rate limits) is on the
critical path as much as the client's. To see the client alone, this server
answers as the emulator does, byte for byte, but without computing anything: at
start it records one session of the emulator at ``--source`` (the client's own
``session.update`` and a text job's ``response.create``), then replays those frames
to every connection: ``session.created`` on open, ``session.updated`` for a
``session.update``, and a ``response.create``'s frames ``--latency-ms`` later, with
fresh event ids and the request's ``job_id`` echoed in its metadata.

It handles only what a text job needs (no audio, no tools, no faults, no
limits; whole, masked frames; job ids without escaped quotes): a benchmark peer,
not a second emulator. Run as a child by
:class:`bench.common.Emulator` (``program``), pinned to the emulator's core; it
takes ``rtbatch serve``'s benchmark options and prints the same listening line.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import itertools
import re
import sys

import orjson
import trio
from trio_websocket import open_websocket_url

from rtbatch import protocol
from rtbatch.defaults import DEFAULT_MODEL
from rtbatch.jobs import ResponseOptions

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = re.compile(rb"(?im)^sec-websocket-key:[ \t]*(\S+)")
_JOB = re.compile(rb'"job_id":"([^"]*)"')
#: The job id the recording asks with; replaced by each request's own.
_RECORDED_JOB = "job-recorded"
_EVENT_ID = b"@EVENT@"
_JOB_ID = b"@JOB@"
_CLOSE, _TEXT, _PING = 0x8, 0x1, 0x9
_MAX_HEAD = 65536


def _template(text: str) -> bytes:
    """A recorded event with placeholders where each replay differs."""
    event = orjson.loads(text)
    event["event_id"] = _EVENT_ID.decode()
    raw = orjson.dumps(event)
    return raw.replace(orjson.dumps(protocol.metadata_job_id(_RECORDED_JOB)), b'"' + _JOB_ID + b'"')


async def record(source: str) -> tuple[bytes, bytes, list[bytes]]:
    """(session.created, session.updated, a response's frames) from the emulator at ``source``."""
    url = protocol.connect_url(source, DEFAULT_MODEL, "realtime")
    headers = [(b"Authorization", b"Bearer sk-bench-local")]
    async with open_websocket_url(url, extra_headers=headers) as ws:
        created = str(await ws.get_message())
        await ws.send_message(protocol.encode(protocol.session_update("ga", "realtime")))
        updated = str(await ws.get_message())
        request = protocol.response_create(
            "ga",
            job_id=_RECORDED_JOB,
            event_id="rtb_1",
            turns=[("user", "Say hello in French. (#0)")],
            instructions=None,
            options=ResponseOptions(),
        )
        await ws.send_message(protocol.encode(request))
        frames: list[str] = []
        while not frames or orjson.loads(frames[-1])["type"] != "response.done":
            frames.append(str(await ws.get_message()))
        # The emulator follows every response with its rate limits, as the service does.
        with trio.move_on_after(1.0):
            frames.append(str(await ws.get_message()))
    return _template(created), _template(updated), [_template(f) for f in frames]


def _frame(payload: bytes, opcode: int = _TEXT) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, size))
    elif size < 65536:
        header = bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + size.to_bytes(8, "big")
    return header + payload


def _unmask(payload: bytes, mask: bytes) -> bytes:
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


class Replay:
    """The recorded frames and the counter that makes their event ids unique."""

    def __init__(
        self, created: bytes, updated: bytes, response: list[bytes], latency_s: float
    ) -> None:
        self.created, self.updated, self.response = created, updated, response
        self.latency_s = latency_s
        self._ids = itertools.count()

    def stamp(self, template: bytes, job_id: bytes = b"") -> bytes:
        event_id = b"event_%021d" % next(self._ids)
        return _frame(template.replace(_EVENT_ID, event_id).replace(_JOB_ID, job_id))

    async def serve(self, stream: trio.SocketStream) -> None:
        """One connection: the upgrade, then frames until the client closes.

        A link that breaks ends its connection only: an error out of a handler
        would stop ``serve_listeners``, and with it every later cell's replay.
        """
        try:
            await self._serve(stream)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # inside the connection's nursery it comes as a group

    async def _serve(self, stream: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = await stream.receive_some(_MAX_HEAD)
            if not data or len(head) > _MAX_HEAD:
                return
            head += data
        head, buffer = head.split(b"\r\n\r\n", 1)
        key = _KEY.search(head)
        if key is None:
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1(key.group(1) + _GUID).digest())
        lock = trio.Lock()
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self.stamp(self.created)
        )
        async with trio.open_nursery() as nursery:
            while True:
                buffer, frames = _split(buffer)
                for opcode, payload in frames:
                    if opcode == _CLOSE:
                        async with lock:
                            await stream.send_all(_frame(payload[:2], _CLOSE))
                        nursery.cancel_scope.cancel()
                        return
                    if opcode == _PING:
                        async with lock:
                            await stream.send_all(_frame(payload, 0xA))
                    elif opcode == _TEXT:
                        await self._answer(nursery, stream, lock, payload)
                data = await stream.receive_some(_MAX_HEAD)
                if not data:
                    nursery.cancel_scope.cancel()
                    return
                buffer += data

    async def _answer(
        self, nursery: trio.Nursery, stream: trio.SocketStream, lock: trio.Lock, text: bytes
    ) -> None:
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return  # not an event: the emulator would answer an error; a peer ignores it
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "session.update":
            async with lock:
                await stream.send_all(self.stamp(self.updated))
        elif kind == "response.create":
            job = _JOB.search(text)
            nursery.start_soon(self._respond, stream, lock, job.group(1) if job else b"")

    async def _respond(self, stream: trio.SocketStream, lock: trio.Lock, job_id: bytes) -> None:
        await trio.sleep(self.latency_s)
        data = b"".join(self.stamp(t, job_id) for t in self.response)
        # The client may close before an answer it no longer waits for.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async with lock:
                await stream.send_all(data)


def _split(buffer: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The complete client frames at the start of ``buffer`` (unmasked) and the rest."""
    frames = []
    while len(buffer) >= 2:
        size, start = buffer[1] & 0x7F, 2
        if size >= 126:
            start = 4 if size == 126 else 10
            if len(buffer) < start:
                break
            size = int.from_bytes(buffer[2:start], "big")
        end = start + 4 + size
        if len(buffer) < end:
            break
        mask = buffer[start : start + 4]
        frames.append((buffer[0] & 0x0F, _unmask(buffer[start + 4 : end], mask)))
        buffer = buffer[end:]
    return buffer, frames


async def main(argv: list[str]) -> None:
    """Record from ``--source``, listen on ``--port`` (0: any), print the listening line."""
    parser = argparse.ArgumentParser(prog="python -m bench.replay_server")
    parser.add_argument("--source", required=True, help="the emulator to record")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    # Taken for rtbatch serve's command line; the recording already has the emulator's.
    parser.add_argument("--token-delay-ms", type=float, default=0.0)
    parser.add_argument("--reply-words", type=int, default=12)
    args = parser.parse_args(argv)
    if args.token_delay_ms:
        parser.error("the replay sends a response's frames at once: --token-delay-ms 0 only")
    replay = Replay(*await record(args.source), args.latency_ms / 1000)
    listeners = await trio.open_tcp_listeners(args.port, host="127.0.0.1", backlog=4096)
    port = listeners[0].socket.getsockname()[1]
    print(f"listening on ws://127.0.0.1:{port}/v1/realtime", file=sys.stderr, flush=True)
    await trio.serve_listeners(replay.serve, listeners)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # the bench stops it with SIGINT
        trio.run(main, sys.argv[1:])
