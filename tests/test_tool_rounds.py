"""rtbatch.tool_rounds: scripted answers, and the rounds driven through a fake session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from rtbatch import protocol
from rtbatch.jobs.model import FunctionChoice, ScriptedOutput, Tools
from rtbatch.protocol import FunctionCall, ResponseResult
from rtbatch.tool_rounds import (
    INVALID_ARGUMENTS,
    ROUND_BOUND_REASON,
    UNSCRIPTED_CALL,
    answer,
    matches,
    run_rounds,
)

WEATHER = {"type": "function", "name": "get_weather"}
TOOLS = Tools(
    definitions=(WEATHER,),
    choice="required",
    outputs={
        "get_weather": (
            ScriptedOutput({"temp_c": 18}, {"city": "Paris"}),
            ScriptedOutput({"temp_c": 3}, {"city": "Oslo", "when": {"day": 1}}),
            ScriptedOutput("no data"),
        )
    },
)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
        ({"a": {"b": 1}}, {"a": 1}, False),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True),
        ({"a": None}, {}, False),
        ({"a": None}, {"a": None}, True),
    ],
)
def test_matches_is_a_recursive_subset(pattern: Any, value: Any, expected: bool) -> None:
    """Objects as subsets; lists and scalars by JSON equality, booleans apart from numbers."""
    assert matches(pattern, value) is expected


@pytest.mark.parametrize(
    ("arguments", "output", "error"),
    [
        ('{"city":"Paris"}', {"temp_c": 18}, None),
        ('{"city":"Oslo","when":{"day":1,"hour":9}}', {"temp_c": 3}, None),
        ('{"city":"Oslo"}', "no data", None),
        ('{"city":', None, INVALID_ARGUMENTS),
        ("[1]", None, INVALID_ARGUMENTS),
    ],
    ids=["first-case", "nested-match", "fallback", "not-json", "not-object"],
)
def test_answer_takes_the_first_matching_case(
    arguments: str, output: Any, error: str | None
) -> None:
    """Cases in order; arguments that are no JSON object get an error the model sees."""
    found = answer(TOOLS, "get_weather", arguments)
    if error is None:
        assert found.output == output and found.error is None
    else:
        assert found.output["error"]["type"] == error and found.error is not None
        if arguments == '{"city":':
            assert found.arguments == arguments  # recorded raw


def test_answer_unscripted_function_is_an_error_object() -> None:
    """A function without cases is answered with unscripted_call."""
    found = answer(TOOLS, "book_table", "{}")
    assert found.output == {
        "error": {
            "type": UNSCRIPTED_CALL,
            "message": "no scripted output for book_table with these arguments",
        }
    }


class FakeSession:
    """Answers each response from a list of call batches (an empty batch: text)."""

    def __init__(self, batches: list[list[FunctionCall]]) -> None:
        self.batches = batches
        self.sent: list[tuple[list[protocol.Event], protocol.Event]] = []

    async def __call__(
        self, extra: Sequence[protocol.Event], tool_fields: protocol.Event
    ) -> ResponseResult:
        self.sent.append((list(extra), tool_fields))
        calls = (
            tuple(self.batches[len(self.sent) - 1]) if len(self.sent) <= len(self.batches) else ()
        )
        usage = {"total_tokens": 10, "input_tokens": 7, "output_tokens": 3}
        text = None if calls else "done"
        return ResponseResult(
            f"resp_{len(self.sent)}", "completed", text, None, usage, None, None, calls
        )


async def test_rounds_answer_every_call_then_end_in_text() -> None:
    """Two parallel calls answered in one round; the next response's input replays both."""
    calls = [
        FunctionCall("c1", "get_weather", '{"city":"Paris"}'),
        FunctionCall("c2", "get_weather", "{"),
    ]
    fake = FakeSession([calls])
    reply = await run_rounds(fake, TOOLS, "ga", max_rounds=3)
    assert reply.status == "completed" and reply.output["text"] == "done"
    assert [c["round"] for c in reply.output["tool_calls"]] == [1, 1]
    assert (
        reply.output["tool_calls"][1]["arguments"] == "{"
        and "error" in reply.output["tool_calls"][1]
    )
    assert reply.usage is not None and reply.usage["total_tokens"] == 20
    assert [r["round"] for r in reply.output["rounds"]] == [1, 2]
    second_input, second_fields = fake.sent[1]
    assert [i["type"] for i in second_input] == [
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
    ]
    assert orjson.loads(second_input[1]["output"]) == {"temp_c": 18}
    assert fake.sent[0][1]["tool_choice"] == "required" and second_fields["tool_choice"] == "auto"


@pytest.mark.parametrize("bound", [0, 1, 2])
async def test_the_round_bound_ends_the_job_incomplete(bound: int) -> None:
    """A model that keeps calling stops after `bound` rounds, its last calls unanswered."""
    call = FunctionCall("c", "get_weather", '{"city":"Paris"}')
    fake = FakeSession([[call]] * 10)
    reply = await run_rounds(fake, TOOLS, "ga", max_rounds=bound)
    assert reply.status == "incomplete" and reply.output["reason"] == ROUND_BOUND_REASON
    assert len(fake.sent) == bound + 1
    assert [c["output"] is None for c in reply.output["tool_calls"]] == [False] * bound + [True]


@pytest.mark.parametrize(
    ("dialect", "wire"),
    [("ga", {"type": "function", "name": "get_weather"}), ("beta", "get_weather")],
)
async def test_a_forced_function_is_spelt_per_dialect(dialect: Any, wire: object) -> None:
    """The protocol layer spells a named tool_choice: GA an object, beta a bare name."""
    fake = FakeSession([])
    tools = Tools(definitions=(WEATHER,), choice=FunctionChoice("get_weather"))
    await run_rounds(fake, tools, dialect, max_rounds=1)
    assert fake.sent[0][1] == {"tools": [WEATHER], "tool_choice": wire}
