"""Interop: openai-node's README example (``OpenAIRealtimeWS``) runs against the emulator.

The example (``openai_node_readme.mjs``) runs unmodified: its client takes the URL
from ``OPENAI_BASE_URL`` and the key from ``OPENAI_API_KEY``. It connects with a
beta-era model over the beta dialect, so the emulator runs with ``accept_beta``;
openai-node always dials ``wss://``, so the emulator serves TLS with a certificate
made for 127.0.0.1 that node is told to trust (``NODE_EXTRA_CA_CERTS``).

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; node runs as a subprocess under
a trio deadline; the client closes first. The ``openai`` and ``ws`` npm packages are
installed once into pytest's cache directory; without node, npm, openssl or the
registry the test is skipped, saying why.
"""

from __future__ import annotations

import shlex
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
import trio

from rtbatch.emulator import EmulatorConfig, serve
from tests.emulator.helpers import KEY

#: The npm packages the example needs, pinned so a new release cannot change the test.
NPM_PACKAGES = ("openai@7.55.0", "ws@8.23.0")
NPM_INSTALL_TIMEOUT_S = 180
NODE_RUN_TIMEOUT_S = 30
EXAMPLE = Path(__file__).with_name("openai_node_readme.mjs")
SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "004_a019224f58406877.txt"
#: The example file's own header: three comment lines saying where it comes from.
HEADER_LINES = 3
CERT_COMMAND = shlex.split(
    "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
    "-addext subjectAltName=IP:127.0.0.1"
)


@pytest.fixture(scope="session")
def node_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the example and its npm packages installed (cached across runs)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run openai-node's example")
    cache = getattr(request.config, "cache", None)
    home = cache.mkdir("openai-node") if cache is not None else tmp_path_factory.mktemp("node")
    stamp = home / ("installed-" + "-".join(NPM_PACKAGES).replace("/", "_"))
    if not stamp.exists():
        try:
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *NPM_PACKAGES],
                cwd=home,
                check=True,
                capture_output=True,
                timeout=NPM_INSTALL_TIMEOUT_S,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"npm install {' '.join(NPM_PACKAGES)} failed: {exc}")
        stamp.touch()
    shutil.copyfile(EXAMPLE, home / EXAMPLE.name)
    return home


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [*CERT_COMMAND, "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


def test_the_example_is_the_seeds_unmodified():
    """The committed example is the README's code as the seeds hold it, byte for byte."""
    if not SEED.exists():
        pytest.skip(f"the seeds are not beside this checkout ({SEED})")
    body = "".join(EXAMPLE.read_text().splitlines(keepends=True)[HEADER_LINES:])
    assert body.startswith("// requires `yarn add ws @types/ws`\nimport { OpenAIRealtimeWS }")
    assert body in SEED.read_text()


async def test_openai_node_readme_example_runs(
    nursery: trio.Nursery, node_project: Path, certificate: tuple[Path, Path]
):
    """The README example connects, updates via an alias, streams a reply and closes cleanly."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    emu = await nursery.start(
        serve, EmulatorConfig(api_key=KEY, accept_beta=True, ssl_context=context, record=True)
    )
    env = {
        "PATH": str(Path(shutil.which("node") or "node").parent),
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": emu.url.replace("wss://", "https://").removesuffix("/realtime"),
        "NODE_EXTRA_CA_CERTS": str(cert),
    }
    with trio.fail_after(NODE_RUN_TIMEOUT_S):
        done = await trio.run_process(
            ["node", EXAMPLE.name],
            cwd=node_project,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    assert out.startswith("Connection opened!\nsession created!")
    assert "Emulated reply" in out and out.endswith("\nConnection closed!\n")
    (record,) = emu.connections
    assert (record.dialect, record.model) == ("beta", "gpt-4o-realtime-preview-2024-12-17")
    assert [e["type"] for e in record.received] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    assert record.responses[0]["status"] == "completed"
    assert emu.stats.errors_sent == 0
