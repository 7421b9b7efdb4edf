"""The click parameter types of the command line: bounded numbers, durations, format lists.

Each converts what a user types into the value :mod:`rtbatch.config` takes and
refuses, with click's usage error (exit 2), what the config would refuse, so a
bad option names itself before anything starts.
"""

from __future__ import annotations

import re
from typing import Any

import click

from rtbatch.config import POSITIVE, Bounds
from rtbatch.output.formats import parse_formats

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(value: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h30m`` → seconds.

    Raises:
        ValueError: not a duration; the message shows the forms expected.
    """
    match = _DURATION.match(value.strip())
    if not value.strip() or not match or not any(match.groups()):
        raise ValueError(f"expected a duration like 90s, 15m or 1h30m, got {value!r}")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s


class Bounded(click.ParamType[float]):
    """A number in the range the config checks (:class:`~rtbatch.config.Bounds`)."""

    def __init__(self, kind: type[int] | type[float], bounds: Bounds) -> None:
        self.kind, self.bounds = kind, bounds
        self.name = f"{kind.__name__.upper()} {bounds}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"expected {self.kind.__name__}, got {value!r}", param, ctx)
        if (problem := self.bounds.problem(number)) is not None:
            self.fail(problem, param, ctx)
        return number


class Duration(click.ParamType[float]):
    """A duration (``90``, ``90s``, ``15m``, ``1h30m``) in the config's range and unit.

    Args:
        bounds: The range, in the config's unit.
        unit_s: Seconds per unit of the config's field (1/1000 for a ``_ms`` field).
    """

    name = "DURATION"

    def __init__(self, bounds: Bounds = POSITIVE, *, unit_s: float = 1.0) -> None:
        self.bounds, self.unit_s = bounds, unit_s

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):  # already converted (a library caller's value)
            return value
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        amount = seconds / self.unit_s
        if self.unit_s != 1.0:
            amount = round(amount)
        if (problem := self.bounds.problem(amount)) is not None:
            self.fail(problem if self.unit_s == 1.0 else f"too short ({problem} ms)", param, ctx)
        return amount


class Formats(click.ParamType[tuple[str, ...]]):
    """A ``--format`` list, read by :func:`rtbatch.output.formats.parse_formats`."""

    name = "LIST"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_formats(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
