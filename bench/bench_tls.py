"""Benchmark: what wss:// costs a run, beside ws://, with the system's whole CA bundle.

Against the service every connection is TLS, and the client trusts the system's
CA bundle. The throughput section runs over ws:// (the emulator's default), which
hid that rtbatch built a TLS context per connection: reading Debian's bundle is
18 ms, at ``-c 500`` 9 CPU seconds before the first job. Here the emulator serves
wss:// with a certificate from a CA made for the run, the client's
``SSL_CERT_FILE`` is the system bundle with that CA appended (the system's size,
so each context built costs what it costs a user), and the same jobs run over
ws:// against a plain emulator right before: J = ``ROUNDS``·C jobs of L = 1 s at
C = 100 and 500. The figure is the wss:// run's wall over the ws:// one's, and
each run's fraction of the limit J·L/C.

The certificates come from the ``openssl`` command line; without it the section
says so and measures nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Emulator, run_rtbatch, write_text_jobs

CONCURRENCIES = (100, 500)
LATENCY_S = 1.0
ROUNDS = 4
QUICK_ROUNDS = 2
#: The system's bundle, where Debian (and OpenSSL's default) keeps it.
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: A TLS run may take at most this much longer than the same run over ws://: the
#: handshakes' own cost on both cores (the emulator signs each with RSA-2048), about
#: 1.2 at C = 500; a context built per connection made it 3.5 (19 s against 5 s).
RATIO_MAX = 1.5


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """(server certificate, its key, the client's bundle: the system's plus the new CA)."""
    ca_key, ca, key, csr, cert = (tmp / n for n in ("ca.key", "ca.pem", "k.pem", "s.csr", "s.pem"))
    ext = tmp / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=rtbatch bench CA", "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    bundle = tmp / "bundle.pem"
    system = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
    bundle.write_bytes(system + b"\n" + ca.read_bytes())
    return cert, key, bundle


def run(quick: bool = False) -> dict[str, Any]:
    """Each concurrency over ws:// then wss://; the ratios and the verdict."""
    if shutil.which("openssl") is None:
        return {"skipped": "no openssl command to make the certificates"}
    rounds = QUICK_ROUNDS if quick else ROUNDS
    cells = []
    with tempfile.TemporaryDirectory(prefix="rtbatch-bench-tls-") as name:
        tmp = Path(name)
        cert, key, bundle = make_certificates(tmp)
        tls_options = ["--certfile", str(cert), "--keyfile", str(key)]
        latency_ms = LATENCY_S * 1000
        with (
            Emulator(latency_ms=latency_ms) as plain,
            Emulator(latency_ms=latency_ms, extra=tls_options) as tls,
        ):
            for c in CONCURRENCIES:
                jobs = rounds * c
                path = write_text_jobs(tmp / f"tls-{c}.jsonl", jobs)
                limit = jobs * LATENCY_S / c
                cell: dict[str, Any] = {"concurrency": c, "jobs": jobs, "limit_s": limit}
                for scheme, emulator in (("ws", plain), ("wss", tls)):
                    extra = {"SSL_CERT_FILE": str(bundle)} if scheme == "wss" else {}
                    figures = run_rtbatch(emulator, path, c, env=extra, timeout_s=300)
                    wall = figures.get("run_wall_s")
                    cell[scheme] = {
                        "run_wall_s": wall,
                        "cpu_s": figures.get("cpu_s"),
                        "completed": figures.get("completed"),
                        "fraction": round(limit / wall, 3) if wall else None,
                        **({"error": figures["error"]} if "error" in figures else {}),
                    }
                ws_wall, wss_wall = cell["ws"]["run_wall_s"], cell["wss"]["run_wall_s"]
                if ws_wall and wss_wall and cell["wss"]["completed"] == jobs:
                    cell["ratio"] = round(wss_wall / ws_wall, 3)
                cells.append(cell)
    return {
        "cells": cells,
        "latency_s": LATENCY_S,
        "bundle_bytes": SYSTEM_BUNDLE.stat().st_size if SYSTEM_BUNDLE.exists() else 0,
        "ratio_max": RATIO_MAX,
        "pass": all(c.get("ratio", float("inf")) <= RATIO_MAX for c in cells),
    }
