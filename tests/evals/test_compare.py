"""``rtbatch compare``: two emulated runs with different faults and latency, then
hand-written files for each kind of change, the gates, and bad input.

Network rules: loopback only, port 0, emulators started in pytest-trio's nursery,
trio's ``autojump_clock`` so that the latency the emulators add is exact.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from click.testing import CliRunner

from rtbatch import cli
from rtbatch.config import RetryPolicy
from rtbatch.emulator import FaultSchedule
from rtbatch.evals.compare import compare
from rtbatch.evals.gates import Gates, LatencyGate, judge, latency_gate
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tests.harness import prompt_jobs, start_emulator, write_jobs


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["compare", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


async def test_two_emulated_runs(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """B is slower and one of its jobs fails: the figures, the changed id, the gates."""
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(6))
    fast = await start_emulator(nursery, tmp_path, latency_ms=100)
    slow = await start_emulator(
        nursery, tmp_path, latency_ms=300, schedule=FaultSchedule(responses={2: "server_error"})
    )
    once = RetryPolicy(max_attempts=1)
    await fast.run(jobs, tmp_path / "a.jsonl", concurrency=1, retry=once)
    await slow.run(jobs, tmp_path / "b.jsonl", concurrency=1, retry=once)

    found = compare(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    a, b = found.a.totals, found.b.totals
    assert (a.counts["completed"], b.counts["completed"], b.counts["failed"]) == (6, 5, 1)
    assert a.stage("done")["p50"] == 100 and b.stage("done")["p50"] == 300
    assert a.stage("created")["max"] == b.stage("created")["max"] == 0
    (change,) = found.changes
    assert change.id == "job-2" and change.aspects == ("status",)
    assert (change.a["status"], change.b["status"], change.b["error"]) == (
        "completed",
        "failed",
        "server_error",
    )
    assert found.new_failures == 1 and not found.only_in_a and not found.only_in_b

    verdicts = judge(
        Gates(completed_drop=10, new_failures=0, latency=(LatencyGate("done", "p95", 150),)),
        a,
        b,
        found.new_failures,
    )
    assert [(v.gate, v.value, v.failed) for v in verdicts] == [
        ("completed drop", pytest.approx(100 / 6), True),
        ("new failures", 1.0, True),
        ("done p95 increase", 200.0, True),
    ]

    code, out = _cli(str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"))
    assert code == EXIT_OK  # no gate given
    assert "job-2: status completed → failed (server_error)" in out
    assert "done p50 ms 100 300 +200.0%" in " ".join(out.split())
    assert "cost per job $0.000288 $0.000288 +0.0%" in " ".join(out.split())
    code, out = _cli(
        str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--max-latency-increase", "done=150"
    )
    assert code == EXIT_FAILED
    assert "done p95 increase: +200.00 % > 150 %: FAIL" in out
    code, out = _cli(
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "b.jsonl"),
        "--max-latency-increase",
        "done@p50=250",
        "--max-new-failures",
        "1",
        "--max-completed-drop",
        "20",
    )
    assert code == EXIT_OK, out
    assert "B passes every gate" in out


def _line(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "status": "completed", "kind": "text", "model": "m", **fields}


def _write(path: Path, lines: list[dict[str, Any] | bytes]) -> str:
    path.write_bytes(
        b"".join(x if isinstance(x, bytes) else orjson.dumps(x) + b"\n" for x in lines)
    )
    return str(path)


def _calls(*calls: tuple[str, Any]) -> dict[str, Any]:
    return {
        "text": "",
        "tool_calls": [{"name": n, "arguments": a, "call_id": "c"} for n, a in calls],
    }


def _checks(**results: bool) -> dict[str, Any]:
    checks = [{"check": name, "passed": ok, "detail": ""} for name, ok in results.items()]
    return {"checks": checks, "passed": all(results.values())}


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    """A and B with one id per kind of change, duplicates, a torn line, ids in one file."""
    a = _write(
        tmp_path / "a.jsonl",
        [
            _line("same", **_checks(contains=True), output=_calls(("f", {"x": 1}))),
            _line("checks", **_checks(contains=True, regex=True)),
            _line("tools", output=_calls(("lookup", {"order": 1}))),
            _line("status", latency={"done": 100}, cost_usd=0.001),
            _line("gone"),
            _line("same", status="failed"),  # a later duplicate: skipped
        ],
    )
    b = _write(
        tmp_path / "b.jsonl",
        [
            _line("new"),
            _line("tools", output=_calls(("lookup", {"order": 2}), ("refund", {}))),
            _line("status", status="incomplete", latency={"done": 120}, cost_usd=0.002),
            _line("checks", **_checks(contains=True, regex=False)),
            _line("same", **_checks(contains=True), output=_calls(("f", {"x": 1}))),
            _line("new", status="failed"),
            b'{"id": "torn", "status": "comp',
        ],
    )
    return a, b


def test_each_kind_of_change(pair: tuple[str, str]) -> None:
    """Status, checks and tool calls changes, each with both sides; one-file ids; duplicates."""
    found = compare(*pair)
    changes = {c.id: c for c in found.changes}
    assert list(changes) == ["tools", "status", "checks"]  # in B's order
    assert changes["tools"].aspects == ("tool_calls",)
    assert [c["arguments"] for c in changes["tools"].a["tool_calls"]] == [{"order": 1}]
    assert [c["name"] for c in changes["tools"].b["tool_calls"]] == ["lookup", "refund"]
    assert changes["status"].aspects == ("status",)
    assert changes["checks"].aspects == ("checks",)
    assert changes["checks"].b["failing_checks"] == ["regex"]
    assert changes["checks"].a["passed"] is True
    assert found.new_failures == 2  # status and checks; a new tool call is not a failure
    assert (found.only_in_a, found.only_in_b) == (["gone"], ["new"])
    assert (found.a.duplicates, found.b.duplicates) == (1, 1)
    assert (found.a.unreadable.count, found.b.unreadable.count) == (0, 1)
    assert found.b.unreadable.first_line == 7
    assert (found.a.totals.pass_rate, found.b.totals.pass_rate) == (1.0, 0.5)
    assert found.b.totals.cost_per_job_usd == pytest.approx(0.002)


def test_text_and_json(pair: tuple[str, str]) -> None:
    """The text names every change; --json carries the same, and the verdicts."""
    code, out = _cli(*pair, "--max-pass-rate-drop", "10")
    assert code == EXIT_FAILED
    assert '  tools: tool calls lookup {"order":1} → lookup {"order":2}, refund {}' in out
    assert "  checks: checks passed → failed (regex)" in out
    assert "  status: status completed → incomplete" in out
    assert "only in A: 1: gone" in out and "only in B: 1: new" in out
    assert "B: 1 unreadable line(s) skipped" in out
    assert "pass rate drop: +50.00 points > 10 points: FAIL" in out
    code, out = _cli(*pair, "--json", "--max-cost-increase", "150")
    assert code == EXIT_OK
    data = orjson.loads(out)
    assert [c["id"] for c in data["changes"]] == ["tools", "status", "checks"]
    assert data["changed_by_aspect"] == {"status": 1, "checks": 1, "tool_calls": 1}
    assert data["gates"] == [
        {
            "gate": "cost per job increase",
            "limit": 150.0,
            "value": pytest.approx(100.0),
            "unit": "%",
            "failed": False,
            "note": None,
        }
    ]
    assert data["regressed"] is False
    assert data["b"]["latency_ms"]["done"]["p50"] == 120
    assert data["a"]["duplicate_lines"] == 1


def test_listing_is_bounded_in_text(pair: tuple[str, str]) -> None:
    """--list caps each listing; the rest is counted."""
    _, out = _cli(*pair, "--list", "1")
    assert "  tools: " in out and "  status: " not in out
    assert "… and 2 more (--json lists all)" in out


def test_a_gate_without_data_is_not_judged(pair: tuple[str, str]) -> None:
    """No transcript was scored: the WER gate says so and does not fail."""
    code, out = _cli(*pair, "--max-wer-increase", "0")
    assert code == EXIT_OK
    assert "corpus WER increase: not judged (a file has no scored transcript)" in out


@pytest.mark.parametrize(
    ("text", "gate"),
    [
        ("done=20", LatencyGate("done", "p95", 20.0)),
        ("first_audio@p50=10%", LatencyGate("first_audio", "p50", 10.0)),
        ("transcript@max=0", LatencyGate("transcript", "max", 0.0)),
    ],
)
def test_latency_gates_parse(text: str, gate: LatencyGate) -> None:
    """STAGE[@FIGURE]=PCT, the figure p95 when not named."""
    assert latency_gate(text) == gate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("done", "expected STAGE[@FIGURE]=PCT"),
        ("finish=20", "expected STAGE[@FIGURE]=PCT"),
        ("done@p42=20", "the figure is one of p50, p90, p95, p99, max"),
        ("done=fast", "PCT is a number"),
        ("done=-5", "PCT must be 0 or more"),
        ("done=nan", "PCT must be 0 or more"),
    ],
)
def test_bad_latency_gates_are_usage_errors(pair: tuple[str, str], text: str, message: str) -> None:
    """A malformed gate exits 2 with a message naming the option and the text."""
    code, out = _cli(*pair, "--max-latency-increase", text)
    assert code == EXIT_USAGE
    assert f"--max-latency-increase {text!r}: {message}" in out


def test_files_that_are_not_results(tmp_path: Path, pair: tuple[str, str]) -> None:
    """A job file, or a missing file, is bad input: exit 2, naming it."""
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(2))
    code, out = _cli(str(jobs), pair[1])
    assert code == EXIT_USAGE
    assert f"cannot read result file {jobs}: not one of its lines is a result" in out
    code, out = _cli(str(tmp_path / "missing.jsonl"), pair[1])
    assert code == EXIT_USAGE and "does not exist" in out


def test_identical_files_change_nothing(pair: tuple[str, str]) -> None:
    """A file against itself: no change, every gate at zero passes."""
    code, out = _cli(pair[0], pair[0], "--max-new-failures", "0", "--max-pass-rate-drop", "0")
    assert code == EXIT_OK, out
    assert "ids changed: 0 (status 0, checks 0, tool calls 0); new failures: 0" in out


def test_help_names_every_stage_and_figure() -> None:
    """--help's list of stages and figures is the code's (the CLI may not import them)."""
    from rtbatch.evals.gates import FIGURES
    from rtbatch.latency import STAGES

    text = " ".join(CliRunner().invoke(cli.main, ["compare", "--help"]).output.split())
    assert f"({', '.join(STAGES)})" in text
    assert f"({', '.join(FIGURES)}; default p95)" in text


def _many(path: Path, n: int, status: str) -> str:
    with path.open("wb") as out:
        for i in range(n):
            out.write(orjson.dumps(_line(f"job-{i:07d}", status=status, latency={"done": i % 500})))
            out.write(b"\n")
    return str(path)


def _compare_peak(tmp_path: Path, n: int) -> int:
    a = _many(tmp_path / f"a{n}.jsonl", n, "completed")
    b = _many(tmp_path / f"b{n}.jsonl", n, "completed")
    tracemalloc.start()
    try:
        compare(a, b)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_grows_by_a_few_bytes_an_id(tmp_path: Path) -> None:
    """No line is held: 15,000 more ids cost well under 100 bytes each (the index, the prints)."""
    small, large = _compare_peak(tmp_path, 5_000), _compare_peak(tmp_path, 20_000)
    assert (large - small) / 15_000 < 100, (small, large)


def test_checks_that_did_not_run(tmp_path: Path) -> None:
    """A job that stopped answering: its checks ``not run`` (passed null) are a change, named."""
    a = _write(tmp_path / "a.jsonl", [_line("x", **_checks(contains=True))])
    not_run = [{"check": "contains", "passed": None, "detail": "not run"}]
    b = _write(
        tmp_path / "b.jsonl",
        [_line("x", status="failed", error={"type": "timeout"}, checks=not_run, passed=False)],
    )
    (change,) = compare(a, b).changes
    assert change.aspects == ("status", "checks")
    assert change.b["failing_checks"] == ["contains (not run)"]
    _, out = _cli(a, b)
    assert (
        "x: status completed → failed (timeout); checks passed → failed (contains (not run))" in out
    )
