"""The front door: ``GET /v1/models`` answered as plain HTTP, every other request upgraded.

The service answers the model list on the same host as the Realtime socket, so
``rtbatch models --check`` asks the emulator where it would ask the service. A
connection's request head is read first (it is all a WebSocket client sends before
the upgrade's answer); a models request is answered and closed, and anything else
goes on to trio-websocket with the head replayed in front of the stream, so the
upgrade path is the library's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import orjson
import trio
from trio_websocket import WebSocketRequest, wrap_server_stream

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.defaults import (
    CLOSE_TIMEOUT_S,
    HANDSHAKE_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    MESSAGE_QUEUE_SIZE,
)
from rtbatch.models import CATALOGUE

MODELS_PATH = "/v1/models"
#: The longest request head read before the answer (a browser's is under 8 KiB).
MAX_HEAD_BYTES = 16 * 1024
#: The ``created`` every listed model carries (the emulator has no release history).
CREATED = 1_756_339_200  # 2025-08-28, gpt-realtime's release

Handler = Callable[[WebSocketRequest], Awaitable[None]]
KeyCheck = Callable[[str], str | None]


class _Replay(trio.abc.Stream):
    """A stream that first gives back the bytes already read from it."""

    def __init__(self, stream: trio.abc.Stream, head: bytes) -> None:
        self._stream = stream
        self._head = head

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._head:
            size = len(self._head) if max_bytes is None else max_bytes
            data, self._head = self._head[:size], self._head[size:]
            await trio.lowlevel.checkpoint()
            return data
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def serve_front(
    listeners: Iterable[trio.abc.Listener[trio.abc.Stream]],
    handler: Handler,
    config: EmulatorConfig,
    key_problem: KeyCheck,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve every connection of ``listeners`` until cancelled.

    Args:
        listeners: the bound listeners.
        handler: runs a WebSocket upgrade request to its end.
        config: the emulator's settings (the models list judges shutdowns at its date).
        key_problem: why a key is refused (the service's message), or ``None``.
        task_status: started once listening.
    """

    async def connection(stream: trio.abc.Stream) -> None:
        await _connection(stream, handler, config, key_problem)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, connection, list(listeners))
        task_status.started()


async def _connection(
    stream: trio.abc.Stream, handler: Handler, config: EmulatorConfig, key_problem: KeyCheck
) -> None:
    with trio.move_on_after(HANDSHAKE_TIMEOUT_S) as head_scope:
        head = await _read_head(stream)
    if head_scope.cancelled_caught or head is None:
        await trio.aclose_forcefully(stream)
        return
    request_line, headers = _parse_head(head)
    method, _, target = request_line.partition(" ")
    path = urlsplit(target.partition(" ")[0]).path.rstrip("/")
    if method == "GET" and path == MODELS_PATH and "upgrade" not in headers:
        await _answer_models(stream, headers, config, key_problem)
        return
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(HANDSHAKE_TIMEOUT_S) as scope:
            request = await wrap_server_stream(
                nursery,
                _Replay(stream, head),
                message_queue_size=MESSAGE_QUEUE_SIZE,
                max_message_size=MAX_MESSAGE_BYTES,
            )
        if scope.cancelled_caught:
            nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(stream)
            return
        try:
            await handler(request)
        finally:
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                # The library's own server closes this way: it ends the reader task too.
                await request._connection.aclose()


async def _read_head(stream: trio.abc.Stream) -> bytes | None:
    """The request head with whatever came after it, or None if it never ended."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD_BYTES:
            return None
        try:
            chunk = await stream.receive_some()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _answer_models(
    stream: trio.abc.Stream, headers: dict[str, str], config: EmulatorConfig, key_problem: KeyCheck
) -> None:
    auth = headers.get("authorization", "")
    key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    problem = key_problem(key)
    body: dict[str, object]
    if problem is not None:
        error = {"message": problem, "type": "invalid_request_error", "param": None}
        status, body = 401, {"error": {**error, "code": "invalid_api_key"}}
    else:
        status, body = 200, {"object": "list", "data": models_list(config)}
    payload = orjson.dumps(body)
    reason = "OK" if status == 200 else "Unauthorized"
    response = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    ).encode() + payload
    try:
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await stream.send_all(response)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    await trio.aclose_forcefully(stream)


def models_list(config: EmulatorConfig) -> list[dict[str, object]]:
    """The ``data`` of ``GET /v1/models``: every model the catalogue serves, with its shutdown.

    A model already shut down at the emulator's date is not listed, as the service
    no longer lists it; a date in ``config.shutdown_dates`` replaces the catalogue's
    (to rehearse an announcement the catalogue does not know yet).
    """
    today = config.effective_today
    rows = []
    for model in CATALOGUE:
        date = config.shutdown_dates.get(model.id, model.shutdown)
        if model.shut_down or (date is not None and date <= today):
            continue
        rows.append(
            {
                "id": model.id,
                "object": "model",
                "created": CREATED,
                "owned_by": "system",
                "shutdown_date": _iso(date),
            }
        )
    return rows


def _iso(date: dt.date | None) -> str | None:
    return None if date is None else date.isoformat()
