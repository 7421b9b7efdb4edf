"""A job line's ``expect`` read into checks, and every way it can be wrong (jobs/expect.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.jobs import Job, JobProblem, JobRules, read_jobs
from rtbatch.jobs import model as m

GA = JobRules(today=dt.date(2026, 12, 7))
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS: dict[str, Any] = {
    "tools": [
        {"type": "function", "name": "get_weather", "parameters": CITY},
        {"type": "function", "name": "get_time"},
    ]
}


def _read(tmp_path: Path, expect: object, **fields: Any) -> Job | JobProblem:
    line = {"id": "j", "prompt": "Hi", "expect": expect, **fields}
    if "audio" in fields:
        del line["prompt"]
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n")
    (item,) = read_jobs(path, rules=GA)
    return item


def _checks(tmp_path: Path, expect: object, **fields: Any) -> tuple[Any, ...]:
    job = _read(tmp_path, expect, **fields)
    assert isinstance(job, Job), job
    assert job.expect is not None
    return job.expect


def test_every_check_is_read_in_the_documented_order(tmp_path: Path) -> None:
    """One of each, written in any order, comes out in the order of CHECK_NAMES."""
    expect = {
        "max_words": 40,
        "min_words": 2,
        "max_cost_usd": 0.5,
        "max_latency_ms": {"done": 900, "created": 100, "total": 1000},
        "no_tool_call": "get_time",
        "tool_called": {"name": "get_weather", "arguments": {"city": "Paris"}},
        "regex": r"\bParis\b",
        "not_contains": "London",
        "contains": ["Paris", "France"],
    }
    checks = _checks(tmp_path, expect, **TOOLS)
    assert checks == (
        m.Contains("Paris"),
        m.Contains("France"),
        m.NotContains("London"),
        m.Regex(re.compile(r"\bParis\b")),
        m.ToolCalled("get_weather", {"city": "Paris"}),
        m.NoToolCall("get_time"),
        m.MaxLatency("created", 100),
        m.MaxLatency("done", 900),
        m.MaxLatency("total", 1000),
        m.MaxCost(0.5),
        m.MinWords(2),
        m.MaxWords(40),
    )
    assert checks[3].pattern.flags & re.IGNORECASE == 0


def test_a_string_and_a_list_of_one_are_the_same(tmp_path: Path) -> None:
    """contains, not_contains, regex, tool_called and no_tool_call take one value or a list."""
    one = {"contains": "a", "not_contains": "b", "tool_called": "get_time", "no_tool_call": "x"}
    many = {k: [v] for k, v in one.items()}
    tools = {"tools": [*TOOLS["tools"], {"type": "function", "name": "x"}]}
    assert _checks(tmp_path, one, **tools) == _checks(tmp_path, many, **tools)


def test_ignore_case_reaches_the_text_checks(tmp_path: Path) -> None:
    """ignore_case applies to contains, not_contains and regex (re.IGNORECASE)."""
    checks = _checks(
        tmp_path, {"contains": "a", "not_contains": "b", "regex": "c", "ignore_case": True}
    )
    assert checks[:2] == (m.Contains("a", True), m.NotContains("b", True))
    assert checks[2].pattern.flags & re.IGNORECASE


def test_a_bare_number_bounds_the_total_latency(tmp_path: Path) -> None:
    """``max_latency_ms: 800`` is the line's latency_ms, spelt ``total`` in the object form."""
    assert _checks(tmp_path, {"max_latency_ms": 800}) == (m.MaxLatency("total", 800),)


def test_stages_follow_the_job_s_kind_and_output(tmp_path: Path) -> None:
    """first_audio for audio answers, first_text for text, transcript for transcriptions."""
    audio = _checks(tmp_path, {"max_latency_ms": {"first_audio": 1}}, output_modalities=["audio"])
    assert audio == (m.MaxLatency("first_audio", 1),)
    (tmp_path / "a.wav").write_bytes(b"")
    spoken = {"audio": "a.wav", "task": "transcribe"}
    assert _checks(tmp_path, {"max_latency_ms": {"transcript": 5}}, **spoken) == (
        m.MaxLatency("transcript", 5),
    )


# (expect, extra fields of the line, the field the problem names, its message)
BAD: list[tuple[object, dict[str, Any], str, str]] = [
    ("Paris", {}, "expect", 'expected an object of checks such as {"contains": "Paris"}'),
    ({}, {}, "expect", "expected at least one check (one of: contains, not_contains, regex,"),
    ({"ignore_case": True}, {}, "expect", "expected at least one check"),
    ({"contians": "x"}, {}, "expect.contians", "unknown field; did you mean 'contains'?"),
    ({"contains": ""}, {}, "expect.contains", "expected a non-empty string, got an empty string"),
    ({"contains": []}, {}, "expect.contains", "expected a non-empty string or array"),
    ({"contains": ["a", 3]}, {}, "expect.contains[1]", "got 3 (integer)"),
    (
        {"contains": "Paris", "not_contains": ["x", "Paris"]},
        {},
        "expect.not_contains[1]",
        "'Paris' is also in contains: the two can never both pass",
    ),
    (
        {"contains": "PARIS", "not_contains": "paris", "ignore_case": True},
        {},
        "expect.not_contains",
        "is also in contains",
    ),
    (
        {"contains": "Paris", "not_contains": "Par"},
        {},
        "expect.not_contains",
        "'Par' is part of 'Paris' in contains: the two can never both pass",
    ),
    ({"contains": None}, {}, "expect.contains", "expected a non-empty string, got null"),
    ({"ignore_case": "yes", "contains": "a"}, {}, "expect.ignore_case", "expected true or false"),
    (
        {"regex": "(a"},
        {},
        "expect.regex",
        "not a valid regular expression: missing ), unterminated subpattern at position 0 ('(a')",
    ),
    ({"regex": ["ok", "[z-a]"]}, {}, "expect.regex[1]", "bad character range z-a at position 1"),
    (
        {"tool_called": "get_weather"},
        {},
        "expect.tool_called",
        "needs tools: declare the functions in tools (or in the --tools file)",
    ),
    ({"no_tool_call": True}, {}, "expect.no_tool_call", "needs tools"),
    (
        {"tool_called": "get_wether"},
        TOOLS,
        "expect.tool_called",
        "function 'get_wether' is not declared; did you mean 'get_weather'? "
        "(declared: get_weather, get_time)",
    ),
    ({"tool_called": ["get_time", 7]}, TOOLS, "expect.tool_called[1]", "function name"),
    ({"tool_called": []}, TOOLS, "expect.tool_called", "non-empty array"),
    ({"tool_called": {"arguments": {}}}, TOOLS, "expect.tool_called.name", "required"),
    (
        {"tool_called": {"name": "get_time", "args": {}}},
        TOOLS,
        "expect.tool_called.args",
        "unknown field; did you mean 'arguments'?",
    ),
    (
        {"tool_called": {"name": "get_weather", "arguments": {}}},
        TOOLS,
        "expect.tool_called.arguments",
        "expected a non-empty object",
    ),
    (
        {"tool_called": {"name": "get_weather", "arguments": {"town": "Paris"}}},
        TOOLS,
        "expect.tool_called.arguments.town",
        "not a parameter of get_weather (parameters: city)",
    ),
    (
        {"no_tool_call": False},
        TOOLS,
        "expect.no_tool_call",
        "expected true (no call at all), a function name or an array of names",
    ),
    ({"no_tool_call": ["get_time", "nope"]}, TOOLS, "expect.no_tool_call[1]", "not declared"),
    (
        {"tool_called": "get_time", "no_tool_call": True},
        TOOLS,
        "expect.no_tool_call",
        "forbids any call, and tool_called expects get_time: the two can never both pass",
    ),
    (
        {"tool_called": "get_time", "no_tool_call": "get_time"},
        TOOLS,
        "expect.no_tool_call",
        "forbids a call of get_time",
    ),
    (
        {"max_latency_ms": {"first_adio": 800}},
        {},
        "expect.max_latency_ms.first_adio",
        "unknown stage; did you mean 'first_audio'? "
        "(stages: created, first_text, first_audio, done, transcript, total)",
    ),
    (
        {"max_latency_ms": {"first_audio": 800}},
        {},
        "expect.max_latency_ms.first_audio",
        "a text answer has no first_audio (the job's output_modalities is not "
        '["audio"]) (this job\'s stages: created, first_text, done, total)',
    ),
    (
        {"max_latency_ms": {"first_text": 800}},
        {"output_modalities": ["audio"]},
        "expect.max_latency_ms.first_text",
        "an audio answer has no first_text",
    ),
    (
        {"max_latency_ms": {"transcript": 800}},
        {},
        "expect.max_latency_ms.transcript",
        "only a transcribe job has the transcript stage",
    ),
    ({"max_latency_ms": {}}, {}, "expect.max_latency_ms", "expected milliseconds, or an object"),
    ({"max_latency_ms": 1.5}, {}, "expect.max_latency_ms", "expected whole milliseconds"),
    ({"max_latency_ms": {"done": -1}}, {}, "expect.max_latency_ms.done", "0 or more, got -1"),
    ({"max_latency_ms": True}, {}, "expect.max_latency_ms", "got true (boolean)"),
    ({"max_cost_usd": "1"}, {}, "expect.max_cost_usd", "expected a number of USD"),
    ({"max_cost_usd": -0.1}, {}, "expect.max_cost_usd", "0 or more"),
    ({"min_words": 0}, {}, "expect.min_words", "expected a whole number, 1 or more, got 0"),
    ({"max_words": 2.0}, {}, "expect.max_words", "expected a whole number, 0 or more"),
    (
        {"min_words": 5, "max_words": 2},
        {},
        "expect.max_words",
        "2 is less than min_words (5): nothing can pass",
    ),
]


@pytest.mark.parametrize(("expect", "fields", "field", "message"), BAD)
def test_a_bad_expect_names_its_field(
    tmp_path: Path, expect: object, fields: dict[str, Any], field: str, message: str
) -> None:
    """Every problem names file, line and the field inside expect, and says what was expected."""
    problem = _read(tmp_path, expect, **fields)
    assert isinstance(problem, JobProblem), problem
    assert (problem.line, problem.field) == (1, field)
    assert message in problem.message, problem.message
    assert str(problem).startswith(f"{tmp_path / 'jobs.jsonl'}:1: {field}: ")


def test_a_transcribe_job_makes_no_calls(tmp_path: Path) -> None:
    """tool checks on a transcription say why, and its response stages are refused."""
    (tmp_path / "a.wav").write_bytes(b"")
    spoken = {"audio": "a.wav", "task": "transcribe"}
    problem = _read(tmp_path, {"no_tool_call": True}, **spoken)
    assert isinstance(problem, JobProblem)
    assert problem.message == "a transcribe job makes no function calls"
    problem = _read(tmp_path, {"max_latency_ms": {"done": 5}}, **spoken)
    assert isinstance(problem, JobProblem)
    assert problem.message.startswith("a transcribe job has no done stage")


def test_the_run_s_tools_file_counts_as_declared(tmp_path: Path) -> None:
    """A function declared by --tools may be expected (the job's tools are the merged ones)."""
    from rtbatch.jobs import read_tool_file

    tools_file = tmp_path / "tools.json"
    tools_file.write_bytes(orjson.dumps(TOOLS))
    rules = GA.__class__(today=GA.today, tools=read_tool_file(tools_file, GA))
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(
        orjson.dumps({"id": "j", "prompt": "Hi", "expect": {"tool_called": "get_time"}})
    )
    (job,) = read_jobs(path, rules=rules)
    assert isinstance(job, Job) and job.expect == (m.ToolCalled("get_time"),)
