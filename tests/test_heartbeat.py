"""A silent peer is noticed by the ping heartbeat, long before the job's own deadline.

Network rules as in tests/harness.py. A loopback TCP proxy sits between the
client and the emulator; freezing it stops forwarding in both directions while
both sockets stay open — what a dead NAT entry or a hung peer looks like.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import trio
import trio.testing

from rtbatch.config import RetryPolicy, Timeouts
from rtbatch.defaults import TRANSCRIPT_IDLE_PER_AUDIO_S
from rtbatch.emulator import FaultSchedule
from rtbatch.exitcodes import EXIT_OK
from tests.audio.samples import write_long_wav
from tests.harness import prompt_jobs, start_emulator, write_jobs


class FreezingProxy:
    """Forwards TCP connections to ``port``; ``freeze()`` silences those open now."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._frozen: list[trio.Event] = []
        self.connections = 0

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._handle, listeners)

    def freeze(self) -> None:
        for event in self._frozen:
            event.set()

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        frozen = trio.Event()
        self._frozen.append(frozen)
        server = await trio.open_tcp_stream("127.0.0.1", self._port)
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server, frozen)
            nursery.start_soon(self._pump, server, client, frozen)

    @staticmethod
    async def _pump(src: trio.SocketStream, dst: trio.SocketStream, frozen: trio.Event) -> None:
        async for data in src:
            if frozen.is_set():
                await trio.sleep_forever()
            await dst.send_all(data)


@pytest.mark.parametrize(
    ("idle_s", "noticed"),
    [
        (Timeouts().idle_s, (Timeouts().idle_s, Timeouts().idle_s + 4.0)),  # idle + close
        (120.0, (30.0, 40.0)),  # a long idle deadline: ping interval + ping timeout
    ],
)
async def test_dead_peer_is_detected_and_the_job_retried(
    nursery: trio.Nursery,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    idle_s: float,
    noticed: tuple[float, float],
) -> None:
    """Frozen mid-response: given up at the idle deadline or a missed pong, whichever first."""
    h = await start_emulator(nursery, tmp_path, latency_ms=1000)
    proxy = FreezingProxy(h.emulator.port)
    proxy_port = await nursery.start(proxy.serve)

    async def freeze_mid_response() -> None:
        await trio.sleep(0.5)  # virtual time: the response is due at 1.0
        proxy.freeze()

    nursery.start_soon(freeze_mid_response)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1))
    timeouts = Timeouts(
        job_s=300.0, idle_s=idle_s, ping_interval_s=20.0, ping_timeout_s=10.0, close_s=2.0
    )
    report, results = await h.run(
        jobs,
        url=f"ws://127.0.0.1:{proxy_port}/v1/realtime",
        timeouts=timeouts,
        retry=RetryPolicy(initial_s=0.1, max_s=0.1),
    )
    assert report.exit_code == EXIT_OK
    (record,) = results
    assert record["status"] == "completed"
    assert record["attempts"] == 2
    # The frozen session and its replacement, after the run's endpoint check
    # (a TCP connection that carries no WebSocket).
    assert proxy.connections == 1 + 2
    # Noticed in seconds, never at the 300 s job deadline.
    assert noticed[0] <= report.summary.wall_s < noticed[1]


# Real time: the audio is decoded in a thread, which trio's virtual clock cannot see.
async def test_a_transcript_not_yet_begun_is_waited_for_its_audio_allowance(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """10 s of audio in one item, its transcript 0.6 s after the commit: past the 0.25 s
    idle deadline, within it plus 10 x 0.1 s for the audio, so no stall."""
    path = tmp_path / "ten.wav"
    write_long_wav(path, 10, 24_000)
    h = await start_emulator(nursery, tmp_path, latency_ms=600)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "t", "audio": str(path), "task": "transcribe"}]
    )
    report, results = await h.run(jobs, timeouts=Timeouts(job_s=60.0, idle_s=0.25))
    assert report.exit_code == EXIT_OK
    (record,) = results
    assert (record["status"], record["attempts"]) == ("completed", 1)


async def test_a_transcript_that_began_stalls_after_the_idle_deadline_alone(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Silence after a transcript's first delta is a stall once the idle deadline passes:
    the audio's allowance was for the wait before the transcript began."""
    caplog.set_level(logging.INFO, logger="rtbatch.run")
    path = tmp_path / "ten.wav"
    write_long_wav(path, 10, 24_000)
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses={0: "stall"}))
    jobs = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "t", "audio": str(path), "task": "transcribe"}]
    )
    idle_s = 0.25
    report, results = await h.run(
        jobs,
        timeouts=Timeouts(job_s=60.0, idle_s=idle_s),
        retry=RetryPolicy(initial_s=0.01, max_s=0.01),
    )
    assert report.exit_code == EXIT_OK
    (record,) = results
    assert (record["status"], record["attempts"]) == ("completed", 2)
    stalls = [
        float(m.group(1))
        for r in caplog.records
        if (m := re.search(r"no server event for ([\d.]+) s", r.getMessage()))
    ]
    allowance = 10 * TRANSCRIPT_IDLE_PER_AUDIO_S
    assert len(stalls) == 1
    assert idle_s <= stalls[0] < idle_s + allowance  # never early, and no allowance spent
