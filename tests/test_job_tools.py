"""Function calling fields of a job line, and the ``--tools`` file (rtbatch/jobs/tools.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.jobs import Job, JobProblem, JobRules, read_jobs
from rtbatch.jobs.model import FunctionChoice, ScriptedOutput
from rtbatch.jobs.tools import ToolFileError, read_tool_file

TODAY = dt.date(2026, 12, 7)
GA = JobRules(today=TODAY)
GA_2 = JobRules(model="gpt-realtime-2", today=TODAY)
BETA = JobRules("beta", "gpt-realtime", "whisper-1", today=TODAY)

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    },
}
TIME: dict[str, Any] = {"type": "function", "name": "get_time"}


def _read(tmp_path: Path, lines: list[dict[str, Any]], rules: JobRules) -> list[Job | JobProblem]:
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return list(read_jobs(path, rules=rules))


def _one(tmp_path: Path, line: dict[str, Any], rules: JobRules = GA) -> Job | JobProblem:
    return _read(tmp_path, [{"id": "j", "prompt": "Hi", **line}], rules)[0]


# (fields of the line, the field the problem names, a piece of its message)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"tools": []}, "tools", "non-empty array"),
    ({"tools": {"name": "x"}}, "tools", "non-empty array"),
    ({"tools": ["get_weather"]}, "tools[0]", "expected an object"),
    ({"tools": [{"name": "x"}]}, "tools[0].type", 'required: "function"'),
    ({"tools": [{"type": "mcp", "name": "x"}]}, "tools[0].type", "function tools only"),
    ({"tools": [{"type": "function"}]}, "tools[0].name", "required"),
    ({"tools": [{"type": "function", "name": "a b"}]}, "tools[0].name", "1-64 letters"),
    ({"tools": [{"type": "function", "name": "x" * 65}]}, "tools[0].name", "1-64 letters"),
    ({"tools": [{"type": "function", "name": 3}]}, "tools[0].name", "got 3 (integer)"),
    ({"tools": [{**TIME, "strict": True}]}, "tools[0].strict", "unknown field"),
    ({"tools": [{**TIME, "description": 1}]}, "tools[0].description", "expected a string"),
    ({"tools": [{**TIME, "parameters": "x"}]}, "tools[0].parameters", "JSON schema object"),
    ({"tools": [{**TIME, "parameters": {"type": "array"}}]}, "tools[0].parameters.type", "object"),
    (
        {"tools": [{**TIME, "parameters": {"properties": []}}]},
        "tools[0].parameters.properties",
        "an object of schemas",
    ),
    (
        {"tools": [{**TIME, "parameters": {"properties": {"a": 1}}}]},
        "tools[0].parameters.properties.a",
        "JSON schema",
    ),
    (
        {"tools": [{**TIME, "parameters": {"properties": {"a": {}}, "required": ["b"]}}]},
        "tools[0].parameters.required[0]",
        "properties: a",
    ),
    ({"tools": [TIME, TIME]}, "tools[1].name", "declared twice (first in tools[0])"),
    ({"tool_choice": "auto"}, "tool_choice", "needs tools"),
    ({"tool_outputs": {"get_time": {"output": 1}}}, "tool_outputs", "needs tools"),
    ({"tools": [TIME], "tool_choice": "always"}, "tool_choice", "not declared"),
    ({"tools": [TIME], "tool_choice": 1}, "tool_choice", "expected one of auto, none, required"),
    ({"tools": [TIME], "tool_choice": {"type": "mcp"}}, "tool_choice.type", "function"),
    ({"tools": [TIME], "tool_choice": {"type": "function"}}, "tool_choice.name", "required"),
    (
        {"tools": [TIME], "tool_choice": {"type": "function", "name": "get_tim"}},
        "tool_choice",
        "did you mean 'get_time'?",
    ),
    ({"tools": [TIME], "tool_outputs": []}, "tool_outputs", "keyed by function name"),
    (
        {"tools": [TIME], "tool_outputs": {"get_tme": {"output": 1}}},
        "tool_outputs.get_tme",
        "not declared",
    ),
    (
        {"tools": [TIME], "tool_outputs": {"get_time": []}},
        "tool_outputs.get_time",
        "non-empty array",
    ),
    ({"tools": [TIME], "tool_outputs": {"get_time": 5}}, "tool_outputs.get_time", "a case such as"),
    (
        {"tools": [TIME], "tool_outputs": {"get_time": {}}},
        "tool_outputs.get_time.output",
        "required",
    ),
    (
        {"tools": [TIME], "tool_outputs": {"get_time": {"output": None}}},
        "tool_outputs.get_time.output",
        "other than null",
    ),
    (
        {"tools": [TIME], "tool_outputs": {"get_time": {"output": 1, "when": {}}}},
        "tool_outputs.get_time.when",
        "unknown field",
    ),
    (
        {"tools": [TIME], "tool_outputs": {"get_time": {"match": {}, "output": 1}}},
        "tool_outputs.get_time.match",
        "non-empty object",
    ),
    (
        {"tools": [TIME], "tool_outputs": {"get_time": [{"output": 1}, {"output": 2}]}},
        "tool_outputs.get_time[1]",
        "unreachable",
    ),
    (
        {
            "tools": [WEATHER],
            "tool_outputs": {"get_weather": [{"match": {"town": "x"}, "output": 1}]},
        },
        "tool_outputs.get_weather.match.town",
        "not a parameter of get_weather",
    ),
    ({"tools": [TIME], "parallel_tool_calls": False}, "parallel_tool_calls", "does not take"),
]


@pytest.mark.parametrize(
    ("line", "field", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_tool_fields_name_line_and_field(
    tmp_path: Path, line: dict[str, Any], field: str, message: str
) -> None:
    """Each bad value is one problem naming file, line and field, like every other field."""
    problem = _one(tmp_path, line)
    assert isinstance(problem, JobProblem), problem
    assert problem.field == field
    assert message in problem.message
    assert str(problem).startswith(f"{tmp_path / 'jobs.jsonl'}:1: {field}: ")


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (GA, "gpt-realtime-1.5 does not take parallel_tool_calls (models that do: gpt-realtime-2"),
        (BETA, "the beta interface has no parallel_tool_calls (it is GA only)"),
        (GA_2, None),
    ],
    ids=["ga-non-reasoning", "beta", "ga-reasoning"],
)
@pytest.mark.parametrize("value", [True, False])
def test_parallel_tool_calls_per_dialect_and_model(
    tmp_path: Path, rules: JobRules, problem: str | None, value: bool
) -> None:
    """parallel_tool_calls only where the dialect and the run model take it."""
    result = _one(tmp_path, {"tools": [TIME], "parallel_tool_calls": value}, rules)
    if problem is None:
        assert isinstance(result, Job) and result.tools is not None
        assert result.tools.parallel_tool_calls is value
    else:
        assert isinstance(result, JobProblem) and problem in result.message


@pytest.mark.parametrize("rules", [GA, BETA], ids=["ga", "beta"])
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "name": "get_time"}, FunctionChoice("get_time")),
        ("get_time", FunctionChoice("get_time")),
    ],
    ids=["auto", "none", "required", "object", "bare-name"],
)
def test_tool_choice_spellings_in_both_dialects(
    tmp_path: Path, rules: JobRules, choice: object, expected: object
) -> None:
    """Every spelling of tool_choice reads the same in either dialect (protocol spells it)."""
    job = _one(tmp_path, {"tools": [TIME], "tool_choice": choice}, rules)
    assert isinstance(job, Job) and job.tools is not None
    assert job.tools.choice == expected


def test_tool_outputs_read_into_ordered_cases(tmp_path: Path) -> None:
    """One case or a list; matches kept; the definitions sent as given."""
    cases = [{"match": {"city": "Paris"}, "output": {"temp_c": 18}}, {"output": "no data"}]
    job = _one(
        tmp_path,
        {
            "tools": [WEATHER, TIME],
            "tool_outputs": {"get_weather": cases, "get_time": {"output": "noon"}},
        },
    )
    assert isinstance(job, Job) and job.tools is not None
    assert job.tools.definitions == (WEATHER, TIME)
    assert job.tools.outputs == {
        "get_weather": (
            ScriptedOutput({"temp_c": 18}, {"city": "Paris"}),
            ScriptedOutput("no data"),
        ),
        "get_time": (ScriptedOutput("noon"),),
    }


def test_tool_fields_refused_on_transcribe_jobs(tmp_path: Path) -> None:
    """A transcribe job makes no response: no tools."""
    line = {"id": "t", "audio": "a.wav", "task": "transcribe", "tools": [TIME]}
    problem = _read(tmp_path, [line], GA)[0]
    assert isinstance(problem, JobProblem) and problem.field == "tools"


# --- the --tools file -------------------------------------------------------------------------


def _defaults(tmp_path: Path, text: str, rules: JobRules = GA) -> JobRules:
    path = tmp_path / "tools.json"
    path.write_text(text)
    return JobRules(
        rules.dialect,
        rules.model,
        rules.transcription_model,
        today=TODAY,
        tools=read_tool_file(path, rules),
    )


def test_defaults_merge_under_each_job(tmp_path: Path) -> None:
    """Functions and outputs by name (the job's win), scalars the job's when given."""
    rules = _defaults(
        tmp_path,
        orjson.dumps(
            {
                "tools": [WEATHER, TIME],
                "tool_choice": "required",
                "tool_outputs": {
                    "get_weather": {"output": "default"},
                    "get_time": {"output": "noon"},
                },
            }
        ).decode(),
    )
    mine = {**TIME, "description": "mine"}
    jobs = _read(
        tmp_path,
        [
            {"id": "plain", "prompt": "x"},
            {
                "id": "own",
                "prompt": "x",
                "tools": [mine, {"type": "function", "name": "book"}],
                "tool_choice": "none",
                "tool_outputs": {"get_weather": {"output": "own"}},
            },
            {"id": "transcribe", "audio": "a.wav", "task": "transcribe"},
        ],
        rules,
    )
    plain, own, transcribe = jobs
    assert isinstance(plain, Job) and plain.tools is not None
    assert [d["name"] for d in plain.tools.definitions] == ["get_weather", "get_time"]
    assert plain.tools.choice == "required"
    assert isinstance(own, Job) and own.tools is not None
    assert own.tools.definitions == (WEATHER, mine, {"type": "function", "name": "book"})
    assert own.tools.choice == "none"
    assert own.tools.outputs["get_weather"] == (ScriptedOutput("own"),)
    assert own.tools.outputs["get_time"] == (ScriptedOutput("noon"),)
    assert isinstance(transcribe, Job) and transcribe.tools is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{\n  "tools": [\n    {"type": "function",\n     "name": "a b"}\n  ]\n}',
            ":4: tools[0].name: ",
        ),
        (
            '{\n "tools": [\n  {"type": "function", "name": "a"}\n ],\n "tool_choice": 1\n}',
            ":5: tool_choice: ",
        ),
        ('{\n "tools": [],\n}', ":2: invalid JSON: "),
        ("[]", ":1: expected a JSON object"),
        ('{"tool": []}', ":1: tool: unknown field; did you mean 'tools'?"),
        (
            '{\n\n "parallel_tool_calls": true}',
            ":3: parallel_tool_calls: gpt-realtime-1.5 does not take",
        ),
    ],
    ids=["field-line", "choice-line", "json", "not-object", "unknown", "per-model"],
)
def test_tools_file_problems_name_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    """The --tools file's problems read like a job line's: FILE:LINE: FIELD: MESSAGE."""
    with pytest.raises(ToolFileError) as caught:
        _defaults(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "tools.json") + expected), str(caught.value)


def test_tools_file_choice_names_a_function_no_job_declares(tmp_path: Path) -> None:
    """A job line is refused when the defaults' forced function is not among its functions."""
    rules = _defaults(tmp_path, '{"tool_choice": {"type": "function", "name": "book"}}')
    problem = _read(tmp_path, [{"id": "j", "prompt": "x", "tools": [TIME]}], rules)[0]
    assert isinstance(problem, JobProblem) and problem.field == "tool_choice"
    assert "(in the --tools file)" in problem.message


EXAMPLES = Path(__file__).resolve().parent.parent / "jobs"


def test_the_agent_example_validates_with_its_tools_file() -> None:
    """jobs/agent.jsonl (make demo) reads whole with jobs/agent.tools.json, every job with tools."""
    rules = JobRules(today=TODAY)
    rules = JobRules(today=TODAY, tools=read_tool_file(EXAMPLES / "agent.tools.json", rules))
    items = list(read_jobs(EXAMPLES / "agent.jsonl", rules=rules))
    assert len(items) >= 5 and all(isinstance(i, Job) and i.tools is not None for i in items)
    jobs = [i for i in items if isinstance(i, Job)]
    assert any(isinstance(j.tools and j.tools.choice, FunctionChoice) for j in jobs)
    assert any(
        j.tools and any(c.match for cs in j.tools.outputs.values() for c in cs) for j in jobs
    )


DOC_CASES: list[dict[str, Any]] = [
    {"tools": [{"type": "mcp", "name": "x"}]},
    {"tools": [{"type": "function", "name": "a b"}]},
    {"tools": [TIME, TIME]},
    {"tools": [{**TIME, "parameters": {"type": "array"}}]},
    {"tools": [TIME], "tool_choice": "get_tim"},
    {"tool_choice": "auto"},
    {"tools": [TIME], "tool_outputs": {"get_tme": {"output": 1}}},
    {"tools": [WEATHER], "tool_outputs": {"get_weather": {"match": {"town": 1}, "output": 1}}},
    {"tools": [TIME], "tool_outputs": {"get_time": [{"output": 1}, {"output": 2}]}},
    {"tools": [TIME], "parallel_tool_calls": True},
]


@pytest.mark.parametrize("rules", [GA, BETA], ids=["ga", "beta"])
def test_docs_show_the_tool_problems_the_reader_gives(tmp_path: Path, rules: JobRules) -> None:
    """docs/jobs.md's table of function calling problems quotes the reader word for word."""
    doc = (EXAMPLES.parent / "docs" / "jobs.md").read_text()
    table = doc.split("## Function calling", 1)[1].split("\n## ", 1)[0]
    lines = [{"id": str(i), "prompt": "x", **case} for i, case in enumerate(DOC_CASES)]
    problems = [p for p in _read(tmp_path, lines, rules) if isinstance(p, JobProblem)]
    assert len(problems) == len(DOC_CASES)
    for problem in problems:
        if problem.field == "parallel_tool_calls" or rules is GA:
            assert f"`{problem.field}: {problem.message}`" in table
