"""A job's checks evaluated against its answer: pure, no I/O, nothing read twice.

The checks are the :data:`~rtbatch.jobs.model.Check` objects a job's ``expect``
was read into (:mod:`rtbatch.jobs.expect`); the answer is an :class:`Answer`, the
few things they look at, so that the same evaluator serves a job's line
(:func:`answer_of`) and could serve one turn of a conversation.

The rules (``docs/jobs.md``, "Expectations"):

* the *text* is the answer's ``output.text`` when it has one, else its
  ``output.transcript`` (an audio answer, a transcription), else empty;
* ``contains`` / ``not_contains`` compare substrings exactly, or both sides
  case-folded (:meth:`str.casefold`) with ``ignore_case``; ``regex`` is
  :func:`re.search`, anywhere in the text;
* words are runs of non-whitespace characters (:meth:`str.split`);
* ``tool_called`` passes when some call, in any round, has the function's name
  and arguments that contain the expected ones (objects as subsets, as
  ``tool_outputs`` cases match: :func:`rtbatch.tool_rounds.matches`);
* a bound passes at its value: ``max_latency_ms`` 800 passes 800 ms, and a
  stage the answer never reached fails; an unknown cost fails ``max_cost_usd``.

Each check gives ``{"check", "passed", "detail"}``; the detail says what was
seen, passed or not. A job that did not answer gets each check ``not run``
(``passed`` null, :func:`not_run`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import orjson

from rtbatch.cost import format_usd
from rtbatch.jobs import model as spec
from rtbatch.jobs.expect import TOTAL
from rtbatch.jobs.model import Check
from rtbatch.tool_rounds import matches

__all__ = ["Answer", "CheckResult", "all_passed", "answer_of", "evaluate", "not_run"]

#: Characters of the text or of a value a detail quotes.
_SNIPPET_CHARS = 60


class CheckResult(TypedDict):
    """One check's entry in a line's ``checks``."""

    check: str
    #: None: not run (the job did not answer).
    passed: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What checks look at.

    Attributes:
        text: the text checked (see the module's rules).
        tool_calls: the calls made, each with ``name`` and ``arguments``.
        latency: the stages reached, in ms, ``total`` among them when known.
        cost_usd: what the answer cost, None when unknown.
    """

    text: str = ""
    tool_calls: Sequence[Mapping[str, Any]] = field(default=(), hash=False)
    latency: Mapping[str, int] = field(default_factory=dict, hash=False)
    cost_usd: float | None = None


def answer_of(
    output: Mapping[str, Any] | None,
    latency: Mapping[str, int] | None,
    latency_ms: int | None,
    cost_usd: float | None,
) -> Answer:
    """The answer a result line records: its output, latency stages, total and cost."""
    output = output or {}
    text = output.get("text")
    if not isinstance(text, str):
        text = output.get("transcript")
    stages = dict(latency or {})
    if latency_ms is not None:
        stages[TOTAL] = latency_ms
    calls = output.get("tool_calls")
    return Answer(
        text=text if isinstance(text, str) else "",
        tool_calls=calls if isinstance(calls, list) else (),
        latency=stages,
        cost_usd=cost_usd,
    )


def evaluate(checks: Sequence[Check], answer: Answer) -> list[CheckResult]:
    """Every check's result, in the order given."""
    return [_result(check, answer) for check in checks]


def not_run(checks: Sequence[Check], reason: str) -> list[CheckResult]:
    """Every check marked not run, for ``reason`` (``the job failed``)."""
    return [{"check": c.name, "passed": None, "detail": f"not run: {reason}"} for c in checks]


def all_passed(results: Sequence[CheckResult]) -> bool:
    """The line's ``passed``: every check ran and passed."""
    return all(r["passed"] is True for r in results)


def _result(check: Check, answer: Answer) -> CheckResult:
    passed, detail = _judge(check, answer)
    return {"check": check.name, "passed": passed, "detail": detail}


def _judge(check: Check, answer: Answer) -> tuple[bool, str]:
    """Whether ``check`` passes, and what was seen."""
    text = answer.text
    match check:
        case spec.Contains(needle, ignore_case) | spec.NotContains(needle, ignore_case):
            at = _find(text, needle, ignore_case)
            case_note = " (ignoring case)" if ignore_case else ""
            if at < 0:
                seen = f"{_quote(needle)} not in {_snippet(text)}{case_note}"
            else:
                seen = f"{_quote(needle)} at character {at}{case_note}"
            return (at >= 0) == isinstance(check, spec.Contains), seen
        case spec.Regex(pattern):
            found = pattern.search(text)
            if found is None:
                return False, f"/{pattern.pattern}/ matches nothing in {_snippet(text)}"
            return True, f"/{pattern.pattern}/ matched {_quote(found.group())}"
        case spec.ToolCalled(function, arguments):
            return _called(answer.tool_calls, function, arguments)
        case spec.NoToolCall(function):
            made = [str(c.get("name")) for c in answer.tool_calls]
            hits = made if function is None else [n for n in made if n == function]
            if hits:
                return False, f"called {', '.join(hits)}"
            return True, "no call" if function is None else f"{function} not called"
        case spec.MaxLatency(stage, ms):
            value = answer.latency.get(stage)
            if value is None:
                return False, f"{stage} not reached"
            return value <= ms, f"{stage} {value} ms {'<=' if value <= ms else '>'} {ms} ms"
        case spec.MaxCost(usd):
            if answer.cost_usd is None:
                return False, "cost unknown (no prices for the model, or no usage)"
            ok = answer.cost_usd <= usd
            return ok, f"{format_usd(answer.cost_usd)} {'<=' if ok else '>'} {format_usd(usd)}"
        case spec.MinWords(count):
            words = len(text.split())
            return words >= count, f"{words} words {'>=' if words >= count else '<'} {count}"
        case spec.MaxWords(count):
            words = len(text.split())
            return words <= count, f"{words} words {'<=' if words <= count else '>'} {count}"
    raise AssertionError(f"unknown check {check!r}")


def _find(text: str, needle: str, ignore_case: bool) -> int:
    """Where ``needle`` first is in ``text`` (-1: nowhere); case-folded both sides if asked.

    Case folding may change lengths (ß → ss), so the index is the folded text's.
    """
    if ignore_case:
        return text.casefold().find(needle.casefold())
    return text.find(needle)


def _called(
    calls: Sequence[Mapping[str, Any]], function: str, arguments: Mapping[str, Any] | None
) -> tuple[bool, str]:
    named = [c for c in calls if c.get("name") == function]
    if not named:
        made = ", ".join(str(c.get("name")) for c in calls) or "none"
        return False, f"{function} not called (calls: {made})"
    for call in named:
        if arguments is None or matches(arguments, call.get("arguments")):
            return True, f"{function} called in round {call.get('round')}"
    seen = "; ".join(_json(c.get("arguments")) for c in named)
    return False, f"{function} called, never with {_json(arguments)} (arguments: {seen})"


def _json(value: object) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def _quote(text: str) -> str:
    return repr(text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…")


def _snippet(text: str) -> str:
    return "the text " + _quote(text) if text else "an empty text"
