"""Function calling in jobs: ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``tool_outputs``.

A job declares functions and scripts their answers; rtbatch plays the tools' part
(:mod:`rtbatch.tool_rounds`). The same four fields may come from a run-wide file,
``--tools FILE`` (:func:`read_tool_file`), merged under each job's own
(:func:`job_tools`): functions and scripted outputs by name, the job's winning;
``tool_choice`` and ``parallel_tool_calls`` the job's when it gives them.

The checks, each naming its field (``docs/jobs.md``, "Function calling"):

* a tool is ``{"type": "function", "name", "description"?, "parameters"?}``: a name
  of 1-64 letters, digits, ``_`` or ``-`` (OpenAI's rule for function names), a
  JSON schema object for ``parameters`` (``type`` ``"object"`` when given,
  ``properties`` an object of schemas, ``required`` naming properties); no name twice;
* ``tool_choice`` is ``auto``, ``none``, ``required`` or a declared function, spelt
  ``{"type": "function", "name": N}`` or, as the beta interface spells it, ``"N"``;
* ``parallel_tool_calls`` only where the run's dialect and model take it;
* ``tool_outputs`` maps a declared function's name to one case or a list of cases,
  ``{"match"?: {…}, "output": V}``; a case without ``match`` answers every call,
  so no case may follow it; ``match`` keys must be the function's parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from rtbatch.jobs import rules as jobrules
from rtbatch.jobs.checks import Invalid, check_known, did_you_mean, fail, got, one_of, quote
from rtbatch.jobs.model import (
    FunctionChoice,
    ScriptedOutput,
    ToolChoice,
    ToolFields,
    ToolMode,
    Tools,
)
from rtbatch.jobs.rules import JobRules

__all__ = [
    "FIELDS",
    "ToolFields",
    "ToolFileError",
    "check_parameters",
    "function_name",
    "job_tools",
    "read_tool_fields",
    "read_tool_file",
    "undeclared",
]

#: The job fields of function calling, in the order of ``docs/jobs.md``.
FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "tool_outputs")
#: OpenAI's rule for function names (the Chat Completions and Responses references);
#: that Realtime applies the same is UNCONFIRMED.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOOL_KEYS = ("type", "name", "description", "parameters")
_CASE_KEYS = ("match", "output")
_MODES: tuple[ToolMode, ...] = ("auto", "none", "required")
_FILE_NOTE = " (in the --tools file)"


def read_tool_fields(obj: Mapping[str, Any], rules: JobRules) -> ToolFields:
    """The four fields of ``obj`` checked one by one; raises :class:`Invalid`."""
    return ToolFields(
        definitions=_definitions(obj["tools"]) if "tools" in obj else None,
        choice=_choice(obj["tool_choice"]) if "tool_choice" in obj else None,
        parallel_tool_calls=_parallel(obj["parallel_tool_calls"], rules)
        if "parallel_tool_calls" in obj
        else None,
        outputs=_outputs(obj["tool_outputs"]) if "tool_outputs" in obj else None,
    )


def job_tools(obj: Mapping[str, Any], rules: JobRules) -> Tools | None:
    """A job line's function calling, its own fields over the run's defaults.

    Returns:
        None when neither the job nor the defaults declare a function.

    Raises:
        Invalid: a field is malformed, or names a function nowhere declared.
    """
    own = read_tool_fields(obj, rules)
    base = rules.tools or ToolFields()
    declared = _merge_definitions(base.definitions or (), own.definitions or ())
    if not declared:
        for name, value in zip(
            FIELDS[1:], (own.choice, own.parallel_tool_calls, own.outputs), strict=True
        ):
            if value is not None:
                fail(name, "needs tools: declare the functions in tools (or in the --tools file)")
        return None
    by_name = {str(d["name"]): d for d in declared}
    choice = own.choice if own.choice is not None else base.choice
    if isinstance(choice, FunctionChoice) and choice.name not in by_name:
        note = "" if own.choice is not None else _FILE_NOTE
        fail("tool_choice", f"{undeclared(choice.name, by_name)}{note}")
    # The defaults may script functions only some jobs declare: those apply where declared.
    outputs = {k: v for k, v in (base.outputs or {}).items() if k in by_name}
    for name, cases in (own.outputs or {}).items():
        if name not in by_name:
            fail(f"tool_outputs.{name}", undeclared(name, by_name))
        _check_matches(f"tool_outputs.{name}", cases, by_name[name])
        outputs[name] = cases
    parallel = own.parallel_tool_calls
    return Tools(
        definitions=declared,
        choice=choice,
        parallel_tool_calls=base.parallel_tool_calls if parallel is None else parallel,
        outputs=outputs,
    )


def _merge_definitions(
    base: tuple[Mapping[str, Any], ...], own: tuple[Mapping[str, Any], ...]
) -> tuple[Mapping[str, Any], ...]:
    """The defaults' functions in order, a job's same-named ones in their place, then its own."""
    mine = {d["name"]: d for d in own}
    merged = [mine.pop(d["name"], d) for d in base]
    return (*merged, *mine.values())


def undeclared(name: str, by_name: Mapping[str, object]) -> str:
    close = did_you_mean(name, list(by_name))
    return f"function {quote(name)} is not declared{close} (declared: {', '.join(by_name)})"


# --- the fields -------------------------------------------------------------------------------


def _definitions(value: object) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list) or not value:
        fail("tools", f"expected a non-empty array of function definitions, {got(value)}")
    first: dict[str, int] = {}
    out = []
    for i, item in enumerate(value):
        definition = _definition(f"tools[{i}]", item)
        name = definition["name"]
        if name in first:
            fail(
                f"tools[{i}].name",
                f"{quote(name)} is declared twice (first in tools[{first[name]}])",
            )
        first[name] = i
        out.append(definition)
    return tuple(out)


def _definition(where: str, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        fail(where, f'expected an object such as {{"type": "function", "name": …}}, {got(item)}')
    check_known(item, _TOOL_KEYS, f"{where}.")
    if "type" not in item:
        fail(f"{where}.type", 'required: "function"')
    if item["type"] != "function":
        fail(
            f"{where}.type",
            f'expected "function" (jobs declare function tools only), {got(item["type"])}',
        )
    if "name" not in item:
        fail(f"{where}.name", "required")
    function_name(f"{where}.name", item["name"])
    out: dict[str, Any] = {"type": "function", "name": item["name"]}
    if "description" in item:
        if not isinstance(item["description"], str):
            fail(f"{where}.description", f"expected a string, {got(item['description'])}")
        out["description"] = item["description"]
    if "parameters" in item:
        out["parameters"] = _parameters(f"{where}.parameters", item["parameters"])
    return out


def function_name(where: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        fail(where, f"expected a function name of 1-64 letters, digits, _ or -, {got(value)}")
    return value


def _parameters(where: str, value: object) -> dict[str, Any]:
    """A function's JSON schema: checked where a mistake would reach the service, kept as given."""
    if not isinstance(value, dict):
        fail(where, f'expected a JSON schema object such as {{"type": "object", …}}, {got(value)}')
    if "type" in value and value["type"] != "object":
        fail(
            f"{where}.type",
            f'expected "object" (a function takes named arguments), {got(value["type"])}',
        )
    props = value.get("properties", {})
    if not isinstance(props, dict):
        fail(f"{where}.properties", f"expected an object of schemas, {got(props)}")
    for key, schema in props.items():
        if not isinstance(schema, dict | bool):
            fail(f"{where}.properties.{key}", f"expected a JSON schema (an object), {got(schema)}")
    if "required" in value:
        required = value["required"]
        if not isinstance(required, list):
            fail(f"{where}.required", f"expected an array of property names, {got(required)}")
        for i, name in enumerate(required):
            if not isinstance(name, str) or (props and name not in props):
                known = ", ".join(props) or "none"
                fail(
                    f"{where}.required[{i}]",
                    f"expected a property name (properties: {known}), {got(name)}",
                )
    try:
        orjson.dumps(value)  # sent with every response: it must serialise back
    except orjson.JSONEncodeError as exc:
        fail(where, f"cannot be sent: {exc}")
    return value


def _choice(value: object) -> ToolChoice:
    if isinstance(value, str):
        if value in _MODES:
            return one_of("tool_choice", value, _MODES)
        # The beta interface spells a forced function as its bare name.
        return FunctionChoice(function_name("tool_choice", value))
    if isinstance(value, dict):
        check_known(value, ("type", "name"), "tool_choice.")
        if value.get("type") != "function":
            fail("tool_choice.type", f'expected "function", {got(value.get("type"))}')
        if "name" not in value:
            fail("tool_choice.name", "required")
        return FunctionChoice(function_name("tool_choice.name", value["name"]))
    fail(
        "tool_choice",
        "expected one of auto, none, required, or a function "
        f'({{"type": "function", "name": …}}), {got(value)}',
    )


def _parallel(value: object, rules: JobRules) -> bool:
    problem = jobrules.ga_param_problem("parallel_tool_calls", rules)
    if problem is not None:
        fail("parallel_tool_calls", problem)
    if not isinstance(value, bool):
        fail("parallel_tool_calls", f"expected true or false, {got(value)}")
    return value


def _outputs(value: object) -> dict[str, tuple[ScriptedOutput, ...]]:
    if not isinstance(value, dict) or not value:
        fail("tool_outputs", f"expected an object keyed by function name, {got(value)}")
    out: dict[str, tuple[ScriptedOutput, ...]] = {}
    for name, cases in value.items():
        where = f"tool_outputs.{name}"
        function_name(where, name)
        if isinstance(cases, list):
            if not cases:
                fail(where, 'expected a case {"output": …} or a non-empty array of cases, got []')
            out[name] = tuple(_case(f"{where}[{i}]", c) for i, c in enumerate(cases))
            for i, case in enumerate(out[name][:-1]):
                if case.match is None:
                    fail(
                        f"{where}[{i + 1}]",
                        f"unreachable: {where}[{i}] has no match and answers every call",
                    )
        else:
            out[name] = (_case(where, cases),)
    return out


def _case(where: str, value: object) -> ScriptedOutput:
    if not isinstance(value, dict):
        fail(
            where,
            'expected a case such as {"output": …} or {"match": {…}, "output": …}, ' + got(value),
        )
    check_known(value, _CASE_KEYS, f"{where}.")
    if "output" not in value:
        fail(f"{where}.output", "required: what the function returns (any JSON value)")
    if value["output"] is None:
        fail(
            f"{where}.output", "expected a JSON value other than null (leave the case out instead)"
        )
    match = value.get("match")
    if "match" in value and (not isinstance(match, dict) or not match):
        fail(f"{where}.match", f"expected a non-empty object of argument values, {got(match)}")
    try:
        orjson.dumps(value)  # answered and recorded as JSON: it must serialise back
    except orjson.JSONEncodeError as exc:
        fail(where, f"cannot be sent: {exc}")
    return ScriptedOutput(output=value["output"], match=match)


def _check_matches(
    where: str, cases: tuple[ScriptedOutput, ...], definition: Mapping[str, Any]
) -> None:
    """A ``match`` key that is no parameter of the function would never match: a typo."""
    for i, case in enumerate(cases):
        place = f"{where}[{i}]" if len(cases) > 1 else where
        check_parameters(f"{place}.match", case.match or {}, definition)


def check_parameters(where: str, keys: Mapping[str, Any], definition: Mapping[str, Any]) -> None:
    """Refuse the first key that is no parameter of the function (a function without
    declared properties takes any); the field is ``where.KEY``."""
    props = (definition.get("parameters") or {}).get("properties") or {}
    if not props:
        return
    for key in keys:
        if key not in props:
            fail(
                f"{where}.{key}",
                f"not a parameter of {definition['name']}{did_you_mean(key, list(props))} "
                f"(parameters: {', '.join(props)})",
            )


# --- the --tools file -------------------------------------------------------------------------


class ToolFileError(ValueError):
    """Raised when the ``--tools`` file cannot be read or one of its fields is bad.

    The message reads like a job line's problem: ``FILE:LINE: FIELD: MESSAGE``.
    """


def read_tool_file(path: str | Path, rules: JobRules) -> ToolFields:
    """The run-wide tool defaults of ``--tools FILE``: a JSON object with the job's four fields.

    Args:
        path: the file.
        rules: the run's dialect and model (``parallel_tool_calls`` depends on them).

    Raises:
        ToolFileError: the file cannot be read, is not a JSON object, has another
            field, or a bad value (naming the line its key is on).
    """
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolFileError(
            f"cannot read tools file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ToolFileError(
            f"{path}:{exc.lineno}: invalid JSON: {exc.msg} at column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise ToolFileError(
            f"{path}:1: expected a JSON object with {', '.join(FIELDS)}, {got(value)}"
        )
    try:
        check_known(value, FIELDS, "")
        fields = read_tool_fields(value, rules)
        # A forced function or a script may be for functions the jobs declare: only
        # each job line can tell (job_tools).
        declared = {str(d["name"]): d for d in fields.definitions or ()}
        for name, cases in (fields.outputs or {}).items():
            if name in declared:
                _check_matches(f"tool_outputs.{name}", cases, declared[name])
    except Invalid as bad:
        line = _lines_of(text).get(bad.field or "", 1)
        where = f"{bad.field}: " if bad.field else ""
        raise ToolFileError(f"{path}:{line}: {where}{bad.message}") from None
    return fields


def _lines_of(text: str) -> dict[str, int]:
    """The line each field path of a JSON document starts on (``tools[1].name`` -> 7).

    The document is known to be valid JSON; scalars are skipped by the standard
    decoder, which reports where each ends.
    """
    decoder = json.JSONDecoder()
    found: dict[str, int] = {}
    space = re.compile(r"\s*")

    def skip(pos: int) -> int:
        end = space.match(text, pos)
        return end.end() if end else pos

    def walk(pos: int, path: str) -> int:
        pos = skip(pos)
        if text[pos] == "{":
            pos = skip(pos + 1)
            while text[pos] != "}":
                key_at = pos
                key, pos = decoder.raw_decode(text, pos)
                here = f"{path}.{key}" if path else str(key)
                found.setdefault(here, text.count("\n", 0, key_at) + 1)
                pos = walk(skip(pos) + 1, here)  # past the colon
                pos = skip(pos)
                if text[pos] == ",":
                    pos = skip(pos + 1)
            return pos + 1
        if text[pos] == "[":
            pos, index = skip(pos + 1), 0
            while text[pos] != "]":
                here = f"{path}[{index}]"
                found.setdefault(here, text.count("\n", 0, pos) + 1)
                pos = skip(walk(pos, here))
                if text[pos] == ",":
                    pos = skip(pos + 1)
                index += 1
            return pos + 1
        _, end = decoder.raw_decode(text, pos)
        return int(end)

    walk(0, "")
    return found
