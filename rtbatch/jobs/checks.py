"""The vocabulary of a job line's checks: the problem raised, and how values are quoted.

Shared by :mod:`~rtbatch.jobs.fields` (a line's fields) and
:mod:`~rtbatch.jobs.tools` (its function calling), so that every message reads alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import orjson

_T = TypeVar("_T", bound=str)


class Invalid(Exception):
    """A line's first problem; caught by the reader and turned into a JobProblem."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message


def fail(field: str | None, message: str) -> NoReturn:
    """Stop checking the line: raise its problem."""
    raise Invalid(field, message)


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``; did you mean 'closest'?`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {quote(close[0])}?" if close else ""


def check_known(obj: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    """Refuse the first key of ``obj`` not in ``known``, suggesting the closest."""
    for key in obj:
        if key not in known:
            hint = did_you_mean(key, known)
            fail(f"{prefix}{key}", f"unknown field{hint} (expected one of: {', '.join(known)})")


def string(name: str, value: object) -> str:
    """``value`` when it is a string."""
    if not isinstance(value, str):
        fail(name, f"expected a string, {got(value)}")
    return value


def nonempty_str(name: str, value: object) -> str:
    """``value`` when it is a non-empty string."""
    if not isinstance(value, str) or not value:
        fail(name, f"expected a non-empty string, {got(value)}")
    return value


def audio_path(name: str, value: object, base: Path) -> Path:
    """An audio file's path, ``base`` / ``value``, when ``value`` can name a file."""
    text = nonempty_str(name, value)
    if "\x00" in text:
        fail(name, "path contains a NUL character")
    return base / text


def one_of(name: str, value: object, choices: tuple[_T, ...]) -> _T:
    """``value`` when it is one of ``choices``."""
    for choice in choices:
        if isinstance(value, str) and value == choice:
            return choice
    fail(name, f"expected one of {', '.join(choices)}, {got(value)}")


# --- message text -----------------------------------------------------------------------------

_SNIPPET_CHARS = 40


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def got(value: object) -> str:
    """``got 12 (integer)``: the offending value, shortened, and its JSON type."""
    if value == "":
        return "got an empty string"
    kind = json_type(value)
    if value is None:
        return "got null"
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested too deeply to print
        return f"got {kind}"
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return f"got {text} ({kind})"


def quote(text: str) -> str:
    """``'text'``, shortened to :data:`_SNIPPET_CHARS` characters."""
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return f"'{text}'"
