"""A small schema language for client events, and the error events it produces.

The real service rejects a malformed client event with one ``error`` event
(``invalid_request_error``) naming the offending ``param`` and echoing the client's
``event_id``; the event changes nothing and the socket stays open. This module checks
a parsed JSON value against a :class:`Spec` tree and returns the first problem as an
:class:`Issue`. It knows nothing about dialects: the shapes live in ``dialects``.

Specs are plain objects checked with ``isinstance`` and dict look-ups (no pydantic at
run time: validation runs for every client event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation failure, ready to become an ``error`` event.

    Attributes:
        code: the service's ``error.code`` (``invalid_value``, ``unknown_parameter`` ...).
        message: the human message, in the service's wording.
        param: dotted path of the offending field (``session.audio.input.format``).
    """

    code: str
    message: str
    param: str | None


def _kind(value: object) -> str:
    """Name a JSON value's type the way the service's messages do."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quote_list(values: Sequence[object]) -> str:
    """Join values the service's way: ``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'``."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def type_issue(path: str, expected: str, value: object) -> Issue:
    """An ``invalid_type`` issue.

    Args:
        path: the field's dotted path.
        expected: what was expected, e.g. ``"a string"``.
        value: what arrived.

    Returns:
        The issue.
    """
    return Issue(
        "invalid_type",
        f"Invalid type for '{path}': expected {expected}, but got {_kind(value)} instead.",
        path,
    )


def value_issue(path: str, value: object, allowed: Sequence[object]) -> Issue:
    """An ``invalid_value`` issue for a value outside an enumeration.

    Args:
        path: the field's dotted path.
        value: what arrived.
        allowed: the supported values.

    Returns:
        The issue.
    """
    return Issue(
        "invalid_value",
        f"Invalid value: '{value}'. Supported values are: {_quote_list(allowed)}.",
        path,
    )


def missing_issue(path: str) -> Issue:
    """A ``missing_required_parameter`` issue for ``path``."""
    return Issue("missing_required_parameter", f"Missing required parameter: '{path}'.", path)


def unknown_issue(path: str) -> Issue:
    """An ``unknown_parameter`` issue for ``path``."""
    return Issue("unknown_parameter", f"Unknown parameter: '{path}'.", path)


class Spec:
    """Base of all specs: ``check`` returns ``None`` when the value fits."""

    expected = "a value"

    def check(self, value: object, path: str) -> Issue | None:
        """Check ``value`` found at ``path``.

        Args:
            value: the parsed JSON value.
            path: its dotted path, used in messages.

        Returns:
            The first issue found, or ``None``.
        """
        raise NotImplementedError


class AnyValue(Spec):
    """Any JSON value (free-form objects such as JSON-schema ``parameters``)."""

    def check(self, value: object, path: str) -> Issue | None:
        return None


class Str(Spec):
    """A string, optionally bounded in length."""

    expected = "a string"

    def __init__(self, max_len: int | None = None) -> None:
        self.max_len = max_len

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, str):
            return type_issue(path, self.expected, value)
        if self.max_len is not None and len(value) > self.max_len:
            return Issue(
                "string_above_max_length",
                f"Invalid '{path}': string too long. Expected a string with maximum length "
                f"{self.max_len}, but got a string with length {len(value)} instead.",
                path,
            )
        return None


class Bool(Spec):
    """A JSON boolean."""

    expected = "a boolean"

    def check(self, value: object, path: str) -> Issue | None:
        return None if isinstance(value, bool) else type_issue(path, self.expected, value)


class Num(Spec):
    """A number (``integer=True``: an integer), optionally within ``[lo, hi]``."""

    def __init__(
        self, lo: float | None = None, hi: float | None = None, *, integer: bool = False
    ) -> None:
        self.lo, self.hi, self.integer = lo, hi, integer
        self.expected = "an integer" if integer else "a number"

    def check(self, value: object, path: str) -> Issue | None:
        ok = isinstance(value, int) if self.integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            return type_issue(path, self.expected, value)
        assert isinstance(value, int | float)
        noun = "integer" if self.integer else "decimal"
        if self.lo is not None and value < self.lo:
            return Issue(
                "invalid_value",
                f"Invalid '{path}': {noun} below minimum value. Expected a value >= "
                f"{self.lo:g}, but got {value:g} instead.",
                path,
            )
        if self.hi is not None and value > self.hi:
            return Issue(
                "invalid_value",
                f"Invalid '{path}': {noun} above maximum value. Expected a value <= "
                f"{self.hi:g}, but got {value:g} instead.",
                path,
            )
        return None


class Enum(Spec):
    """One of a fixed set of strings (or other scalars)."""

    def __init__(self, *values: object) -> None:
        self.values = values
        self.expected = "a string" if all(isinstance(v, str) for v in values) else "a value"

    def check(self, value: object, path: str) -> Issue | None:
        if isinstance(value, bool) or value not in self.values:
            if isinstance(value, dict | list) or value is None:
                return type_issue(path, self.expected, value)
            return value_issue(path, value, self.values)
        return None


class Nullable(Spec):
    """``null`` or the inner spec."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expected = inner.expected

    def check(self, value: object, path: str) -> Issue | None:
        return None if value is None else self.inner.check(value, path)


class ListOf(Spec):
    """An array whose every element fits ``item``."""

    expected = "an array"

    def __init__(self, item: Spec, max_items: int | None = None) -> None:
        self.item, self.max_items = item, max_items

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, list):
            return type_issue(path, self.expected, value)
        if self.max_items is not None and len(value) > self.max_items:
            return Issue(
                "array_above_max_length",
                f"Invalid '{path}': array too long. Expected an array with maximum length "
                f"{self.max_items}, but got an array with length {len(value)} instead.",
                path,
            )
        for index, element in enumerate(value):
            issue = self.item.check(element, f"{path}[{index}]")
            if issue is not None:
                return issue
        return None


class MapOf(Spec):
    """An object with free keys and values fitting ``value`` (e.g. ``metadata``)."""

    expected = "an object"

    def __init__(self, value: Spec, max_items: int | None = None, max_key: int = 64) -> None:
        self.value, self.max_items, self.max_key = value, max_items, max_key

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, dict):
            return type_issue(path, self.expected, value)
        if self.max_items is not None and len(value) > self.max_items:
            return Issue(
                "object_above_max_properties",
                f"Invalid '{path}': too many properties. Expected an object with at most "
                f"{self.max_items} properties, but got an object with {len(value)} properties "
                "instead.",
                path,
            )
        for key, element in value.items():
            if len(key) > self.max_key:
                return Issue(
                    "invalid_value",
                    f"Invalid '{path}': key '{key[:80]}' is longer than {self.max_key} characters.",
                    f"{path}.{key[:80]}",
                )
            issue = self.value.check(element, f"{path}.{key}")
            if issue is not None:
                return issue
        return None


class Obj(Spec):
    """An object with known fields: unknown fields and missing required ones are issues."""

    expected = "an object"

    def __init__(self, fields: Mapping[str, Spec], required: Sequence[str] = ()) -> None:
        self.fields = dict(fields)
        self.required = tuple(required)

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, dict):
            return type_issue(path, self.expected, value)
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in self.fields:
                return unknown_issue(f"{prefix}{key}")
        for key in self.required:
            if key not in value:
                return missing_issue(f"{prefix}{key}")
        for key, element in value.items():
            issue = self.fields[key].check(element, f"{prefix}{key}")
            if issue is not None:
                return issue
        return None


class Tagged(Spec):
    """An object whose ``tag`` field picks the spec of the rest (a discriminated union).

    Args:
        tag: name of the discriminating field.
        variants: tag value -> spec of the whole object (including the tag field).
        default: variant used when the tag is absent (``None``: the tag is required).
    """

    expected = "an object"

    def __init__(self, tag: str, variants: Mapping[str, Spec], default: str | None = None) -> None:
        self.tag, self.variants, self.default = tag, dict(variants), default

    def check(self, value: object, path: str) -> Issue | None:
        if not isinstance(value, dict):
            return type_issue(path, self.expected, value)
        prefix = f"{path}." if path else ""
        chosen = value.get(self.tag, self.default)
        if chosen is None:
            return missing_issue(f"{prefix}{self.tag}")
        if not isinstance(chosen, str) or chosen not in self.variants:
            if not isinstance(chosen, str):
                return type_issue(f"{prefix}{self.tag}", "a string", chosen)
            return value_issue(f"{prefix}{self.tag}", chosen, list(self.variants))
        return self.variants[chosen].check(value, path)


class OneOf(Spec):
    """The first of several specs that fits; otherwise the issue of the best candidate.

    The candidate chosen for the message is the first whose JSON kind matches (a string
    for a string, an object for an object), so ``"inf"`` vs ``4096`` errors read well.
    """

    def __init__(self, *options: Spec, expected: str) -> None:
        self.options = options
        self.expected = expected

    def check(self, value: object, path: str) -> Issue | None:
        first: Issue | None = None
        for option in self.options:
            issue = option.check(value, path)
            if issue is None:
                return None
            if issue.code != "invalid_type" and first is None:
                first = issue
        return first or type_issue(path, self.expected, value)
