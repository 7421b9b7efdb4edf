"""``--beta`` picks beta-capable default models, end to end over the emulator.

Rules: loopback only; ``--emulate`` starts the emulator in the command's own trio
run on port 0, as a compatible beta server (``accept_beta``), so these tests use
the real command line, runner, pool and emulator, and no network beyond loopback.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rtbatch import cli
from rtbatch.defaults import (
    DEFAULT_BETA_MODEL,
    DEFAULT_BETA_TRANSCRIPTION_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
)
from rtbatch.exitcodes import EXIT_OK, EXIT_USAGE
from tests.harness import prompt_jobs, read_results, write_jobs

SAMPLE = Path(__file__).resolve().parent.parent / "jobs" / "audio" / "hello.wav"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RTBATCH_* setting or key of the test's own environment reaches a command."""
    for name in list(os.environ):
        if name.startswith("RTBATCH_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def test_beta_run_of_a_text_file_uses_the_beta_model(tmp_path: Path) -> None:
    """``run FILE --emulate --beta`` completes every job with the beta default model."""
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(3))
    out = tmp_path / "out.jsonl"
    result = _invoke("run", str(jobs), "--emulate", "--beta", "-o", str(out), "-q")
    assert result.exit_code == EXIT_OK, result.output
    results = read_results(out)
    assert [r["status"] for r in results] == ["completed"] * 3
    assert {r["model"] for r in results} == {DEFAULT_BETA_MODEL}


def test_a_text_file_never_fails_on_the_transcription_model(tmp_path: Path) -> None:
    """A GA-only --transcription-model with --beta: a file of text jobs still runs."""
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(2))
    args = ["--beta", "--transcription-model", DEFAULT_TRANSCRIPTION_MODEL]
    assert _invoke("validate", str(jobs), *args).exit_code == EXIT_OK
    result = _invoke("run", str(jobs), "--emulate", *args, "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == EXIT_OK, result.output


def test_a_transcribe_job_needs_a_usable_transcription_model(tmp_path: Path) -> None:
    """The same option with a transcribe job that names no model: exit 2 naming its line."""
    shutil.copy(SAMPLE, tmp_path / "hello.wav")
    lines = [{"id": "t", "prompt": "hi"}, {"id": "a", "audio": "hello.wav", "task": "transcribe"}]
    jobs = write_jobs(tmp_path / "jobs.jsonl", lines)
    args = ["--beta", "--transcription-model", DEFAULT_TRANSCRIPTION_MODEL]
    for command in (["validate", str(jobs)], ["run", str(jobs), "--emulate"]):
        result = _invoke(*command, *args)
        assert result.exit_code == EXIT_USAGE, result.output
        assert "line 2 is a transcribe job: --transcription-model:" in result.output
        assert "not available in the beta interface" in result.output


def test_beta_transcribes_with_the_beta_default(tmp_path: Path) -> None:
    """A transcribe job under --beta --emulate completes with the beta transcription model."""
    shutil.copy(SAMPLE, tmp_path / "hello.wav")
    jobs = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "a", "audio": "hello.wav", "task": "transcribe"}]
    )
    out = tmp_path / "out.jsonl"
    result = _invoke("run", str(jobs), "--emulate", "--beta", "-o", str(out), "-q")
    assert result.exit_code == EXIT_OK, result.output
    (line,) = read_results(out)
    assert (line["status"], line["model"]) == ("completed", DEFAULT_BETA_TRANSCRIPTION_MODEL)
