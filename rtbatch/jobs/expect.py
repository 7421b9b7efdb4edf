"""A job's ``expect``: the checks its answer must pass, read into check objects.

``expect`` is an object keyed by check name (``docs/jobs.md``, "Expectations")::

    {"contains": "Paris", "not_contains": ["London", "Berlin"], "regex": "^[A-Z]",
     "tool_called": ["get_weather", {"name": "lookup_order", "arguments": {"order_id": "1042"}}],
     "no_tool_call": true, "max_latency_ms": {"first_text": 800, "total": 2000},
     "max_cost_usd": 0.01, "min_words": 3, "max_words": 40, "ignore_case": true}

A string or a list of strings where several values make sense; one object of
stages where a bound is by stage. Everything is checked here, at read time, against
what the job can produce, so that a check that could never pass (or never fail) is
a problem on its line rather than a surprise in the results: a bad regex, a stage
the job has no answer for, a function it does not declare, a needle both required
and forbidden.

How the checks are evaluated is :mod:`rtbatch.evals.checks`'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rtbatch.jobs.checks import check_known, did_you_mean, fail, got, quote
from rtbatch.jobs.model import (
    Check,
    Contains,
    JobKind,
    MaxCost,
    MaxLatency,
    MaxWords,
    MinWords,
    NotContains,
    NoToolCall,
    Regex,
    ResponseOptions,
    ToolCalled,
    Tools,
)
from rtbatch.jobs.tools import check_parameters, function_name, undeclared
from rtbatch.stages import RESPONSE_STAGES, TRANSCRIPT_STAGE

__all__ = ["CHECK_NAMES", "KEYS", "TOTAL", "read_expect"]

#: The checks, in the order a line lists their results.
CHECK_NAMES = (
    "contains",
    "not_contains",
    "regex",
    "tool_called",
    "no_tool_call",
    "max_latency_ms",
    "max_cost_usd",
    "min_words",
    "max_words",
)
#: Every key of ``expect``: the checks and their one option.
KEYS = (*CHECK_NAMES, "ignore_case")
#: ``max_latency_ms``'s name for the line's ``latency_ms`` (the whole job, retries aside).
TOTAL = "total"
_WHERE = "expect"


def read_expect(
    value: object, kind: JobKind, tools: Tools | None, options: ResponseOptions
) -> tuple[Check, ...]:
    """The checks of a job's ``expect``, in :data:`CHECK_NAMES` order.

    Args:
        value: the field as written.
        kind: the job's kind (a transcribe job has a transcript and no calls).
        tools: the job's function calling, or None (tool checks need it).
        options: the job's response options (``first_audio`` needs audio output).

    Raises:
        Invalid: the first problem, naming ``expect.…``.
    """
    if not isinstance(value, dict):
        fail(_WHERE, f'expected an object of checks such as {{"contains": "Paris"}}, {got(value)}')
    check_known(value, KEYS, f"{_WHERE}.")
    if not any(name in value for name in CHECK_NAMES):
        fail(_WHERE, f"expected at least one check (one of: {', '.join(CHECK_NAMES)})")
    ignore_case = False
    if "ignore_case" in value:
        if not isinstance(value["ignore_case"], bool):
            fail(f"{_WHERE}.ignore_case", f"expected true or false, {got(value['ignore_case'])}")
        ignore_case = value["ignore_case"]
    checks: list[Check] = []
    contains = _strings("contains", value)
    checks += [Contains(n, ignore_case) for n in contains]
    forbidden = _strings("not_contains", value)
    for i, needle in enumerate(forbidden):
        # A text with the required needle has every piece of it too.
        piece = _fold(needle, ignore_case)
        clash = next((n for n in contains if piece in _fold(n, ignore_case)), None)
        if clash is not None:
            same = _fold(clash, ignore_case) == piece
            within = "is also in" if same else f"is part of {quote(clash)} in"
            fail(
                _place("not_contains", value, i),
                f"{quote(needle)} {within} contains: the two can never both pass",
            )
    checks += [NotContains(n, ignore_case) for n in forbidden]
    checks += _regexes(value, ignore_case)
    checks += _tool_checks(value, kind, tools)
    if "max_latency_ms" in value:
        checks += _latency(value["max_latency_ms"], kind, options)
    if "max_cost_usd" in value:
        usd = value["max_cost_usd"]
        if isinstance(usd, bool) or not isinstance(usd, int | float) or usd < 0:
            fail(f"{_WHERE}.max_cost_usd", f"expected a number of USD, 0 or more, {got(usd)}")
        checks.append(MaxCost(float(usd)))
    checks += _words(value)
    return tuple(checks)


def _strings(name: str, expect: Mapping[str, Any]) -> tuple[str, ...]:
    """A check's string or non-empty list of non-empty strings (none when absent)."""
    if name not in expect:
        return ()
    value = expect[name]
    where = f"{_WHERE}.{name}"
    items = value if isinstance(value, list) else [value]
    if not items:
        fail(where, f"expected a non-empty string or array of strings, {got(value)}")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            fail(
                f"{where}[{i}]" if isinstance(value, list) else where,
                f"expected a non-empty string, {got(item)}",
            )
    return tuple(items)


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _place(name: str, value: Mapping[str, Any], i: int) -> str:
    """``expect.NAME[i]`` for a list as written, ``expect.NAME`` for a single value."""
    return f"{_WHERE}.{name}" + (f"[{i}]" if isinstance(value[name], list) else "")


def _regexes(value: Mapping[str, Any], ignore_case: bool) -> list[Check]:
    out: list[Check] = []
    sources = _strings("regex", value)
    for i, source in enumerate(sources):
        try:
            pattern = re.compile(source, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            at = f" at position {exc.pos}" if exc.pos is not None else ""
            fail(
                _place("regex", value, i),
                f"not a valid regular expression: {exc.msg}{at} ({quote(source)})",
            )
        out.append(Regex(pattern))
    return out


# --- function calls -----------------------------------------------------------------------------


def _tool_checks(value: Mapping[str, Any], kind: JobKind, tools: Tools | None) -> list[Check]:
    names = [n for n in ("tool_called", "no_tool_call") if n in value]
    if not names:
        return []
    if tools is None:
        reason = (
            "a transcribe job makes no function calls"
            if kind == "transcribe"
            else "needs tools: declare the functions in tools (or in the --tools file)"
        )
        fail(f"{_WHERE}.{names[0]}", reason)
    declared = {str(d["name"]): d for d in tools.definitions}
    called = _called(value["tool_called"], declared) if "tool_called" in value else []
    if "no_tool_call" not in value:
        return list(called)
    forbidden = _forbidden(value["no_tool_call"], declared)
    for check in forbidden:
        clash = next((c for c in called if check.function in (None, c.function)), None)
        if clash is not None:
            what = "any call" if check.function is None else f"a call of {check.function}"
            fail(
                f"{_WHERE}.no_tool_call",
                f"forbids {what}, and tool_called expects {clash.function}: "
                "the two can never both pass",
            )
    return [*called, *forbidden]


def _called(value: object, declared: Mapping[str, Mapping[str, Any]]) -> list[ToolCalled]:
    where = f"{_WHERE}.tool_called"
    items = value if isinstance(value, list) else [value]
    if not items:
        fail(where, "expected a function name, {name, arguments}, or a non-empty array of them")
    out = []
    for i, item in enumerate(items):
        place = f"{where}[{i}]" if isinstance(value, list) else where
        out.append(_one_call(place, item, declared))
    return out


def _one_call(where: str, item: object, declared: Mapping[str, Mapping[str, Any]]) -> ToolCalled:
    if isinstance(item, str):
        return ToolCalled(_declared(where, item, declared))
    if not isinstance(item, dict):
        fail(
            where,
            f'expected a function name or {{"name": …, "arguments": {{…}}}}, {got(item)}',
        )
    check_known(item, ("name", "arguments"), f"{where}.")
    if "name" not in item:
        fail(f"{where}.name", "required")
    name = _declared(f"{where}.name", item["name"], declared)
    arguments = item.get("arguments")
    if "arguments" in item:
        if not isinstance(arguments, dict) or not arguments:
            fail(
                f"{where}.arguments",
                f"expected a non-empty object of argument values, {got(arguments)}",
            )
        check_parameters(f"{where}.arguments", arguments, declared[name])
    return ToolCalled(name, arguments)


def _forbidden(value: object, declared: Mapping[str, Mapping[str, Any]]) -> list[NoToolCall]:
    where = f"{_WHERE}.no_tool_call"
    if value is True:
        return [NoToolCall()]
    if isinstance(value, str):
        return [NoToolCall(_declared(where, value, declared))]
    if isinstance(value, list) and value:
        return [
            NoToolCall(_declared(f"{where}[{i}]", name, declared)) for i, name in enumerate(value)
        ]
    fail(
        where,
        "expected true (no call at all), a function name or an array of names "
        f"(leave the field out to allow calls), {got(value)}",
    )


def _declared(where: str, value: object, declared: Mapping[str, object]) -> str:
    name = function_name(where, value)
    if name not in declared:
        fail(where, undeclared(name, declared))
    return name


# --- latency, words -----------------------------------------------------------------------------


def _stages_of(kind: JobKind, options: ResponseOptions) -> tuple[str, ...]:
    """The stages a job's line can record, and ``total``."""
    if kind == "transcribe":
        return (TRANSCRIPT_STAGE, TOTAL)
    audio = options.output_modalities == ("audio",)
    # An audio answer streams audio and its transcript, never text deltas; a text
    # answer never audio.
    skipped = "first_text" if audio else "first_audio"
    return (*(s for s in RESPONSE_STAGES if s != skipped), TOTAL)


def _latency(value: object, kind: JobKind, options: ResponseOptions) -> list[Check]:
    where = f"{_WHERE}.max_latency_ms"
    if not isinstance(value, dict):
        return [MaxLatency(TOTAL, _ms(where, value))]
    if not value:
        fail(where, 'expected milliseconds, or an object of stages such as {"done": 2000}, got {}')
    every = (*RESPONSE_STAGES, TRANSCRIPT_STAGE, TOTAL)
    possible = _stages_of(kind, options)
    out: list[Check] = []
    for stage in sorted(value, key=lambda s: every.index(s) if s in every else len(every)):
        place = f"{where}.{stage}"
        if stage not in every:
            fail(place, f"unknown stage{did_you_mean(stage, every)} (stages: {', '.join(every)})")
        if stage not in possible:
            fail(place, f"{_why_not(stage, kind)} (this job's stages: {', '.join(possible)})")
        out.append(MaxLatency(stage, _ms(place, value[stage])))
    return out


def _why_not(stage: str, kind: JobKind) -> str:
    if kind == "transcribe":
        return f"a transcribe job has no {stage} stage"
    if stage == TRANSCRIPT_STAGE:
        return "only a transcribe job has the transcript stage"
    if stage == "first_audio":
        return 'a text answer has no first_audio (the job\'s output_modalities is not ["audio"])'
    return "an audio answer has no first_text (it streams audio and its transcript)"


def _ms(where: str, value: object) -> int:
    if type(value) is not int or value < 0:
        fail(where, f"expected whole milliseconds, 0 or more, {got(value)}")
    return value


def _words(value: Mapping[str, Any]) -> list[Check]:
    out: list[Check] = []
    low = high = None
    if "min_words" in value:
        low = value["min_words"]
        if type(low) is not int or low < 1:
            fail(f"{_WHERE}.min_words", f"expected a whole number, 1 or more, {got(low)}")
        out.append(MinWords(low))
    if "max_words" in value:
        high = value["max_words"]
        if type(high) is not int or high < 0:
            fail(f"{_WHERE}.max_words", f"expected a whole number, 0 or more, {got(high)}")
        if low is not None and high < low:
            fail(f"{_WHERE}.max_words", f"{high} is less than min_words ({low}): nothing can pass")
        out.append(MaxWords(high))
    return out
