"""results.py: the result line, the writer, the run lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rtbatch.jobs import JobProblem
from rtbatch.output.lock import LockBusy, RunLock
from rtbatch.output.outcome import Outcome, invalid_outcome
from rtbatch.output.results import ResultFile


def test_outcome_line_has_the_documented_fields_in_order() -> None:
    """A result line has the documented fields, model and cost_usd beside the usage."""
    record = orjson.loads(
        Outcome(
            job_id="a",
            status="completed",
            kind="text",
            line=3,
            attempts=2,
            metadata={"x": 1},
            usage={"input_tokens": 3, "output_tokens": 4},
            model="gpt-realtime-1.5",
            cost_usd=0.000076,
        ).to_json()
    )
    assert list(record) == [
        "id",
        "status",
        "kind",
        "model",
        "output",
        "usage",
        "cost_usd",
        "response_id",
        "attempts",
        "latency_ms",
        "latency",
        "error",
        "metadata",
    ]
    assert (record["model"], record["cost_usd"], record["attempts"]) == (
        "gpt-realtime-1.5",
        0.000076,
        2,
    )


def test_checks_and_passed_follow_only_for_a_job_with_expect() -> None:
    """A checked line ends with checks and passed; other lines carry neither."""
    checks = [{"check": "contains", "passed": True, "detail": "'a' at character 0"}]
    checked = Outcome(job_id="a", status="completed", kind="text", line=1, checks=checks)
    checked.passed = True
    record = orjson.loads(checked.to_json())
    assert list(record)[-2:] == ["checks", "passed"]
    assert (record["checks"], record["passed"]) == (checks, True)
    plain = orjson.loads(Outcome(job_id="a", status="completed", kind="text", line=1).to_json())
    assert "checks" not in plain and "passed" not in plain


def test_the_readme_results_table_names_every_field_a_line_can_have() -> None:
    """README.md's table under "Results" lists a line's fields in order, the optional ones too."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Results") :]
    section = section[: section.index("\n#")]
    listed = [
        row.split("|")[1].strip().strip("`")
        for row in section.splitlines()
        if row.startswith("| `")
    ]
    full = Outcome(
        job_id="a",
        status="failed",
        kind="invalid",
        line=2,
        checks=[],
        passed=False,
        has_reference=True,
    ).to_json()
    assert listed == list(orjson.loads(full))


def test_unknown_cost_and_model_are_written_as_null() -> None:
    """A job that reached no model still carries both fields, as null."""
    record = orjson.loads(Outcome(job_id="a", status="failed", kind="text", line=1).to_json())
    assert record["model"] is None and record["cost_usd"] is None
    assert "line" not in record


def test_invalid_line_result_names_its_line() -> None:
    """The line recorded for an invalid job line says which line it was."""
    problem = JobProblem(path="jobs.jsonl", line=7, field="prompt", message="must be a string")
    record = orjson.loads(invalid_outcome(problem).to_json())
    assert (record["kind"], record["line"], record["status"]) == ("invalid", 7, "failed")
    assert record["error"]["message"] == "jobs.jsonl:7: prompt: must be a string"


def test_result_file_appends_whole_lines(tmp_path: Path) -> None:
    """Each write is a whole line on disk before the next call."""
    path = tmp_path / "out" / "r.jsonl"
    results = ResultFile.open(path)
    results.write(Outcome(job_id="a", status="completed", kind="text", line=1))
    assert path.read_bytes().endswith(b"\n")
    results.write(Outcome(job_id="b", status="completed", kind="text", line=2))
    results.close()
    assert [orjson.loads(x)["id"] for x in path.read_bytes().splitlines()] == ["a", "b"]


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    """A second run on the same result file is refused with a message naming the lock."""
    results = tmp_path / "r.jsonl"
    with RunLock(results), pytest.raises(LockBusy, match="another rtbatch run"):
        RunLock(results).__enter__()
    with RunLock(results):
        pass  # released on exit


def test_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    """flock dies with its process: a killed run leaves no stale lock."""
    results = tmp_path / "r.jsonl"
    code = (
        "import os, sys; from pathlib import Path; from rtbatch.output.lock import RunLock;"
        f"RunLock(Path({str(results)!r})).__enter__(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with RunLock(results):
        pass
