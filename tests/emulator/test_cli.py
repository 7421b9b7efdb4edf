"""``rtbatch serve`` as a process: listening line, one turn, clean Ctrl-C; bad options.

Network test rules: loopback only, port 0 (the real port is read from the listening
line); the server runs as a subprocess; every wait has a trio deadline.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import trio
from click.testing import CliRunner

from rtbatch.emulator.cli import serve
from tests.emulator.helpers import KEY, connect

LAUNCH = [sys.executable, "-c", "from rtbatch.cli import main; main()", "serve"]
LISTENING = re.compile(r"rtbatch emulator listening on (ws://\S+)")


class _Url:
    def __init__(self, url: str) -> None:
        self.url = url


async def test_serve_subprocess_turn_and_sigint():
    """serve --port 0 prints its URL, answers a turn, exits 0 on SIGINT, no traceback."""
    env = {**os.environ, "RTBATCH_SERVE_API_KEY": KEY}
    proc = await trio.lowlevel.open_process(
        [*LAUNCH, "--port", "0", "--reply-words", "3"],
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    stderr = b""
    try:
        with trio.fail_after(15):
            while not LISTENING.search(stderr.decode()):
                chunk = await proc.stderr.receive_some()
                assert chunk, stderr
                stderr += chunk
        url = LISTENING.search(stderr.decode()).group(1)
        async with connect(_Url(url)) as client:
            await client.text_session()
            events = await client.turn()
            assert events[-2]["response"]["output"][0]["content"][0]["text"].count(" ") == 2
        proc.send_signal(signal.SIGINT)
        with trio.fail_after(15):
            while chunk := await proc.stderr.receive_some():
                stderr += chunk
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = stderr.decode()
    assert code == 0, text
    assert "Traceback" not in text
    assert KEY not in text
    assert "open dialect=ga intent=realtime model=gpt-realtime" in text
    assert "close dialect=ga" in text


def test_bad_fault_option_is_usage_error():
    """A bad --fault value exits 2 with a message naming the option."""
    result = CliRunner().invoke(serve, ["--fault", "explode=0.5"])
    assert result.exit_code == 2
    assert "--fault" in result.output and "KIND=RATE" in result.output
    result = CliRunner().invoke(serve, ["--fault", "drop=2"])
    assert result.exit_code == 2


def test_options_read_the_environment(monkeypatch):
    """Every option falls back to RTBATCH_SERVE_<NAME>; options show their defaults."""
    captured = {}
    monkeypatch.setattr("rtbatch.emulator.main.run_forever", lambda **kw: captured.update(kw))
    monkeypatch.setenv("RTBATCH_SERVE_REPLY_WORDS", "7")
    monkeypatch.setenv("RTBATCH_SERVE_RPM", "30")
    result = CliRunner().invoke(serve, ["--fault", "drop=0.1", "--fault", "stall=0.2"])
    assert result.exit_code == 0, result.output
    assert captured["reply_words"] == 7 and captured["rpm"] == 30
    assert captured["faults"] == {"drop": 0.1, "stall": 0.2}
    help_text = CliRunner().invoke(serve, ["--help"]).output
    for option in (
        "--host",
        "--port",
        "--api-key",
        "--latency-ms",
        "--token-delay-ms",
        "--reply-words",
        "--fault",
        "--seed",
        "--session-max-seconds",
        "--rpm",
        "--tpm",
        "--certfile",
        "--keyfile",
        "--accept-beta",
    ):
        assert option in help_text
    assert "default: 8000" in help_text
