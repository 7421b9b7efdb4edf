"""The only place that knows the beta and GA wire shapes on the server side.

:func:`dialect_for` hands a connection its :class:`Dialect`; everything else in the
emulator reads sessions, items and responses through it.
"""

from __future__ import annotations

from typing import Literal

from rtbatch.emulator.dialects.base import (
    AudioFormat,
    Dialect,
    Intent,
    JsonObj,
    ResponseParams,
    SessionSettings,
)
from rtbatch.emulator.dialects.beta import BetaDialect
from rtbatch.emulator.dialects.ga import GADialect

__all__ = [
    "AudioFormat",
    "Dialect",
    "Intent",
    "JsonObj",
    "ResponseParams",
    "SessionSettings",
    "dialect_for",
]

_DIALECTS: dict[str, Dialect] = {"ga": GADialect(), "beta": BetaDialect()}


def dialect_for(name: Literal["ga", "beta"]) -> Dialect:
    """The shared, stateless dialect object for ``"ga"`` or ``"beta"``."""
    return _DIALECTS[name]
