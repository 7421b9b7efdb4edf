"""Deterministic function calling: which functions a response calls, with what
arguments, and what it answers once the outputs are back.

Everything here is pure. The rule (``docs/emulator.md``, "Function calling"):

* ``tool_choice: "none"`` never calls; a named function (GA ``{"type": "function",
  "name"}``, beta the bare name) is always called; ``"required"`` calls the functions
  the prompt names, or the first declared one when it names none;
* ``"auto"`` (the default) calls the declared functions the prompt names, unless
  function outputs already answer it;
* the prompt is the text of the last user message the response reads; a function is
  named when its name appears there as a whole word (case-sensitive), and calls are
  made in the order the names first appear;
* with ``parallel_tool_calls: false`` only the first is called;
* a response that calls nothing, reading outputs that came after the last user
  message, answers in text that quotes each output.

Arguments come from the function's JSON schema (:func:`value_for`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from rtbatch.emulator.conversation import Item
from rtbatch.emulator.dialects import JsonObj, ResponseParams
from rtbatch.emulator.errors import ClientError

__all__ = [
    "NO_TOOLS",
    "Call",
    "Plan",
    "argument_pieces",
    "arguments_for",
    "plan",
    "unknown_call",
    "value_for",
]

#: Stand-ins for string formats, so that generated arguments parse as what they claim.
_FORMATS = {
    "date": "2026-01-01",
    "date-time": "2026-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "emulated@example.com",
    "uri": "https://example.com/emulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
#: How deep nested schemas are followed; deeper values are ``null`` (cyclic schemas).
_MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Call:
    """One function call a response makes.

    Attributes:
        name: the function's name.
        arguments: its arguments, a JSON object as text.
    """

    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What a response does: calls, or (when ``calls`` is empty) text.

    Attributes:
        calls: the function calls, in output order.
        answer: the words of a reply to function outputs, or ``None`` for an ordinary
            reply.
    """

    calls: tuple[Call, ...] = ()
    answer: list[str] | None = None


NO_TOOLS = Plan()


def _number(schema: JsonObj, integer: bool) -> int | float:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    step = 1 if integer else 0.5
    value: int | float = 1
    if isinstance(lo, int | float) and not isinstance(lo, bool):
        value = lo + (step if "minimum" not in schema else 0)
    elif isinstance(hi, int | float) and not isinstance(hi, bool) and hi < value:
        value = hi - (step if "maximum" not in schema else 0)
    return int(value) if integer else float(value)


def _string(schema: JsonObj, name: str) -> str:
    text = _FORMATS.get(str(schema.get("format")), f"emulated {name}")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text += "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def value_for(schema: object, name: str, depth: int = 0) -> Any:
    """A value that fits a JSON schema, the same every time.

    ``const``, then the first ``enum`` value, then ``default``, then the first branch
    of ``anyOf``/``oneOf``/``allOf``; else by ``type`` (the first non-null one of a
    list): an object gets its required properties (every property when the schema
    lists none as required), an array ``minItems`` items (at least one, at most
    ``maxItems``), a string ``emulated <name>`` (or a stand-in for its ``format``,
    fitted to its lengths), a number its ``minimum`` (else 1, kept under a
    ``maximum``), a boolean ``true``. ``pattern`` and ``$ref`` are not followed.

    Args:
        schema: a JSON schema (anything else counts as an empty one).
        name: the property's name, quoted in generated strings.
        depth: nesting so far.

    Returns:
        The value.
    """
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None if depth > _MAX_DEPTH else f"emulated {name}"
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return value_for(branches[0], name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        keys = required if isinstance(required, list) and required else list(props)
        return {k: value_for(props.get(k, {}), k, depth + 1) for k in keys if isinstance(k, str)}
    if kind == "array":
        low, high = schema.get("minItems", 1), schema.get("maxItems")
        count = max(1, low) if isinstance(low, int) else 1
        if isinstance(high, int):
            count = min(count, high)
        return [value_for(schema.get("items", {}), name, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name)


def arguments_for(tool: JsonObj) -> str:
    """A function's call arguments: a JSON object fitting its ``parameters``."""
    value = value_for(tool.get("parameters") or {"type": "object"}, tool.get("name", ""))
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def _texts(item: JsonObj) -> list[str]:
    parts = item.get("content") or []
    found = [p.get("text") or p.get("transcript") for p in parts if isinstance(p, dict)]
    return [t for t in found if isinstance(t, str)]


def _last_user(inputs: list[Item]) -> int | None:
    for index in range(len(inputs) - 1, -1, -1):
        wire = inputs[index].wire
        if wire.get("type", "message") == "message" and wire.get("role") == "user":
            return index
    return None


def named_in(text: str, tools: tuple[JsonObj, ...]) -> list[JsonObj]:
    """The declared functions whose names appear in ``text`` as whole words, in order."""
    found: list[tuple[int, int, JsonObj]] = []
    for order, tool in enumerate(tools):
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            continue
        hit = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
        if hit is not None:
            found.append((hit.start(), order, tool))
    return [tool for _, _, tool in sorted(found, key=lambda f: (f[0], f[1]))]


def _forced(choice: object) -> str | None:
    """The function a ``tool_choice`` forces, if it names one."""
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("name")
        return name if isinstance(name, str) else None
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return choice  # beta spells a forced function as its bare name
    return None


def _answer(outputs: list[JsonObj], names: dict[str, str]) -> list[str]:
    """``Emulated reply using get_weather: {"temp":20}.`` for each output, in order."""
    words = ["Emulated", "reply", "using"]
    for index, item in enumerate(outputs):
        if index:
            words.append("and")
        words.append(f"{names.get(str(item.get('call_id')), 'a tool')}:")
        words += str(item.get("output", "")).split() or ['""']
    words[-1] += "."
    return words


def plan(
    params: ResponseParams, inputs: list[Item], known_calls: dict[str, str], param: str
) -> Plan:
    """Decide what one response does (the module's rule).

    Args:
        params: the response's settings (tools, tool_choice, parallel_tool_calls).
        inputs: the items it reads.
        known_calls: call id -> function name of the calls made in this session.
        param: where ``tool_choice`` came from, for errors (``response.tool_choice``).

    Returns:
        The plan.

    Raises:
        ClientError: ``tool_choice`` forces a function that is not declared, or is
            ``required`` with no function declared.
    """
    tools, choice = params.tools, params.tool_choice
    forced = _forced(choice)
    if forced is not None:
        chosen = [t for t in tools if t.get("name") == forced][:1]
        if not chosen:
            # The service's wording is UNCONFIRMED (docs/emulator.md).
            raise ClientError(
                "invalid_value",
                f"Invalid value for '{param}': function '{forced}' is not among the "
                "declared tools.",
                param,
            )
        return Plan(tuple(Call(t["name"], arguments_for(t)) for t in chosen))
    if choice == "required" and not tools:
        raise ClientError(
            "invalid_value",
            f"Invalid value for '{param}': 'required' needs at least one function tool.",
            param,
        )
    last = _last_user(inputs)
    after = inputs[last + 1 :] if last is not None else inputs
    outputs = [i.wire for i in after if i.wire.get("type") == "function_call_output"]
    chosen = []
    if choice == "required" or (choice == "auto" and not outputs):
        prompt = " ".join(_texts(inputs[last].wire)) if last is not None else ""
        chosen = named_in(prompt, tools)
        if choice == "required" and not chosen:
            chosen = list(tools[:1])
    if chosen:
        if not params.parallel_tool_calls:
            chosen = chosen[:1]
        return Plan(tuple(Call(t["name"], arguments_for(t)) for t in chosen))
    if outputs:
        names = dict(known_calls)
        for item in inputs:
            if item.wire.get("type") == "function_call" and "call_id" in item.wire:
                names[item.wire["call_id"]] = str(item.wire.get("name"))
        return Plan(answer=_answer(outputs, names))
    return NO_TOOLS


def unknown_call(call_id: str) -> ClientError:
    """The service's refusal of an output for a call it does not know.

    Reported (livekit/agents#3344): ``invalid_tool_call_id``, "Tool call ID '…' not
    found in conversation.", ``param`` null.
    """
    return ClientError(
        "invalid_tool_call_id", f"Tool call ID '{call_id}' not found in conversation."
    )


def argument_pieces(arguments: str) -> list[str]:
    """The deltas of a call's arguments: runs of at most 16 characters."""
    return [arguments[i : i + 16] for i in range(0, len(arguments), 16)] or [""]
