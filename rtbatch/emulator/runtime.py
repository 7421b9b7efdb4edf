"""The running emulator's shared objects: statistics, connection records, closing.

Kept apart from :mod:`server` so per-connection code can use them without importing
the listener.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from trio_websocket import WebSocketConnection

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.defaults import CLOSE_TIMEOUT_S
from rtbatch.emulator.dialects import Intent
from rtbatch.emulator.faults import FaultPlanner
from rtbatch.emulator.ids import IdFactory
from rtbatch.emulator.ratelimit import AccountLimits

REALTIME_PATH = "/v1/realtime"


@dataclass(slots=True)
class EmulatorStats:
    """Counters over the emulator's life (read them; do not write).

    Attributes:
        handshakes: WebSocket handshakes received (including refused ones).
        active_connections: connections open now.
        peak_connections: most connections open at once.
        responses: responses created (``response.created`` sent).
        transcriptions: transcriptions started.
        faults_injected: fault kind -> times injected.
        rate_limited: generations refused by a limit (RPM, TPM, RPD, capacity) or by an
            injected refusal fault (account-fatal refusals are not counted).
        max_requests_per_60s: most requests admitted in any 60 s window (100 ms bins).
        max_tokens_per_60s: most tokens reserved or used in any 60 s window.
        errors_sent: ``error`` events sent.
        closed_codes: close code -> connections the server closed with it.
    """

    handshakes: int = 0
    active_connections: int = 0
    peak_connections: int = 0
    responses: int = 0
    transcriptions: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    max_requests_per_60s: int = 0
    max_tokens_per_60s: int = 0
    errors_sent: int = 0
    closed_codes: Counter[int] = field(default_factory=Counter)


@dataclass(slots=True)
class ConnectionRecord:
    """What one connection did (kept only with ``EmulatorConfig.record``).

    Attributes:
        dialect: ``"ga"`` or ``"beta"``.
        intent: ``"realtime"`` or ``"transcription"``.
        model: the ``?model=`` value (``""`` when absent).
        received: every parsed client event, in order.
        responses: final response objects, as sent in ``response.done``.
        transcripts: item id -> completed transcript.
        close_code: the close code the server sent, if it closed first.
    """

    dialect: Literal["ga", "beta"]
    intent: Intent
    model: str
    received: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    transcripts: dict[str, str] = field(default_factory=dict)
    close_code: int | None = None


class Emulator:
    """A running emulator, handed out by ``nursery.start(serve, config)``.

    Attributes:
        config: its settings.
        port: the bound port.
        url: ``ws://HOST:PORT/v1/realtime`` (``wss://`` with TLS).
        stats: live counters.
        connections: per-connection records (only with ``config.record``).
    """

    config: EmulatorConfig
    port: int
    url: str
    stats: EmulatorStats
    connections: list[ConnectionRecord]

    def __init__(self, config: EmulatorConfig, port: int) -> None:
        self.config = config
        self.port = port
        scheme = "wss" if config.ssl_context else "ws"
        self.url = f"{scheme}://{config.host}:{port}{REALTIME_PATH}"
        self.stats = EmulatorStats()
        self.connections: list[ConnectionRecord] = []
        self.faults = FaultPlanner(config)
        self.stats.faults_injected = self.faults.injected
        self.limits = AccountLimits(
            config.effective_rpm,
            config.effective_tpm,
            rpd=config.rpd,
            max_inflight=config.max_inflight,
        )
        self._rng = random.Random(config.seed)

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r})"

    def id_factory(self) -> IdFactory:
        """Ids for a new connection."""
        return IdFactory(self._rng)

    def sync_window_stats(self) -> None:
        """Copy the rate-limit window peaks into :attr:`stats`."""
        self.stats.max_requests_per_60s = self.limits.request_window.peak
        self.stats.max_tokens_per_60s = self.limits.token_window.peak


async def close(
    emulator: Emulator,
    ws: WebSocketConnection,
    record: ConnectionRecord,
    code: int,
    reason: str,
) -> None:
    """Close ``ws`` with ``code`` under a short deadline and count it.

    Args:
        emulator: for the statistics.
        ws: the connection.
        record: gets the close code.
        code: WebSocket close code.
        reason: close reason text.
    """
    record.close_code = code
    emulator.stats.closed_codes[code] += 1
    with trio.move_on_after(CLOSE_TIMEOUT_S):
        await ws.aclose(code, reason)
