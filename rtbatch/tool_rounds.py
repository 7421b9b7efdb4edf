"""Tool rounds: rtbatch plays the tools' part of a job, from the job's scripted outputs.

A response that ends with ``function_call`` items gets each call answered (its
scripted output, :func:`answer`, JSON-encoded, in a ``function_call_output``
item) and a new response; that is one *tool round*. Rounds go on until a response
makes no call, or ``max_rounds`` tool rounds have been made: a response that still
calls then ends the job ``incomplete``, reason :data:`ROUND_BOUND_REASON` (its calls
recorded, unanswered).

Every response is out of band, like every job's (``conversation: "none"``): its
``input`` is the job's own items, then each call and its output so far, in the
order they were made. Nothing is written to the session's conversation, so
nothing reaches the next job on the connection, and a retried attempt starts
again from the job's items alone (its line records only the last attempt's calls).

``tool_choice`` is the job's for the first response only; later ones ask
``auto``. A forced function or ``required`` would otherwise call again in every
round until the bound; agent frameworks reset it after a call for the same reason
(openai-agents' ``reset_tool_choice``, on by default).

:func:`run_rounds` drives the rounds through a :class:`Respond` callback (the
session sends and reads); everything else here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from rtbatch import protocol
from rtbatch.jobs.model import FunctionChoice, Tools
from rtbatch.models import DialectName
from rtbatch.output.transcript import sum_usage
from rtbatch.protocol import FunctionCall, ResponseResult
from rtbatch.reply import JobReply

__all__ = [
    "INVALID_ARGUMENTS",
    "INVALID_ARGUMENTS_NOTE",
    "ROUND_BOUND_REASON",
    "UNSCRIPTED_CALL",
    "Answer",
    "Respond",
    "answer",
    "matches",
    "run_rounds",
]

#: ``output.reason`` of a job whose model still called after the last round allowed.
ROUND_BOUND_REASON = "max_tool_rounds"
#: The ``error.type`` the model sees for a call no scripted case answers.
UNSCRIPTED_CALL = "unscripted_call"
#: The ``error.type`` the model sees for a call whose arguments are not JSON.
INVALID_ARGUMENTS = "invalid_arguments"
#: How a recorded call's ``error`` starts when its arguments are not JSON (kept raw).
INVALID_ARGUMENTS_NOTE = "the arguments are not valid JSON"


@dataclass(frozen=True, slots=True)
class Answer:
    """What rtbatch answers one call, and what it read of the call.

    Attributes:
        arguments: the arguments parsed, or the raw string when they are not JSON.
        output: the value answered (a scripted output, or an error object).
        error: why the arguments could not be read, or None.
    """

    arguments: Any
    output: Any
    error: str | None = None


def matches(pattern: object, value: object) -> bool:
    """Whether ``value`` has every key of ``pattern`` with an equal value.

    Objects compare as subsets, recursively; anything else (lists included) by
    JSON equality, where ``1`` and ``1.0`` are equal but ``true`` and ``1`` are not.
    """
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            key in value and matches(sub, value[key]) for key, sub in pattern.items()
        )
    if isinstance(pattern, bool) or isinstance(value, bool):
        return type(pattern) is type(value) and pattern == value
    return bool(pattern == value)


def answer(tools: Tools, name: str, raw_arguments: str) -> Answer:
    """The answer to one call: its function's first case whose ``match`` the arguments meet.

    A call whose arguments are not a JSON object, or that no case answers
    (unscripted function or arguments), is answered with an error object the
    model sees: ``{"error": {"type": …, "message": …}}``.
    """
    try:
        arguments = orjson.loads(raw_arguments)
    except orjson.JSONDecodeError as exc:
        error = f"{INVALID_ARGUMENTS_NOTE}: {exc.msg}"
        return Answer(raw_arguments, _error(INVALID_ARGUMENTS, f"{name}: {error}"), error)
    if not isinstance(arguments, dict):
        error = "the arguments are not a JSON object"
        return Answer(arguments, _error(INVALID_ARGUMENTS, f"{name}: {error}"), error)
    for case in tools.outputs.get(name, ()):
        if case.match is None or matches(case.match, arguments):
            return Answer(arguments, case.output)
    message = f"no scripted output for {name} with these arguments"
    return Answer(arguments, _error(UNSCRIPTED_CALL, message))


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


class Respond(Protocol):
    """Sends one response of the job and reads its ``response.done``.

    Args:
        extra: the calls and outputs so far, to follow the job's own items in
            ``input``.
        tool_fields: the ``response.create`` fields of function calling.

    Returns:
        The response read; one that failed or was cancelled is raised instead,
        already classified.
    """

    async def __call__(
        self, extra: Sequence[protocol.Event], tool_fields: protocol.Event
    ) -> ResponseResult: ...


@dataclass(slots=True)
class _Rounds:
    """What a job's rounds produced so far."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    items: list[protocol.Event] = field(default_factory=list)

    def add_response(self, result: ResponseResult) -> None:
        record: dict[str, Any] = {
            "round": len(self.rounds) + 1,
            "response_id": result.response_id,
            "status": result.status,
            "usage": result.usage,
        }
        if result.text is not None:
            record["text"] = result.text
        self.rounds.append(record)

    def add_call(self, call: FunctionCall, found: Answer | None) -> None:
        """Record a call; with its answer, also queue both for the next round's input."""
        record: dict[str, Any] = {
            "name": call.name,
            "arguments": found.arguments if found is not None else _parsed(call.arguments),
            "call_id": call.call_id,
            "round": len(self.rounds),
            "output": found.output if found is not None else None,
        }
        if found is not None and found.error is not None:
            record["error"] = found.error
        self.calls.append(record)
        if found is not None:
            self.items.append(protocol.function_call_item(call))
            output = orjson.dumps(found.output).decode()
            self.items.append(protocol.function_call_output_item(call.call_id, output))

    def reply(self, result: ResponseResult, status: str, reason: str | None) -> JobReply:
        output: dict[str, Any] = {"text": result.text}
        if result.transcript is not None:
            output["transcript"] = result.transcript
        output["tool_calls"] = self.calls
        output["rounds"] = self.rounds
        if status == "incomplete":
            output["reason"] = reason
        usage = sum_usage(r["usage"] for r in self.rounds)
        return JobReply(status, output, usage, result.response_id)


def _parsed(raw: str) -> Any:
    """An unanswered call's arguments as recorded: parsed when they are JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def tool_fields_for(dialect: DialectName, tools: Tools, first: bool) -> protocol.Event:
    """The function calling fields of a response: the job's choice first, then ``auto``."""
    choice = tools.choice if first else "auto"
    return protocol.tool_fields(
        dialect,
        tools.definitions,
        mode=None if isinstance(choice, FunctionChoice) else choice,
        function=choice.name if isinstance(choice, FunctionChoice) else None,
        parallel=tools.parallel_tool_calls,
    )


async def run_rounds(
    respond: Respond, tools: Tools, dialect: DialectName, max_rounds: int
) -> JobReply:
    """Run a tool job's responses until one makes no call or the bound is reached.

    Args:
        respond: sends one response and reads it (the session).
        tools: the job's functions and scripted outputs.
        dialect: how the tool fields are spelt.
        max_rounds: the most tool rounds (answers and a new response) to make.

    Returns:
        The job's reply, its usage the rounds' summed and its response id the
        last response's: ``completed`` with the last response's text once a
        response makes no call;
        ``incomplete`` when a response was cut short (its reason) or the model
        still called after ``max_rounds`` rounds (:data:`ROUND_BOUND_REASON`).

    Raises:
        RtbatchError: a response failed; from ``respond``, already classified.
        MalformedEvent: a response's ``function_call`` item is malformed.
    """
    state = _Rounds()
    while True:
        first = not state.rounds
        result = await respond(list(state.items), tool_fields_for(dialect, tools, first))
        state.add_response(result)
        if result.status != "completed" or not result.calls:
            for call in result.calls:  # cut short mid-call: recorded, never answered
                state.add_call(call, None)
            return state.reply(result, result.status, result.reason)
        if len(state.rounds) > max_rounds:
            for call in result.calls:
                state.add_call(call, None)
            return state.reply(result, "incomplete", ROUND_BOUND_REASON)
        for call in result.calls:
            state.add_call(call, answer(tools, call.name, call.arguments))
