"""Benchmark: 1,000 concurrent connections to the emulator on loopback.

Starts ``rtbatch serve --port 0`` as a subprocess (so its memory is measured alone),
opens N connections concurrently, holds them all open, drives one out-of-band text
turn on each (all at once), then closes them. Reports the emulator's peak RSS
(``VmHWM``), its RSS while holding the connections, and the times.

Run: ``.venv/bin/python bench/bench_connections.py`` (``BENCH_CONNECTIONS`` overrides N).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from typing import Any

import trio
from trio_websocket import WebSocketConnection, connect_websocket_url

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "1000"))
KEY = "sk-bench-0000000000000000"
LISTENING = re.compile(r"rtbatch emulator listening on (ws://\S+)")
#: Connections opened at once, so the listen backlog never overflows.
OPEN_CONCURRENCY = 100
DEADLINE_S = 60.0
#: Rounds of one turn per connection (later rounds show whether memory stays flat).
ROUNDS = 3


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> dict[str, int]:
    """Current and peak resident set size of ``pid``, in KiB (Linux /proc)."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


async def _drain(stream: trio.abc.ReceiveStream, sink: list[bytes]) -> None:
    # The emulator logs two lines per connection: keep its stderr pipe from filling.
    while chunk := await stream.receive_some():
        if sum(len(c) for c in sink) < 1_000_000:
            sink.append(chunk)


async def _open(
    url: str, nursery: trio.Nursery, limiter: trio.CapacityLimiter, out: list[WebSocketConnection]
) -> None:
    async with limiter:
        ws = await connect_websocket_url(
            nursery,
            url,
            extra_headers=[(b"Authorization", f"Bearer {KEY}".encode())],
            message_queue_size=16,
            max_message_size=1 << 20,
        )
        json.loads(await ws.get_message())  # session.created
        out.append(ws)


async def _turn(ws: WebSocketConnection, index: int, results: list[float]) -> None:
    started = time.perf_counter()
    await ws.send_message(
        json.dumps(
            {
                "type": "response.create",
                "response": {
                    "conversation": "none",
                    "output_modalities": ["text"],
                    "metadata": {"job": str(index)},
                    "input": [
                        {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": f"job {index}"}],
                        }
                    ],
                },
            }
        )
    )
    while True:
        event = json.loads(await ws.get_message())
        if event["type"] == "response.done":
            assert event["response"]["status"] == "completed", event
            results.append(time.perf_counter() - started)
            return


async def _bench(n: int) -> dict[str, Any]:
    env = {**os.environ, "RTBATCH_SERVE_API_KEY": KEY}
    cmd = [sys.executable, "-c", "from rtbatch.cli import main; main()", "serve", "--port", "0"]
    proc = await trio.lowlevel.open_process(cmd, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    log: list[bytes] = []
    figures: dict[str, Any] = {"connections": n}
    try:
        with trio.fail_after(DEADLINE_S):
            while not (match := LISTENING.search(b"".join(log).decode(errors="replace"))):
                chunk = await proc.stderr.receive_some()
                if not chunk:
                    raise RuntimeError(b"".join(log).decode(errors="replace"))
                log.append(chunk)
            url = match.group(1) + "?model=gpt-realtime"
            figures["rss_idle_kib"] = _rss_kib(proc.pid)["VmRSS"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, proc.stderr, log)
                async with trio.open_nursery() as conns:
                    sockets: list[WebSocketConnection] = []
                    t0 = time.perf_counter()
                    limiter = trio.CapacityLimiter(OPEN_CONCURRENCY)
                    async with trio.open_nursery() as openers:
                        for _ in range(n):
                            openers.start_soon(_open, url, conns, limiter, sockets)
                    figures["open_s"] = round(time.perf_counter() - t0, 3)
                    figures["rss_holding_kib"] = _rss_kib(proc.pid)["VmRSS"]
                    cpu0 = _cpu_s(proc.pid)
                    rounds = []
                    for _ in range(ROUNDS):
                        latencies: list[float] = []
                        t1 = time.perf_counter()
                        async with trio.open_nursery() as turns:
                            for index, ws in enumerate(sockets):
                                turns.start_soon(_turn, ws, index, latencies)
                        rounds.append((time.perf_counter() - t1, latencies))
                        figures.setdefault("rss_after_round_kib", []).append(
                            _rss_kib(proc.pid)["VmRSS"]
                        )
                    figures["emulator_cpu_ms_per_turn"] = round(
                        (_cpu_s(proc.pid) - cpu0) * 1000 / (n * ROUNDS), 3
                    )
                    first_s, latencies = rounds[0]
                    figures["turns_s"] = round(first_s, 3)
                    figures["turns_per_s"] = round(n / first_s, 1)
                    latencies.sort()
                    figures["turn_p50_ms"] = round(latencies[len(latencies) // 2] * 1000, 1)
                    figures["turn_max_ms"] = round(latencies[-1] * 1000, 1)
                    for ws in sockets:
                        with trio.move_on_after(5):
                            await ws.aclose()
                figures["peak_rss_kib"] = _rss_kib(proc.pid)["VmHWM"]
                figures["total_s"] = round(time.perf_counter() - t0, 3)
                nursery.cancel_scope.cancel()
    finally:
        if proc.returncode is None:
            proc.send_signal(2)
            with trio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        figures["emulator_exit_code"] = proc.returncode
    return figures


def run() -> dict[str, Any]:
    """Run the benchmark once.

    Returns:
        Figures: connections, open_s (opening all), turns_s / turns_per_s / turn_p50_ms /
        turn_max_ms (first round of one turn per connection, all at once),
        emulator_cpu_ms_per_turn, rss_idle_kib, rss_holding_kib, rss_after_round_kib
        (one per round), peak_rss_kib (VmHWM), total_s, emulator_exit_code.
    """
    _raise_fd_limit(2 * CONNECTIONS + 256)
    return trio.run(_bench, CONNECTIONS)


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
