"""cli.py: options and environment become the right request; usage errors exit 2."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rtbatch import cli, runner
from rtbatch.config import CONCURRENCY, ApiKey, RunConfig
from rtbatch.output.formats import FORMATS
from rtbatch.runner import RunRequest


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_text('{"id": "a", "prompt": "hi"}\n')
    return path


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[RunRequest]:
    calls: list[RunRequest] = []

    def fake_execute(request: RunRequest) -> int:
        calls.append(request)
        return 0

    monkeypatch.setattr(runner, "execute", fake_execute)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return calls


def _run(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.main, args, env=env, catch_exceptions=False)


def test_options_reach_the_config(jobs: Path, captured: list[RunRequest]) -> None:
    """Every run option lands in the request the library receives."""
    result = _run(
        [
            "run",
            str(jobs),
            "--model",
            "m1",
            "-c",
            "7",
            "--beta",
            "--max-attempts",
            "9",
            "--job-timeout",
            "2m",
            "--deadline",
            "1h30m",
            "--rpm",
            "100",
            "--no-retry-failed",
            "--url",
            "ws://127.0.0.1:9/v1/realtime",
            "-o",
            "out.jsonl",
            "--seed",
            "4",
            "--audio-format",
            "g711_alaw",
            "--language",
            "fr",
            "--audio-out",
            "wavs",
            "--tpm",
            "9000",
            "--instructions",
            "Be brief.",
            "--skip-invalid",
            "--grace",
            "10s",
            "--transcription-model",
            "whisper-1",
            "--summary",
            "s.json",
        ],
        env={"OPENAI_API_KEY": "sk-abc"},
    )
    assert result.exit_code == 0, result.output
    (request,) = captured
    c = request.config
    assert (c.model, c.concurrency, c.dialect, c.retry.max_attempts) == ("m1", 7, "beta", 9)
    assert (c.timeouts.job_s, c.deadline_s, c.rpm, c.retry_failed) == (120.0, 5400.0, 100, False)
    assert c.url == "ws://127.0.0.1:9/v1/realtime"
    assert c.api_key.reveal() == "sk-abc"
    assert request.output == Path("out.jsonl")
    assert (c.tpm, c.instructions, c.skip_invalid, c.grace_s) == (9000, "Be brief.", True, 10.0)
    assert (c.transcription_model, c.summary_file) == ("whisper-1", "s.json")
    assert c.seed == 4
    assert (c.audio_format, c.language, c.audio_out) == ("g711_alaw", "fr", Path("wavs"))


def test_environment_fallbacks(jobs: Path, captured: list[RunRequest]) -> None:
    """RTBATCH_* variables stand in for options."""
    result = _run(
        ["run", str(jobs)],
        env={
            "OPENAI_API_KEY": "sk-abc",
            "RTBATCH_CONCURRENCY": "3",
            "RTBATCH_MODEL": "m2",
            "RTBATCH_EMULATE": "1",
        },
    )
    assert result.exit_code == 0, result.output
    assert captured[0].config.concurrency == 3
    assert captured[0].config.model == "m2"
    assert captured[0].config.emulate


def test_default_output_is_next_to_the_jobs(jobs: Path, captured: list[RunRequest]) -> None:
    """Without -o the results go beside the job file; '-' means stdout."""
    _run(["run", str(jobs)], env={"OPENAI_API_KEY": "k"})
    _run(["run", str(jobs), "-o", "-"], env={"OPENAI_API_KEY": "k"})
    assert captured[0].output == jobs.with_name("jobs.results.jsonl")
    assert captured[1].output is None


def test_key_from_file_and_never_from_an_option(
    jobs: Path, tmp_path: Path, captured: list[RunRequest]
) -> None:
    """--api-key-file works; there is no --api-key option."""
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    assert _run(["run", str(jobs), "--api-key-file", str(key_file)]).exit_code == 0
    assert captured[0].config.api_key.reveal() == "sk-from-file"
    assert _run(["run", str(jobs), "--api-key", "sk-x"]).exit_code == 2


def test_missing_key_is_a_usage_error(jobs: Path, captured: list[RunRequest]) -> None:
    """No key and no --emulate: exit 2 naming OPENAI_API_KEY; --emulate needs none."""
    result = _run(["run", str(jobs)])
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output
    assert _run(["run", str(jobs), "--emulate"]).exit_code == 0
    assert captured[0].config.api_key.reveal() == cli.EMULATOR_KEY


@pytest.mark.parametrize("args", [["-c", "0"], ["--deadline", "soon"], ["--job-timeout", "-3"]])
def test_bad_values_exit_2(jobs: Path, captured: list[RunRequest], args: list[str]) -> None:
    """Bad option values are usage errors, not tracebacks."""
    result = _run(["run", str(jobs), *args], env={"OPENAI_API_KEY": "k"})
    assert result.exit_code == 2
    assert not captured


def test_exit_code_is_the_librarys(jobs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever execute returns is the process exit code."""
    for code in (0, 1, 3, 130):
        monkeypatch.setattr(runner, "execute", lambda request, code=code: code)
        assert _run(["run", str(jobs), "--emulate"]).exit_code == code


def test_help_lists_exit_codes_and_env() -> None:
    """--help documents exit codes and the RTBATCH_ variables."""
    text = _run(["run", "--help"]).output
    assert "130" in text and "run-fatal" in text
    assert "RTBATCH_CONCURRENCY" in text


def test_validate_reports_and_exits_2(tmp_path: Path) -> None:
    """validate prints each problem with file and line, and exits 2."""
    path = tmp_path / "j.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\nnot json\n')
    result = CliRunner().invoke(cli.main, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: id:" in result.output
    assert f"{path}:3:" in result.output
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"id": "a", "prompt": "x"}\n')
    assert CliRunner().invoke(cli.main, ["validate", str(ok)]).exit_code == 0


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    """A job file that does not exist is a usage error, not a traceback."""
    result = CliRunner().invoke(cli.main, ["validate", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_defaults_are_the_librarys(jobs: Path, captured: list[RunRequest]) -> None:
    """With no options the forwarded config is the library's own default RunConfig."""
    assert _run(["run", str(jobs)], env={"OPENAI_API_KEY": "k"}).exit_code == 0
    expected = RunConfig(api_key=ApiKey("k"), formats=FORMATS)
    assert captured[0].config == expected
    assert _run(["run", str(jobs), "--beta"], env={"OPENAI_API_KEY": "k"}).exit_code == 0
    assert captured[1].config == replace(expected, dialect="beta", model="", transcription_model="")


def test_transcribe_shares_runs_options(tmp_path: Path, captured: list[RunRequest]) -> None:
    """transcribe takes run's engine options and RTBATCH_* variables; --model is its model."""
    (tmp_path / "a.wav").write_bytes(b"RIFF")  # found by extension; not decoded here
    out = str(tmp_path / "out")
    result = _run(
        ["transcribe", str(tmp_path / "a.wav"), "-o", out, "--model", "m", "--max-attempts", "2"],
        env={"RTBATCH_JOB_TIMEOUT": "1m", "RTBATCH_RPM": "60", "RTBATCH_EMULATE": "1"},
    )
    assert result.exit_code == 0, result.output
    c = captured[0].config
    assert (c.transcription_model, c.retry.max_attempts, c.timeouts.job_s, c.rpm) == (
        "m",
        2,
        60.0,
        60,
    )
    assert c.transcripts == tmp_path / "out" and c.emulate


def test_validate_and_estimate_need_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that send nothing run without OPENAI_API_KEY."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "ok.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n')
    assert _run(["validate", str(path), "--beta"]).exit_code == 0
    assert _run(["estimate", str(path), "--beta", "--json"]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "0"], f"expected {CONCURRENCY}, got 0"),
        (["--max-segment", "0.5s"], "too short"),
        (["--url", "http://x"], "url: expected a ws:// or wss:// URL"),
    ],
)
def test_ranges_come_from_the_config(
    jobs: Path, captured: list[RunRequest], args: list[str], message: str
) -> None:
    """click refuses out-of-range values with the config's own bounds; exit 2."""
    result = _run(["run", str(jobs), *args], env={"OPENAI_API_KEY": "k"})
    assert result.exit_code == 2 and message in result.output
    assert not captured


def test_target_values_are_usage_errors(tmp_path: Path) -> None:
    """validate and estimate refuse a bad --url with exit 2 naming the field, no traceback."""
    path = tmp_path / "ok.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n')
    for command in ("validate", "estimate"):
        result = _run([command, str(path), "--url", "http://x"])
        assert result.exit_code == 2 and "url: expected a ws://" in result.output


def test_an_idle_timeout_the_user_sets_is_not_learned_over(
    jobs: Path, captured: list[RunRequest]
) -> None:
    """Unset: the default is a cap the run learns under; set (option or variable): exact."""
    env = {"OPENAI_API_KEY": "sk-abc"}
    assert _run(["run", str(jobs)], env=env).exit_code == 0
    assert _run(["run", str(jobs), "--idle-timeout", "30s"], env=env).exit_code == 0
    assert _run(["run", str(jobs)], env={**env, "RTBATCH_IDLE_TIMEOUT": "4"}).exit_code == 0
    got = [(r.config.timeouts.idle_s, r.config.timeouts.idle_learned) for r in captured]
    assert got == [(10.0, True), (30.0, False), (4.0, False)]


def test_tool_options_reach_the_config_and_the_rules(
    jobs: Path, captured: list[RunRequest], tmp_path: Path
) -> None:
    """--tools is read into the job rules; --max-tool-rounds (or its variable) into the config."""
    tools = tmp_path / "tools.json"
    tools.write_text('{"tools": [{"type": "function", "name": "get_time"}]}')
    env = {"OPENAI_API_KEY": "sk-x", "RTBATCH_MAX_TOOL_ROUNDS": "3"}
    result = _run(["run", str(jobs), "--tools", str(tools)], env=env)
    assert result.exit_code == 0, result.output
    (request,) = captured
    assert request.config.tools_file == tools and request.config.max_tool_rounds == 3
    assert request.rules.tools is not None and request.rules.tools.definitions is not None
    assert [d["name"] for d in request.rules.tools.definitions] == ["get_time"]


@pytest.mark.parametrize("rounds", ["-1", "101", "x"])
def test_max_tool_rounds_out_of_range_is_bad_usage(
    jobs: Path, captured: list[RunRequest], rounds: str
) -> None:
    """0 to 100 rounds; anything else exits 2 naming the option, before any run."""
    result = _run(["run", str(jobs), "--max-tool-rounds", rounds], env={"OPENAI_API_KEY": "sk-x"})
    assert result.exit_code == 2 and "--max-tool-rounds" in result.output
    assert captured == []
