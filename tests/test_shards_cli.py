"""run --shard and --shards: the shard's source, result file, limits and jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rtbatch import cli, runner
from rtbatch.output.resume import job_key
from rtbatch.runner import RunRequest
from rtbatch.shards import partition as shards
from rtbatch.shards.partition import Shard
from tests import test_cli

SCHEDULER_VARIABLES = (
    shards.K8S_INDEX,
    shards.SLURM_TASK_ID,
    shards.SLURM_TASK_COUNT,
    shards.SLURM_TASK_MIN,
    shards.SLURM_TASK_MAX,
    shards.SLURM_TASK_STEP,
    "RTBATCH_SHARD",
    "RTBATCH_SHARDS",
    "RTBATCH_OUTPUT",
)
JOBS = 60


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.jsonl"
    lines = [f'{{"id": "job-{i}", "prompt": "q{i}"}}' for i in range(JOBS)]
    lines.insert(7, '{"id": "bad", "promt": "typo"}')  # line 8, kept by --skip-invalid
    path.write_text("\n".join(lines) + "\n")
    return path


# runner.execute records the request instead of running it, as in tests/test_cli.py.
captured = test_cli.captured


@pytest.fixture(autouse=True)
def no_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shard variable of the test's own environment reaches a command."""
    for name in SCHEDULER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _run(jobs: Path, *args: str, **env: str) -> Any:
    return CliRunner().invoke(
        cli.main,
        ["run", str(jobs), *args],
        env={"OPENAI_API_KEY": "sk-abc", **env},
        catch_exceptions=False,
    )


def _one(result: Any, captured: list[RunRequest]) -> RunRequest:
    assert result.exit_code == 0, result.output
    (request,) = captured
    return request


def test_shard_option_names_the_result_file(jobs: Path, captured: list[RunRequest]) -> None:
    """--shard 2/4 with -o out/r.jsonl writes out/r.shard-2-of-4.jsonl and logs its source."""
    result = _run(jobs, "--shard", "2/4", "-o", "out/r.jsonl")
    request = _one(result, captured)
    assert request.shard == Shard(2, 4)
    assert request.output == Path("out/r.shard-2-of-4.jsonl")
    assert "from --shard 2/4" in result.output


def test_default_result_file_is_per_shard(jobs: Path, captured: list[RunRequest]) -> None:
    """Without -o a shard writes JOBS.results.shard-K-of-N.jsonl beside the job file."""
    request = _one(_run(jobs, "--shard", "0/3"), captured)
    assert request.output == jobs.with_name("jobs.results.shard-0-of-3.jsonl")


def test_output_naming_this_shard_is_kept(jobs: Path, captured: list[RunRequest]) -> None:
    """-o naming this very shard's file is used as it is, not renamed twice."""
    request = _one(_run(jobs, "--shard", "1/4", "-o", "r.shard-1-of-4.jsonl"), captured)
    assert request.output == Path("r.shard-1-of-4.jsonl")


def test_output_naming_another_shard_is_refused(jobs: Path, captured: list[RunRequest]) -> None:
    """-o naming another shard's file is a usage error (exit 2) naming --output."""
    result = _run(jobs, "--shard", "1/4", "-o", "r.shard-2-of-4.jsonl")
    assert result.exit_code == 2
    assert "--output" in result.output and "shard 2/4" in result.output
    assert captured == []


def test_stdout_stays_stdout(jobs: Path, captured: list[RunRequest]) -> None:
    """-o - with a shard still writes to standard output."""
    request = _one(_run(jobs, "--shard", "1/4", "-o", "-"), captured)
    assert request.output is None and request.shard == Shard(1, 4)


def test_kubernetes_index_with_shards(jobs: Path, captured: list[RunRequest]) -> None:
    """JOB_COMPLETION_INDEX with --shards (or RTBATCH_SHARDS) gives the shard; the log says so."""
    result = _run(jobs, "--shards", "4", "-o", "r.jsonl", JOB_COMPLETION_INDEX="3")
    assert _one(result, captured).shard == Shard(3, 4)
    assert "JOB_COMPLETION_INDEX=3" in result.output
    captured.clear()
    request = _one(_run(jobs, JOB_COMPLETION_INDEX="0", RTBATCH_SHARDS="2"), captured)
    assert request.shard == Shard(0, 2)
    assert request.output == jobs.with_name("jobs.results.shard-0-of-2.jsonl")


def test_kubernetes_index_without_shards_is_a_usage_error(
    jobs: Path, captured: list[RunRequest]
) -> None:
    """JOB_COMPLETION_INDEX alone exits 2 naming the variable and --shards."""
    result = _run(jobs, JOB_COMPLETION_INDEX="1")
    assert result.exit_code == 2
    assert "JOB_COMPLETION_INDEX" in result.output and "--shards" in result.output
    assert captured == []


def test_slurm_array_maps_task_ids_from_the_minimum(jobs: Path, captured: list[RunRequest]) -> None:
    """Task 102 of a Slurm array 100-103 is shard 2/4."""
    env = {
        "SLURM_ARRAY_TASK_ID": "102",
        "SLURM_ARRAY_TASK_COUNT": "4",
        "SLURM_ARRAY_TASK_MIN": "100",
        "SLURM_ARRAY_TASK_MAX": "103",
    }
    result = _run(jobs, "-o", "r.jsonl", **env)
    request = _one(result, captured)
    assert request.shard == Shard(2, 4)
    assert request.output == Path("r.shard-2-of-4.jsonl")
    assert "SLURM_ARRAY_TASK_ID=102" in result.output


def test_option_wins_over_scheduler_variables(jobs: Path, captured: list[RunRequest]) -> None:
    """RTBATCH_SHARD (the --shard fallback) is used before JOB_COMPLETION_INDEX."""
    request = _one(_run(jobs, RTBATCH_SHARD="1/2", JOB_COMPLETION_INDEX="5"), captured)
    assert request.shard == Shard(1, 2)


def test_shards_without_an_index_is_a_usage_error(jobs: Path, captured: list[RunRequest]) -> None:
    """--shards with no index anywhere exits 2 rather than run the whole file N times."""
    result = _run(jobs, "--shards", "4")
    assert result.exit_code == 2 and "--shards" in result.output
    assert captured == []


@pytest.mark.parametrize(("index", "rpm", "tpm"), [(0, 3, 2501), (1, 3, 2500), (3, 2, 2500)])
def test_limits_are_divided(
    jobs: Path, captured: list[RunRequest], index: int, rpm: int, tpm: int
) -> None:
    """--rpm 10 and --tpm 10001 over 4 shards: shares that sum to the whole."""
    request = _one(_run(jobs, "--shard", f"{index}/4", "--rpm", "10", "--tpm", "10001"), captured)
    assert (request.config.rpm, request.config.tpm) == (rpm, tpm)


def test_limits_are_kept_when_not_sharded(jobs: Path, captured: list[RunRequest]) -> None:
    """An unsharded run keeps --rpm and --tpm as given and reads every line."""
    request = _one(_run(jobs, "--rpm", "10", "--tpm", "7"), captured)
    assert (request.shard, request.config.rpm, request.config.tpm) == (None, 10, 7)
    assert sum(1 for _ in request.read()) == JOBS + 1


@pytest.mark.parametrize("option", ["--rpm", "--tpm"])
def test_limit_below_the_shard_count_is_a_usage_error(
    jobs: Path, captured: list[RunRequest], option: str
) -> None:
    """A limit of 3 over 4 shards exits 2 naming the option."""
    result = _run(jobs, "--shard", "0/4", option, "3")
    assert result.exit_code == 2
    assert f"{option}: 3 cannot be divided among 4 shards" in result.output
    assert captured == []


def test_each_shard_reads_only_its_own_items(jobs: Path, captured: list[RunRequest]) -> None:
    """The check and the run see each job and invalid line in exactly one shard."""
    seen: list[str] = []
    for index in range(3):
        _run(jobs, "--shard", f"{index}/3", "--skip-invalid")
        request = captured[-1]
        keys = [job_key(item) for item in request.read()]
        assert keys and all(shards.shard_of(key, 3) == index for key in keys)
        valid, problems, work = runner.check_file(request)
        assert valid + len(problems) == len(keys) == work[0]
        assert sum(work) == JOBS + 1
        seen += keys
    assert sorted(seen) == sorted([f"job-{i}" for i in range(JOBS)] + ["line:8"])


def test_transcribe_takes_a_shard_from_the_scheduler(
    tmp_path: Path, captured: list[RunRequest]
) -> None:
    """transcribe under a Kubernetes index: its own result file in the output directory."""
    audio = tmp_path / "in"
    audio.mkdir()
    for name in ("a.wav", "b.wav"):
        (audio / name).write_bytes(b"RIFF")  # found by extension; not decoded here
    result = CliRunner().invoke(
        cli.main,
        ["transcribe", str(audio), "-o", str(tmp_path / "out"), "--shards", "2"],
        env={"OPENAI_API_KEY": "sk-abc", shards.K8S_INDEX: "1"},
        catch_exceptions=False,
    )
    request = _one(result, captured)
    assert request.shard == Shard(1, 2)
    assert request.output == tmp_path / "out" / "results.shard-1-of-2.jsonl"
    assert request.config.transcripts == tmp_path / "out"
