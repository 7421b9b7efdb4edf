"""Checks (``expect``) end to end: the pool, a session and the emulator over loopback sockets.

Rules as in tests/harness.py: loopback only, port 0, the emulator started in
pytest-trio's nursery, trio's virtual clock wherever latency matters (the emulator
runs in the same trio run, so its ``latency_ms`` and ``token_delay_ms`` land
exactly). What the emulator answers (docs/emulator.md): ``Emulated reply`` and
hash-picked words, ``reply_words`` words in all, the last ending with ``.``; a text
answer's first delta comes ``latency_ms`` after ``response.created`` and each next
one ``token_delay_ms`` later; a declared function is called when the prompt names
it, a string argument ``city`` being ``"emulated city"``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
import trio.testing

from rtbatch.config import RetryPolicy
from rtbatch.emulator import FaultSchedule
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK
from tests.harness import Harness, by_id, received, start_emulator, write_jobs

virtual = pytest.mark.usefixtures("autojump_clock")
EXAMPLES = Path(__file__).resolve().parent.parent / "jobs"

#: Real idleness, in seconds, before the exact clock jumps. trio's autojump_clock (0)
#: may jump while loopback bytes are still being delivered by the kernel (nothing is
#: runnable, and nothing readable yet), which shifts a stage by a jump to the next
#: timer: a few ms, measured on this project's VM. Waiting this long first lets
#: every byte in flight land, so the stages fall exactly where the emulator puts them.
SETTLE_S = 0.02


@pytest.fixture
def exact_clock() -> trio.testing.MockClock:
    """Virtual time that moves only once the sockets are quiet (see SETTLE_S)."""
    return trio.testing.MockClock(autojump_threshold=SETTLE_S)


LATENCY_MS = 300
TOKEN_DELAY_MS = 10
WORDS = 12
#: A text answer's stages on the emulator above: its first word at LATENCY_MS, the
#: last of WORDS words (WORDS - 1) token delays later, then response.done.
FIRST_TEXT_MS = LATENCY_MS
DONE_MS = LATENCY_MS + (WORDS - 1) * TOKEN_DELAY_MS

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "name": "get_weather", "parameters": CITY}
TIME = {"type": "function", "name": "get_time", "parameters": CITY}
TOOLS: dict[str, Any] = {
    "tools": [WEATHER, TIME],
    "tool_outputs": {"get_weather": {"output": {"temp_c": 18}}, "get_time": {"output": "noon"}},
}


async def _emulator(nursery: trio.Nursery, tmp_path: Path, **options: Any) -> Harness:
    options.setdefault("latency_ms", LATENCY_MS)
    options.setdefault("token_delay_ms", TOKEN_DELAY_MS)
    options.setdefault("reply_words", WORDS)
    return await start_emulator(nursery, tmp_path, **options)


def _job(job_id: str, expect: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "prompt": fields.pop("prompt", "Hello there."),
        "expect": expect,
        **fields,
    }


async def _lines(
    h: Harness, tmp_path: Path, jobs: list[dict[str, Any]], name: str = "jobs", **kw: Any
) -> tuple[Any, dict[str, dict[str, Any]]]:
    report, results = await h.run(write_jobs(tmp_path / f"{name}.jsonl", jobs), **kw)
    assert report.fatal is None
    return report, by_id(results)


def _verdicts(line: dict[str, Any]) -> list[tuple[str, bool | None]]:
    return [(c["check"], c["passed"]) for c in line["checks"]]


# Each case: (expect, passes). Pairs sit at a boundary where one exists.
TEXT_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("contains", {"contains": "Emulated reply"}, True),
    ("contains-not", {"contains": "Paris"}, False),
    ("contains-case", {"contains": "emulated REPLY"}, False),
    ("contains-ignore-case", {"contains": "emulated REPLY", "ignore_case": True}, True),
    ("not-contains", {"not_contains": ["Paris", "London"]}, True),
    ("not-contains-not", {"not_contains": "reply"}, False),
    ("not-contains-ignore-case", {"not_contains": "EMULATED", "ignore_case": True}, False),
    ("regex", {"regex": r"^Emulated reply( \w+)+\.$"}, True),
    ("regex-not", {"regex": r"^Paris"}, False),
    ("regex-ignore-case", {"regex": "^EMULATED", "ignore_case": True}, True),
    ("min-words", {"min_words": WORDS}, True),
    ("min-words-not", {"min_words": WORDS + 1}, False),
    ("max-words", {"max_words": WORDS}, True),
    ("max-words-not", {"max_words": WORDS - 1}, False),
    ("created", {"max_latency_ms": {"created": 0}}, True),
    ("first-text", {"max_latency_ms": {"first_text": FIRST_TEXT_MS}}, True),
    ("first-text-not", {"max_latency_ms": {"first_text": FIRST_TEXT_MS - 1}}, False),
    ("done", {"max_latency_ms": {"done": DONE_MS}}, True),
    ("done-not", {"max_latency_ms": {"done": DONE_MS - 1}}, False),
    ("total", {"max_latency_ms": DONE_MS}, True),
    ("total-not", {"max_latency_ms": {"total": DONE_MS - 1}}, False),
    ("cost", {"max_cost_usd": 1}, True),
    ("cost-not", {"max_cost_usd": 0}, False),
]


async def test_every_text_check_passes_and_fails_where_it_should(
    nursery: trio.Nursery, tmp_path: Path, exact_clock: trio.testing.MockClock
) -> None:
    """Each check on a text answer, passing and failing, latency bounds exactly at the boundary."""
    h = await _emulator(nursery, tmp_path)
    jobs = [_job(name, expect) for name, expect, _ in TEXT_CASES]
    # All at once: the clock's jumps (each after SETTLE_S of real time) are shared.
    report, lines = await _lines(h, tmp_path, jobs, concurrency=len(jobs))
    for name, _, passes in TEXT_CASES:
        line = lines[name]
        assert line["status"] == "completed"
        assert line["passed"] is passes, (name, line["checks"])
        assert {c["passed"] for c in line["checks"]} == {passes}, name
    # The stages the bounds were set from are the line's own.
    assert lines["done"]["latency"] == {"created": 0, "first_text": FIRST_TEXT_MS, "done": DONE_MS}
    assert lines["total"]["latency_ms"] == DONE_MS
    assert lines["first-text-not"]["checks"][0]["detail"] == (
        f"first_text {FIRST_TEXT_MS} ms > {FIRST_TEXT_MS - 1} ms"
    )
    assert lines["contains-not"]["checks"][0]["detail"].startswith(
        "'Paris' not in the text 'Emulated reply "
    )
    checks = report.summary.checks
    failing = sum(not passes for _, _, passes in TEXT_CASES)
    assert (checks.jobs, checks.passed) == (len(TEXT_CASES), len(TEXT_CASES) - failing)
    assert sum(checks.failures.values()) == failing
    assert checks.failures["max_latency_ms"] == 3
    # Checks alone never fail a job: the run's exit code is unchanged without the flag.
    assert report.exit_code == EXIT_OK


@virtual
async def test_the_cost_bound_holds_at_the_line_s_own_cost(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A job's cost as the bound passes; a nano-dollar less fails (the reply is deterministic)."""
    h = await _emulator(nursery, tmp_path)
    _, first = await _lines(h, tmp_path, [_job("probe", {"min_words": 1})], name="probe")
    cost = first["probe"]["cost_usd"]
    assert cost > 0
    _, lines = await _lines(
        h,
        tmp_path,
        [_job("at", {"max_cost_usd": cost}), _job("under", {"max_cost_usd": cost - 1e-9})],
    )
    assert (lines["at"]["passed"], lines["under"]["passed"]) == (True, False)
    assert lines["at"]["cost_usd"] == cost


async def test_several_checks_make_one_verdict(
    nursery: trio.Nursery, tmp_path: Path, exact_clock: trio.testing.MockClock
) -> None:
    """A line passes only when all of its checks do; each is listed in the documented order."""
    h = await _emulator(nursery, tmp_path)
    expect = {
        "max_words": WORDS,
        "contains": ["Emulated", "reply"],
        "not_contains": "Paris",
        "max_latency_ms": {"done": DONE_MS, "first_text": FIRST_TEXT_MS - 1},
    }
    _, lines = await _lines(h, tmp_path, [_job("many", expect)])
    assert _verdicts(lines["many"]) == [
        ("contains", True),
        ("contains", True),
        ("not_contains", True),
        ("max_latency_ms", False),
        ("max_latency_ms", True),
        ("max_words", True),
    ]
    assert lines["many"]["passed"] is False


TOOL_CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("called", "Use get_weather please.", {"tool_called": "get_weather"}, True),
    ("called-not", "Use get_weather please.", {"tool_called": "get_time"}, False),
    (
        "called-args",
        "Use get_weather please.",
        {"tool_called": {"name": "get_weather", "arguments": {"city": "emulated city"}}},
        True,
    ),
    (
        "called-args-not",
        "Use get_weather please.",
        {"tool_called": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        False,
    ),
    ("both-called", "get_weather and get_time", {"tool_called": ["get_time", "get_weather"]}, True),
    ("no-call", "Hello there.", {"no_tool_call": True}, True),
    ("no-call-not", "Use get_weather please.", {"no_tool_call": True}, False),
    ("no-call-of", "Use get_weather please.", {"no_tool_call": "get_time"}, True),
    ("no-call-of-not", "Use get_weather please.", {"no_tool_call": ["get_weather"]}, False),
]


@virtual
async def test_tool_checks_pass_and_fail(nursery: trio.Nursery, tmp_path: Path) -> None:
    """tool_called by name and by a subset of arguments; no_tool_call of any or of one function."""
    h = await _emulator(nursery, tmp_path)
    jobs = [_job(name, expect, prompt=prompt, **TOOLS) for name, prompt, expect, _ in TOOL_CASES]
    _, lines = await _lines(h, tmp_path, jobs)
    for name, _, _, passes in TOOL_CASES:
        assert lines[name]["status"] == "completed"
        assert lines[name]["passed"] is passes, (name, lines[name]["checks"])
    assert lines["called-args-not"]["checks"][0]["detail"] == (
        'get_weather called, never with {"city":"Paris"} (arguments: {"city":"emulated city"})'
    )
    assert lines["no-call-not"]["checks"][0]["detail"] == "called get_weather"


async def test_an_audio_answer_is_checked_by_its_transcript(
    nursery: trio.Nursery, tmp_path: Path, exact_clock: trio.testing.MockClock
) -> None:
    """For an audio answer the text checked is its transcript; first_audio is bounded exactly."""
    h = await _emulator(nursery, tmp_path)
    expect = {
        "contains": "Emulated reply",
        "min_words": WORDS,
        "max_latency_ms": {"first_audio": LATENCY_MS},
    }
    tight = {"max_latency_ms": {"first_audio": LATENCY_MS - 1}}
    jobs = [
        _job("spoken", expect, output_modalities=["audio"]),
        _job("tight", tight, output_modalities=["audio"]),
    ]
    _, lines = await _lines(h, tmp_path, jobs)
    spoken = lines["spoken"]
    assert spoken["output"]["text"] is None and spoken["output"]["transcript"]
    assert spoken["latency"]["first_audio"] == LATENCY_MS
    assert spoken["passed"] is True, spoken["checks"]
    assert lines["tight"]["passed"] is False


async def test_a_transcription_is_checked_by_its_transcript(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A transcribe job's transcript is its text; its transcript stage and total are bounded.

    Real time: audio is decoded in a thread, which trio's virtual clock cannot see.
    """
    from tests.audio.samples import write_long_wav

    h = await start_emulator(nursery, tmp_path)
    write_long_wav(tmp_path / "a.wav", 2, 24_000)
    expect = {
        "contains": "Emulated transcript of 48000 samples.",
        "max_latency_ms": {"transcript": 60_000, "total": 60_000},
        "max_words": 5,
    }
    job = {"id": "t", "audio": "a.wav", "task": "transcribe", "expect": expect}
    _, lines = await _lines(h, tmp_path, [job])
    assert lines["t"]["passed"] is True, lines["t"]["checks"]


@virtual
async def test_checks_never_change_whether_a_job_is_retried(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A failing check is not retried; a dropped attempt is retried just as without checks."""
    # Responses are numbered across the emulator: the first of each run is dropped.
    h = await _emulator(nursery, tmp_path, schedule=FaultSchedule(responses={0: "drop"}))
    failing = [_job("failing", {"contains": "Paris"})]
    _, lines = await _lines(h, tmp_path, failing, name="failing", concurrency=1)
    # The drop cost one attempt; the failed check none.
    assert (lines["failing"]["attempts"], lines["failing"]["passed"]) == (2, False)
    assert len(received(h.emulator, "response.create")) == 2
    _, again = await _lines(h, tmp_path, failing, name="failing", concurrency=1)
    assert again["failing"]["attempts"] == 2  # settled: the rerun sends nothing
    assert len(received(h.emulator, "response.create")) == 2

    plain = await _emulator(nursery, tmp_path, schedule=FaultSchedule(responses={0: "drop"}))
    _, without = await _lines(
        plain, tmp_path, [{"id": "failing", "prompt": "Hello there."}], name="plain", concurrency=1
    )
    assert without["failing"]["attempts"] == lines["failing"]["attempts"]
    assert "checks" not in without["failing"] and "passed" not in without["failing"]


@virtual
async def test_a_failed_job_s_checks_are_not_run(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A job that did not answer has passed false and each check null, 'not run'."""
    schedule = FaultSchedule(responses={0: "server_error"})
    h = await _emulator(nursery, tmp_path, schedule=schedule)
    report, lines = await _lines(
        h,
        tmp_path,
        [_job("lost", {"contains": "x", "max_words": 3})],
        retry=RetryPolicy(max_attempts=1),
    )
    line = lines["lost"]
    assert line["status"] == "failed" and line["passed"] is False
    assert line["checks"] == [
        {"check": "contains", "passed": None, "detail": "not run: the job failed"},
        {"check": "max_words", "passed": None, "detail": "not run: the job failed"},
    ]
    summary = report.summary.checks.to_dict()
    assert (summary["jobs"], summary["passed"], summary["not_run"]) == (1, 0, 1)
    assert summary["failed_by_check"] == {}  # not run is not failed


@virtual
async def test_fail_on_check_exits_1_for_this_run_and_for_lines_settled_earlier(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """--fail-on-check: a failed check exits 1, also when a resumed run only skips that line."""
    h = await _emulator(nursery, tmp_path)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [_job("good", {"contains": "Emulated"}), _job("bad", {"contains": "Paris"})],
    )
    results = tmp_path / "results.jsonl"
    report, _ = await h.run(jobs, results)
    assert report.exit_code == EXIT_OK
    report, _ = await h.run(jobs, tmp_path / "fresh.jsonl", fail_on_check=True)
    assert report.exit_code == EXIT_FAILED
    # The rerun writes nothing new; the file still holds a line that did not pass.
    report, lines = await h.run(jobs, results, fail_on_check=True)
    assert report.summary.finished == 0 and len(lines) == 2
    assert report.summary.checks.settled_failed == 1
    assert report.exit_code == EXIT_FAILED
    assert report.summary.checks.to_dict()["settled_failed"] == 1

    passing = write_jobs(tmp_path / "passing.jsonl", [_job("good", {"contains": "Emulated"})])
    report, _ = await h.run(passing, tmp_path / "passing.results.jsonl", fail_on_check=True)
    assert report.exit_code == EXIT_OK


def test_the_command_line_exit_code_and_summary(tmp_path: Path) -> None:
    """``rtbatch run --emulate --fail-on-check``: exit 1, the stderr line, the JSON summary.

    One process (start-up is the cost here); without the flag the same run exits 0,
    as the harness tests above show through the same RunReport.
    """
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [_job("good", {"contains": "Emulated"}), _job("bad", {"regex": "^Paris"})],
    )
    summary_path = tmp_path / "summary.json"
    command = [sys.executable, "-m", "rtbatch", "run", str(jobs), "--emulate", "-q"]
    done = subprocess.run(
        [*command, "--fail-on-check", "--summary", str(summary_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_FAILED, done.stderr
    assert "checks: 1/2 jobs passed (50.0%); failed: regex 1" in done.stderr
    assert orjson.loads(summary_path.read_bytes())["checks"] == {
        "jobs": 2,
        "passed": 1,
        "pass_rate": 0.5,
        "not_run": 0,
        "failed_by_check": {"regex": 1},
        "settled_failed": 0,
    }


@virtual
async def test_the_example_file_passes_but_for_the_job_meant_to_fail(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """jobs/checks.jsonl (make demo), with jobs/agent.tools.json: each check type, one failing."""
    from dataclasses import replace

    from rtbatch.jobs import JobRules, read_tool_file
    from rtbatch.jobs.expect import CHECK_NAMES

    examples = EXAMPLES
    rules = JobRules()
    rules = replace(rules, tools=read_tool_file(examples / "agent.tools.json", rules))
    h = await start_emulator(nursery, tmp_path)
    report, results = await h.run(
        examples / "checks.jsonl", tmp_path / "checks.results.jsonl", rules=rules
    )
    lines = by_id(results)
    assert {i for i, line in lines.items() if not line["passed"]} == {"fails-on-purpose"}
    assert {c["check"] for line in lines.values() for c in line["checks"]} == set(CHECK_NAMES)
    assert report.summary.checks.failures == {"contains": 1}
