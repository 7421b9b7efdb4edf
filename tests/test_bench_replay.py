"""bench/replay_server.py: the emulator's frames, replayed, answer a real run job by job."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from bench.bench_throughput import replay_of
from bench.common import PYTHON, Emulator, child_env, write_text_jobs


def test_a_run_against_the_replay_gets_every_job_answered_under_its_own_id(
    tmp_path: Path,
) -> None:
    """Each result is its own job's (the metadata echoed), with the emulator's reply and usage.

    The client ignores a ``response.done`` that names another job, so a replay that
    echoed the recording's id would leave every job waiting until its deadline. A
    client that sent a frame that is no JSON and reset its connection came first.
    """
    jobs = write_text_jobs(tmp_path / "jobs.jsonl", 12)
    out = tmp_path / "out.jsonl"
    with Emulator() as emulator, replay_of(emulator) as replay:
        _reset_after_garbage(replay.url)  # one broken client must not stop the server
        argv = [PYTHON, "-m", "rtbatch", "run", str(jobs), "-o", str(out)]
        argv += ["--url", replay.url, "-c", "4", "-q", "--job-timeout", "10"]
        done = subprocess.run(argv, env=child_env(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    asked = [json.loads(line)["id"] for line in jobs.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(asked)
    assert {line["status"] for line in lines} == {"completed"}
    assert all(line["output"]["text"].startswith("Emulated reply") for line in lines)
    assert all(line["usage"]["output_tokens"] > 0 for line in lines)


def _reset_after_garbage(url: str) -> None:
    """Upgrade, send a masked text frame that is no JSON, then reset the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/realtime HTTP/1.1\r\nSec-WebSocket-Key: eA==\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 101")
        payload = b"not json"
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + masked)
        # A zero linger turns the close into a reset.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
