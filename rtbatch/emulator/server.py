"""The listening side: handshake, authentication, connection lifecycle, statistics.

:func:`serve` runs trio-websocket's server until cancelled. Each handshake is first
offered to the fault planner (``handshake_429/500/503`` refuse the upgrade with an
OpenAI-style JSON body), then upgraded. Fatal problems are answered as the real
service answers them -- *after* the upgrade: one ``error`` event, then a close code
(3000 bad key; 4000 beta without ``accept_beta``, or a model refused by
:mod:`~rtbatch.emulator.model_rules`; protocol notes §2.4). A healthy
connection is handed to :class:`~rtbatch.emulator.connection.Connection`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.connection import Connection
from rtbatch.emulator.defaults import (
    CLOSE_TIMEOUT_S,
)
from rtbatch.emulator.dialects import Intent, dialect_for
from rtbatch.emulator.errors import CLOSE_BAD_KEY, CLOSE_INVALID_REQUEST
from rtbatch.emulator.front import serve_front
from rtbatch.emulator.model_rules import ModelPolicy, handshake_refusal
from rtbatch.emulator.outbox import Outbox
from rtbatch.emulator.runtime import REALTIME_PATH, ConnectionRecord, Emulator, close

log = logging.getLogger("rtbatch.emulator")

BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
KEY_SUBPROTOCOL_PREFIX = "openai-insecure-api-key."
_HANDSHAKE_STATUS = {"handshake_429": 429, "handshake_500": 500, "handshake_503": 503}
_HANDSHAKE_BODY = {
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please retry."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


async def serve(
    config: EmulatorConfig,
    *,
    task_status: trio.TaskStatus[Emulator] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the Realtime emulator until cancelled.

    Args:
        config: the emulator's settings.
        task_status: receives the :class:`Emulator` once listening.

    Raises:
        OSError: the address could not be bound.
    """
    holder: list[Emulator] = []

    async def handler(request: WebSocketRequest) -> None:
        await _handle(holder[0], request)

    def key_problem(key: str) -> str | None:
        return _key_problem(config, key)

    listeners = await _listen(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_front, listeners, handler, config, key_problem)
        emulator = Emulator(config, _port(listeners[0]))
        holder.append(emulator)
        task_status.started(emulator)


async def _listen(config: EmulatorConfig) -> list[trio.abc.Listener[Any]]:
    if config.ssl_context is None:
        return list(await trio.open_tcp_listeners(config.port, host=config.host))
    return list(
        await trio.open_ssl_over_tcp_listeners(
            config.port, config.ssl_context, host=config.host, https_compatible=True
        )
    )


def _port(listener: trio.abc.Listener[Any]) -> int:
    inner: Any = getattr(listener, "transport_listener", listener)
    port: int = inner.socket.getsockname()[1]
    return port


def mask_key(key: str) -> str:
    """Mask an API key the way the service's error message does (``sk-…WXYZ``).

    Args:
        key: the key as received.

    Returns:
        The last four characters behind a prefix; short keys are masked entirely.
    """
    if len(key) < 12:
        return "*" * len(key)
    prefix = "sk-" if key.startswith("sk-") else ""
    return f"{prefix}…{key[-4:]}"


@dataclass(frozen=True, slots=True)
class _Handshake:
    dialect: Literal["ga", "beta"]
    intent: Intent
    model: str
    key: str
    subprotocol: str | None


def _parse_handshake(request: WebSocketRequest) -> _Handshake:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
    offered = request.proposed_subprotocols
    query = parse_qs(urlsplit(request.path).query)
    beta = "realtime=v1" in headers.get("openai-beta", "") or BETA_SUBPROTOCOL in offered
    key = ""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    key = key or headers.get("api-key", "").strip()
    for proto in offered:
        if not key and proto.startswith(KEY_SUBPROTOCOL_PREFIX):
            key = proto[len(KEY_SUBPROTOCOL_PREFIX) :]
    intent: Intent = "transcription" if query.get("intent") == ["transcription"] else "realtime"
    return _Handshake(
        dialect="beta" if beta else "ga",
        intent=intent,
        model=(query.get("model") or [""])[0],
        key=key,
        subprotocol="realtime" if "realtime" in offered else None,
    )


async def _reject(request: WebSocketRequest, status: int) -> None:
    kind, code, message = _HANDSHAKE_BODY[status]
    body = orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    headers = [(b"content-type", b"application/json")]
    if status == 429:
        headers.append((b"retry-after", b"1"))
    await request.reject(status, extra_headers=headers, body=body)


async def _handle(emulator: Emulator, request: WebSocketRequest) -> None:
    emulator.stats.handshakes += 1
    fault = emulator.faults.next_handshake()
    if fault is not None:
        log.info("handshake refused with %s (fault)", _HANDSHAKE_STATUS[fault])
        await _reject(request, _HANDSHAKE_STATUS[fault])
        return
    if urlsplit(request.path).path.rstrip("/") != REALTIME_PATH:
        await request.reject(
            404, body=b'{"error":{"message":"Not found","type":"invalid_request_error"}}'
        )
        return
    hs = _parse_handshake(request)
    ws = await request.accept(subprotocol=hs.subprotocol)
    stats = emulator.stats
    stats.active_connections += 1
    stats.peak_connections = max(stats.peak_connections, stats.active_connections)
    record = ConnectionRecord(hs.dialect, hs.intent, hs.model)
    if emulator.config.record:
        emulator.connections.append(record)
    log.info("open dialect=%s intent=%s model=%s", hs.dialect, hs.intent, hs.model or "-")
    try:
        await _run_connection(emulator, ws, hs, record)
    finally:
        stats.active_connections -= 1
        emulator.sync_window_stats()
        reason = ws.closed
        log.info(
            "close dialect=%s intent=%s model=%s code=%s",
            hs.dialect,
            hs.intent,
            hs.model or "-",
            record.close_code if record.close_code is not None else getattr(reason, "code", None),
        )


def _key_problem(config: EmulatorConfig, key: str) -> str | None:
    """The service's message for a key it refuses, or None."""
    if key and (config.api_key is None or key == config.api_key):
        return None
    return (
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )


def _fatal_error(emulator: Emulator, hs: _Handshake) -> tuple[str, str, int] | None:
    """The first fatal problem of a handshake: (code, message, close code)."""
    config = emulator.config
    problem = _key_problem(config, hs.key)
    if problem is not None:
        return "invalid_api_key", problem, CLOSE_BAD_KEY
    policy = ModelPolicy(config.accept_beta, config.effective_today)
    refusal = handshake_refusal(policy, hs.dialect, hs.intent, hs.model)
    if refusal is not None:
        return refusal.code, refusal.message, CLOSE_INVALID_REQUEST
    return None


async def _run_connection(
    emulator: Emulator, ws: WebSocketConnection, hs: _Handshake, record: ConnectionRecord
) -> None:
    ids = emulator.id_factory()
    outbox = Outbox(ws, ids, emulator.config.outgoing_hook)
    fatal = _fatal_error(emulator, hs)
    if fatal is not None:
        code, message, close_code = fatal
        await _send_fatal(emulator, outbox, ws, record, code, message, close_code)
        return
    conn = Connection(
        emulator=emulator,
        ws=ws,
        outbox=outbox,
        ids=ids,
        dialect=dialect_for(hs.dialect),
        intent=hs.intent,
        model=hs.model,
        record=record,
        expires_at=int(time.time() + emulator.config.session_max_seconds),
    )
    await conn.run()


async def _send_fatal(
    emulator: Emulator,
    outbox: Outbox,
    ws: WebSocketConnection,
    record: ConnectionRecord,
    code: str,
    message: str,
    close_code: int,
) -> None:
    error = {
        "type": "invalid_request_error",
        "code": code,
        "message": message,
        "param": None,
        "event_id": None,
    }
    emulator.stats.errors_sent += 1
    with trio.move_on_after(CLOSE_TIMEOUT_S):
        try:
            await outbox.send([{"type": "error", "error": error}])
        except ConnectionClosed:
            return
    await close(emulator, ws, record, close_code, f"invalid_request_error.{code}")
