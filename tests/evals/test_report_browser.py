"""The report of an emulated run, rendered by a real browser: Debian's headless Chromium.

Chromium is installed by ``make browser`` (``.ci/run`` tries it before the tests);
where it is not there the test skips and says so. It runs with the flags a closed
network needs (without the background-networking ones Chromium's own connections
are refused and logged), loads the page from its file, and we read what it built
(``--dump-dom``), what it logged (``--enable-logging=stderr``: every console message,
a refused load included, is a ``CONSOLE`` line) and what it drew (``--screenshot``).
The emulated run is real: loopback, port 0, the emulator in the test's nursery.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
import trio

from rtbatch.commands import report_command
from rtbatch.config import RetryPolicy
from rtbatch.emulator import FaultSchedule
from rtbatch.emulator.replies import transcript_words
from rtbatch.exitcodes import EXIT_OK
from tests.audio.samples import write_wav
from tests.harness import prompt_jobs, start_emulator, write_jobs

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed here: `make browser` installs it"
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
SIZE = (1100, 1800)
#: How Chromium logs a page's console message (console.*, uncaught errors, CSP refusals).
CONSOLE = re.compile(r":CONSOLE[:(]")
#: A browser that has not answered in this long is stuck, not slow.
BROWSER_TIMEOUT_S = 90


async def _chromium(tmp: Path, page: Path, *args: str) -> tuple[str, list[str]]:
    """Run Chromium on a page: its stdout and the console lines it logged."""
    assert CHROMIUM is not None
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args, page.as_uri()]
    with trio.fail_after(BROWSER_TIMEOUT_S):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr[-2000:]
    console = [line for line in stderr.splitlines() if CONSOLE.search(line)]
    return done.stdout.decode(errors="replace"), console


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def _screenshot(tmp: Path, page: Path, name: str) -> tuple[Path, list[str]]:
    shot = tmp / name
    size = f"--window-size={SIZE[0]},{SIZE[1]}"
    _, console = await _chromium(tmp, page, size, f"--screenshot={shot}")
    assert _png_size(shot) == SIZE
    return shot, console


async def test_the_scan_sees_console_errors(tmp_path: Path) -> None:
    """The check below can fail: a page's console error and a refused load are both seen."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'script-src \'unsafe-inline\'"><img src="http://example.invalid/x.png">'
        "<script>console.error('from the page')</script>"
    )
    _, console = await _chromium(tmp_path, bad, "--dump-dom")
    assert any("from the page" in line for line in console), console
    assert any("Content Security Policy" in line for line in console), console


async def test_the_report_of_an_emulated_run_renders(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Charts drawn, players there, no console message at all; a screenshot worth looking at."""
    h = await start_emulator(
        nursery, tmp_path, schedule=FaultSchedule(responses={1: "server_error"})
    )
    samples = 24_000 * 3
    write_wav(tmp_path / "q.wav", samples, 24_000)
    spoken = {"audio": "q.wav", "task": "respond", "output_modalities": ["audio"]}
    heard = {
        "audio": "q.wav",
        "task": "transcribe",
        "transcription": {"model": "gpt-4o-transcribe"},
    }
    words = transcript_words(samples)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            *prompt_jobs(8),
            {"id": "spoken <answer>", **spoken},
            {"id": "heard", **heard, "reference": " ".join([*words[:-1], "different"])},
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    results = out / "run.results.jsonl"
    report, _ = await h.run(
        jobs, results, concurrency=1, audio_out=out / "audio", retry=RetryPolicy(max_attempts=1)
    )
    assert report.summary.counts["failed"] == 1
    assert report_command(str(results), None) == EXIT_OK
    page = out / "run.report.html"

    dom, console = await _chromium(tmp_path, page, "--dump-dom")
    assert console == []
    histograms = re.findall(r'<svg class="chart histogram".*?</svg>', dom, re.S)
    assert len(histograms) == 5  # created, first_text, first_audio, done, transcript
    assert all(len(re.findall(r'<rect class="bar"', svg)) >= 1 for svg in histograms)
    assert dom.count('<svg class="chart bars"') == 1
    # wav_name made the id a file name; the page links it beside itself.
    assert '<audio controls="" preload="metadata" src="audio/spoken__answer_.wav">' in dom
    assert "spoken &lt;answer&gt;" in dom
    assert "server_error" in dom

    shot, console = await _screenshot(tmp_path, page, "report.png")
    assert console == []
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><title>blank</title>")
    control, _ = await _screenshot(tmp_path, blank, "blank.png")
    # A drawn page compresses far worse than an empty one.
    assert shot.stat().st_size > 5 * control.stat().st_size
