"""Tool jobs end to end: the pool, a session and the emulator over loopback sockets.

Rules: loopback only, port 0, the emulator (and the mangling proxy) started in
pytest-trio's nursery, trio's virtual clock (the emulator runs in the same trio
run). The emulator calls a declared function when the prompt names it, with
arguments drawn from its schema (a string property ``city`` is ``"emulated
city"``), and answers in text quoting the outputs it reads (docs/emulator.md).
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
from rtbatch.exitcodes import EXIT_OK, EXIT_USAGE
from rtbatch.jobs import JobRules
from tests.contract import assert_conforms, assert_ga_response_with_references, client_adapter
from tests.harness import Harness, by_id, received, start_emulator, write_jobs
from tests.mangler import DROP, Mangle, Proxy

#: Text jobs run on trio's virtual clock; audio jobs in real time (their decoding
#: threads are invisible to it, so it would jump past their deadlines).
virtual = pytest.mark.usefixtures("autojump_clock")

DIALECTS = [("ga", "gpt-realtime-1.5"), ("beta", "gpt-realtime")]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": CITY}
TIME = {"type": "function", "name": "get_time", "parameters": CITY}
ARGS = {"city": "emulated city"}
SCRIPT = {
    "get_weather": [
        {"match": {"city": "Paris"}, "output": "rain"},
        {"match": ARGS, "output": {"temp_c": 18}},
    ],
    "get_time": {"output": "noon"},
}


def _job(prompt: str, **fields: Any) -> dict[str, Any]:
    return {"id": "j", "prompt": prompt, "tools": [WEATHER, TIME], "tool_outputs": SCRIPT, **fields}


async def _run(
    h: Harness, tmp_path: Path, dialect: str, model: str, jobs: list[dict[str, Any]], **kw: Any
) -> Any:
    path = write_jobs(tmp_path / f"jobs-{dialect}.jsonl", jobs)
    report, results = await h.run(path, dialect=dialect, model=model, **kw)
    assert report.fatal is None
    return report, by_id(results)


def _check_contract(h: Harness, dialect: str) -> None:
    """Every response.create rtbatch sent is an event of the SDK's models, no field unknown."""
    sent = received(h.emulator, "response.create")
    assert sent
    for event in sent:
        assert_conforms(client_adapter(dialect), event)


@virtual
@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_a_tool_round_ends_in_text_with_the_call_recorded(
    nursery: trio.Nursery, tmp_path: Path, dialect: str, model: str
) -> None:
    """One call, answered from its matching case; the answer quotes it; usage sums the rounds."""
    h = await start_emulator(nursery, tmp_path)
    report, results = await _run(h, tmp_path, dialect, model, [_job("Use get_weather please.")])
    line = results["j"]
    assert line["status"] == "completed" and report.exit_code == EXIT_OK
    (call,) = line["output"]["tool_calls"]
    assert (call["name"], call["arguments"], call["round"], call["output"]) == (
        "get_weather",
        ARGS,
        1,
        {"temp_c": 18},
    )
    assert call["call_id"].startswith("call_")
    assert line["output"]["text"] == 'Emulated reply using get_weather: {"temp_c":18}.'
    rounds = line["output"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert line["usage"]["total_tokens"] == sum(r["usage"]["total_tokens"] for r in rounds)
    assert line["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rounds), abs=1e-12)
    # The second round replays the call and its output after the job's own message, out of band.
    second = received(h.emulator, "response.create")[1]["response"]
    assert second["conversation"] == "none"
    assert [i["type"] for i in second["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert orjson.loads(second["input"][2]["output"]) == {"temp_c": 18}
    assert report.summary.tool_calls == {"get_weather": 1}
    _check_contract(h, dialect)


@virtual
@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_parallel_calls_are_all_answered_in_one_round(
    nursery: trio.Nursery, tmp_path: Path, dialect: str, model: str
) -> None:
    """A response with two function_call items: both answered before the next response."""
    h = await start_emulator(nursery, tmp_path)
    _, results = await _run(h, tmp_path, dialect, model, [_job("Call get_time and get_weather.")])
    calls = results["j"]["output"]["tool_calls"]
    assert [(c["name"], c["round"], c["output"]) for c in calls] == [
        ("get_time", 1, "noon"),
        ("get_weather", 1, {"temp_c": 18}),
    ]
    assert len(results["j"]["output"]["rounds"]) == 2
    assert (
        results["j"]["output"]["text"]
        == 'Emulated reply using get_time: "noon" and get_weather: {"temp_c":18}.'
    )
    _check_contract(h, dialect)


@virtual
async def test_parallel_tool_calls_false_reaches_a_reasoning_model(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """GA, a model that takes the field: one call per response, so two rounds for two functions."""
    h = await start_emulator(nursery, tmp_path)
    job = _job("Call get_time and get_weather.", parallel_tool_calls=False)
    rules = JobRules(model="gpt-realtime-2")
    _, results = await _run(h, tmp_path, "ga", "gpt-realtime-2", [job], rules=rules)
    calls = results["j"]["output"]["tool_calls"]
    assert [c["name"] for c in calls] == ["get_time"]
    assert received(h.emulator, "response.create")[0]["response"]["parallel_tool_calls"] is False
    _check_contract(h, "ga")


@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", {"ga": "required", "beta": "required"}),
        (
            {"type": "function", "name": "get_time"},
            {"ga": {"type": "function", "name": "get_time"}, "beta": "get_time"},
        ),
        ("get_time", {"ga": {"type": "function", "name": "get_time"}, "beta": "get_time"}),
    ],
    ids=["required", "object", "bare-name"],
)
@virtual
async def test_tool_choice_is_spelt_by_the_dialect_then_reset_to_auto(
    nursery: trio.Nursery,
    tmp_path: Path,
    dialect: str,
    model: str,
    choice: object,
    wire: dict[str, object],
) -> None:
    """The first response forces the call, spelt by the dialect; the second asks auto, answered."""
    h = await start_emulator(nursery, tmp_path)
    outputs = {"get_time": {"output": "noon"}}
    job = {
        "id": "j",
        "prompt": "Hello.",
        "tools": [TIME],
        "tool_choice": choice,
        "tool_outputs": outputs,
    }
    _, results = await _run(h, tmp_path, dialect, model, [job])
    assert results["j"]["status"] == "completed"
    assert [c["name"] for c in results["j"]["output"]["tool_calls"]] == ["get_time"]
    first, second = (e["response"]["tool_choice"] for e in received(h.emulator, "response.create"))
    assert (first, second) == (wire[dialect], "auto")
    _check_contract(h, dialect)


@virtual
@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_an_unscripted_call_gets_the_default_error_output(
    nursery: trio.Nursery, tmp_path: Path, dialect: str, model: str
) -> None:
    """No case matches: the model (and the line) get the unscripted_call error object."""
    h = await start_emulator(nursery, tmp_path)
    job = _job(
        "Use get_weather.", tool_outputs={"get_weather": {"match": {"city": "Paris"}, "output": 1}}
    )
    _, results = await _run(h, tmp_path, dialect, model, [job])
    (call,) = results["j"]["output"]["tool_calls"]
    error = {
        "type": "unscripted_call",
        "message": "no scripted output for get_weather with these arguments",
    }
    assert call["output"] == {"error": error}
    sent = received(h.emulator, "response.create")[1]["response"]["input"][2]
    assert orjson.loads(sent["output"]) == {"error": error}


@virtual
@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_the_round_bound_makes_the_job_incomplete(
    nursery: trio.Nursery, tmp_path: Path, dialect: str, model: str
) -> None:
    """--max-tool-rounds 0: the first call recorded unanswered, the line incomplete, and why."""
    h = await start_emulator(nursery, tmp_path)
    _, results = await _run(
        h, tmp_path, dialect, model, [_job("Use get_weather.")], max_tool_rounds=0
    )
    line = results["j"]
    assert (line["status"], line["output"]["reason"]) == ("incomplete", "max_tool_rounds")
    assert [c["output"] for c in line["output"]["tool_calls"]] == [None]
    assert len(received(h.emulator, "response.create")) == 1


async def _via_proxy(
    nursery: trio.Nursery, tmp_path: Path, mangle: Mangle, **kw: Any
) -> tuple[Harness, Any]:
    h = await start_emulator(nursery, tmp_path)
    port = await nursery.start(Proxy(h.emulator.port, mangle).serve)
    jobs = write_jobs(tmp_path / "jobs.jsonl", [_job("Use get_weather.")])
    report, results = await h.run(
        jobs,
        url=f"ws://127.0.0.1:{port}/v1/realtime",
        retry=RetryPolicy(max_attempts=3, initial_s=0.01),
        **kw,
    )
    assert mangle.applied == 1 and report.fatal is None
    return h, by_id(results)["j"]


@virtual
async def test_a_model_that_keeps_calling_stops_at_the_bound(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Round 2's answer made another call (by the proxy): with a bound of 1, incomplete."""
    call = {
        "type": "function_call",
        "id": "item_x",
        "call_id": "call_again",
        "name": "get_time",
        "arguments": "{}",
    }
    _, line = await _via_proxy(
        nursery,
        tmp_path,
        Mangle("response.done", ("response", "output"), [call], nth=1),
        max_tool_rounds=1,
    )
    assert (line["status"], line["output"]["reason"]) == ("incomplete", "max_tool_rounds")
    assert [(c["name"], c["round"], c["output"] is None) for c in line["output"]["tool_calls"]] == [
        ("get_weather", 1, False),
        ("get_time", 2, True),
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("call_id", DROP),
        ("call_id", ""),
        ("name", DROP),
        ("arguments", DROP),
        ("arguments", 7),
        ("name", []),
    ],
)
@virtual
async def test_a_malformed_function_call_is_a_retried_protocol_error(
    nursery: trio.Nursery, tmp_path: Path, path: str, value: object
) -> None:
    """The bad item fails the attempt (never an internal error); only the retry's calls are kept."""
    _, line = await _via_proxy(
        nursery, tmp_path, Mangle("response.done", ("response", "output", 0, path), value)
    )
    assert line["status"] == "completed" and line["attempts"] == 2
    assert [c["name"] for c in line["output"]["tool_calls"]] == ["get_weather"]  # not twice
    assert [r["round"] for r in line["output"]["rounds"]] == [1, 2]


@virtual
async def test_arguments_that_are_not_json_are_recorded_raw_and_answered_with_an_error(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Not a protocol error: the model's own mistake, answered so that it can recover."""
    _, line = await _via_proxy(
        nursery,
        tmp_path,
        Mangle("response.done", ("response", "output", 0, "arguments"), '{"city":'),
    )
    assert line["status"] == "completed" and line["attempts"] == 1
    (call,) = line["output"]["tool_calls"]
    assert call["arguments"] == '{"city":' and call["error"].startswith(
        "the arguments are not valid JSON"
    )
    assert call["output"]["error"]["type"] == "invalid_arguments"


BAD_LINES = [
    ({"tools": [{"type": "function", "name": "a b"}]}, "tools[0].name"),
    ({"tools": [WEATHER], "tool_choice": "get_time"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_outputs": {"get_time": {"output": 1}}}, "tool_outputs.get_time"),
    (
        {
            "tools": [WEATHER],
            "tool_outputs": {"get_weather": {"match": {"town": "x"}, "output": 1}},
        },
        "tool_outputs.get_weather.match.town",
    ),
    ({"tools": [WEATHER], "parallel_tool_calls": True}, "parallel_tool_calls"),
]


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_validate_exits_2_naming_file_line_and_field(tmp_path: Path, beta: bool) -> None:
    """rtbatch validate: every bad tool line reported as FILE:LINE: FIELD: …, exit 2."""
    lines = [{"id": f"bad-{i}", "prompt": "x", **fields} for i, (fields, _) in enumerate(BAD_LINES)]
    path = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "ok", "prompt": "x", "tools": [WEATHER]}, *lines]
    )
    cmd = [sys.executable, "-m", "rtbatch", "validate", str(path), *(["--beta"] if beta else [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == EXIT_USAGE
    for number, (_, field) in enumerate(BAD_LINES, start=2):
        assert f"{path}:{number}: {field}: " in done.stderr, done.stderr


def test_a_bad_tools_file_is_bad_usage(tmp_path: Path) -> None:
    """--tools FILE with a bad field: exit 2, the file, its line and the field named."""
    tools = tmp_path / "tools.json"
    tools.write_text('{\n  "tools": [\n    {"type": "function", "name": 5}\n  ]\n}\n')
    path = write_jobs(tmp_path / "jobs.jsonl", [{"id": "ok", "prompt": "x"}])
    cmd = [sys.executable, "-m", "rtbatch", "validate", str(path), "--tools", str(tools)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == EXIT_USAGE
    assert f"{tools}:3: tools[0].name: expected a function name" in done.stderr, done.stderr


@virtual
async def test_tool_jobs_under_drops_end_once_with_their_calls_once(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """1,000 tool jobs at -c 32 under 20 % drops: each line once, holding one try's calls."""
    fault = "drop"
    h = await start_emulator(
        nursery, tmp_path, faults={fault: 0.2}, seed=5, latency_ms=20, record=False
    )
    jobs = [{**_job("Call get_time and get_weather."), "id": f"t-{i}"} for i in range(1000)]
    path = write_jobs(tmp_path / "jobs.jsonl", jobs)
    # Two responses per try: 36 % of tries fail, so 12 attempts left a job of 1,000
    # failed in about one run of 200 (0.36 ** 12 per job); 20 attempts, one in 10^6.
    report, results = await h.run(
        path, concurrency=32, retry=RetryPolicy(max_attempts=20, initial_s=0.1, max_s=5.0)
    )
    got = by_id(results)
    assert len(got) == 1000 and report.exit_code == EXIT_OK
    assert {r["status"] for r in results} == {"completed"}
    assert max(r["attempts"] for r in results) > 1  # the faults did land
    for line in results:
        assert [(c["name"], c["round"]) for c in line["output"]["tool_calls"]] == [
            ("get_time", 1),
            ("get_weather", 1),
        ]
        assert [r["round"] for r in line["output"]["rounds"]] == [1, 2]
    assert report.summary.tool_calls == {"get_time": 1000, "get_weather": 1000}


AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"


@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_a_respond_job_keeps_its_audio_item_in_every_round(
    nursery: trio.Nursery, tmp_path: Path, dialect: str, model: str
) -> None:
    """Audio in, a required call: each round's input is the audio item, then the calls so far."""
    h = await start_emulator(nursery, tmp_path)
    job = {
        "id": "j",
        "audio": str(AUDIO / "question.ogg"),
        "task": "respond",
        "tools": [TIME],
        "tool_choice": "required",
        "tool_outputs": {"get_time": {"output": "noon"}},
    }
    _, results = await _run(h, tmp_path, dialect, model, [job])
    line = results["j"]
    assert line["status"] == "completed" and line["kind"] == "respond"
    assert [c["output"] for c in line["output"]["tool_calls"]] == ["noon"]
    inputs = [e["response"]["input"] for e in received(h.emulator, "response.create")]
    assert [[i["type"] for i in items] for items in inputs] == [
        ["item_reference"],
        ["item_reference", "function_call", "function_call_output"],
    ]
    for event in received(h.emulator, "response.create"):
        if dialect == "ga":
            assert_ga_response_with_references(event)
        else:
            assert_conforms(client_adapter(dialect), event)
