"""wss:// end to end: the emulator with a certificate, the runner trusting only it.

Network rules as in tests/harness.py. The certificate is made for 127.0.0.1 by
the openssl command line, for this test only.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from rtbatch.config import RetryPolicy
from rtbatch.exitcodes import EXIT_FATAL, EXIT_OK
from rtbatch.jobs import read_jobs
from rtbatch.output.results import ResultFile
from rtbatch.run import Run, RunReport
from tests.harness import Harness, by_id, prompt_jobs, read_results, start_emulator, write_jobs

AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_emulator(
    nursery: trio.Nursery, tmp_path: Path, certificate: tuple[Path, Path]
) -> Harness:
    """An emulator serving wss:// with the test certificate."""
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    return await start_emulator(nursery, tmp_path, ssl_context=server_ctx)


async def _run(
    h: Harness, tmp: Path, client_ctx: ssl.SSLContext
) -> tuple[RunReport, list[dict[str, Any]]]:
    jobs = write_jobs(tmp / "jobs.jsonl", prompt_jobs(20))
    out = ResultFile.open(tmp / "r.jsonl")
    run = Run(h.config(concurrency=4), read_jobs(jobs), out, ssl_context=client_ctx)
    report = await run.run()
    out.close()
    return report, read_results(tmp / "r.jsonl")


async def test_runs_over_wss(
    tls_emulator: Harness, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """Jobs complete over TLS when the client trusts the server's certificate."""
    h = tls_emulator
    assert h.emulator.url.startswith("wss://")
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    report, results = await _run(h, tmp_path, trusting)
    assert report.exit_code == EXIT_OK
    assert len(by_id(results)) == 20


async def test_untrusted_certificate_is_refused(tls_emulator: Harness, tmp_path: Path) -> None:
    """An untrusted certificate stops the run at once with a clear, run-fatal error."""
    h = tls_emulator
    report, results = await _run(h, tmp_path, ssl.create_default_context())
    assert results == []
    assert report.exit_code == EXIT_FATAL
    assert report.fatal is not None and report.fatal.code == "tls_certificate"
    assert "SSL_CERT_FILE" in report.fatal.message
    assert h.emulator.stats.handshakes == 0


async def test_every_connection_of_a_run_shares_one_tls_context(
    nursery: trio.Nursery,
    tmp_path: Path,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run given no context builds the system's once, for its reconnections too.

    Each build reads and parses the whole CA bundle (18 ms for Debian's here): built
    per connection, it cost a ``-c 500`` run 9 CPU seconds before its first job.
    """
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    h = await start_emulator(
        nursery, tmp_path, ssl_context=server_ctx, faults={"drop": 0.2}, seed=3
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's trust, as a user sets it
    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    # Both kinds of session: a transcription session dials its own URL.
    listed = prompt_jobs(30) + [
        {"id": f"t-{i}", "audio": str(AUDIO / "hello.wav"), "task": "transcribe"} for i in range(6)
    ]
    jobs = write_jobs(tmp_path / "jobs.jsonl", listed)
    retry = RetryPolicy(max_attempts=20, initial_s=0.01, max_s=0.1)
    report, results = await h.run(jobs, concurrency=4, retry=retry)
    assert report.exit_code == EXIT_OK
    assert {r["id"] for r in results if r["status"] == "completed"} == {j["id"] for j in listed}
    assert {c.intent for c in h.emulator.connections} == {"realtime", "transcription"}
    assert len(h.emulator.connections) > 4  # the drops made the run dial again
    assert len(built) == 1
