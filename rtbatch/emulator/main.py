"""Running the emulator as a process: config from options, logging, clean shutdown."""

from __future__ import annotations

import logging
import signal
import ssl
import sys
from typing import Any

import trio

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.runtime import Emulator
from rtbatch.emulator.server import serve


def _ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if not certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


async def serve_until_signal(config: EmulatorConfig) -> Emulator:
    """Serve until SIGINT or SIGTERM; return the stopped emulator (its counters, for benchmarks)."""
    async with trio.open_nursery() as nursery:
        emulator: Emulator = await nursery.start(serve, config)
        # Benchmarks parse this exact line to learn the port of ``--port 0``.
        print(f"rtbatch emulator listening on {emulator.url}", file=sys.stderr, flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()
    return emulator


def run_forever(*, certfile: str | None, keyfile: str | None, **options: Any) -> None:
    """Serve until SIGINT or SIGTERM, then return normally (exit status 0).

    Args:
        certfile: TLS certificate (serve ``wss://``), or ``None``.
        keyfile: TLS key, or ``None`` (then the certificate file holds it).
        **options: the remaining :class:`EmulatorConfig` fields.

    Raises:
        ValueError: an option is out of range.
        OSError: the address cannot be bound.
    """
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    config = EmulatorConfig(ssl_context=_ssl_context(certfile, keyfile), **options)
    trio.run(serve_until_signal, config)
    logging.getLogger("rtbatch.emulator").info("stopped")
