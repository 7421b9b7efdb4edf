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
    "is_known_model",
]

_DIALECTS: dict[str, Dialect] = {"ga": GADialect(), "beta": BetaDialect()}
#: Prefixes accepted on top of the SDK enums, so future model ids work.
_LENIENT_PREFIXES = ("gpt-realtime", "gpt-4o-realtime", "gpt-4o-mini-realtime")


def dialect_for(name: Literal["ga", "beta"]) -> Dialect:
    """The shared, stateless dialect object for ``"ga"`` or ``"beta"``."""
    return _DIALECTS[name]


def is_known_model(name: Literal["ga", "beta"], model: str) -> bool:
    """Whether ``model`` is a realtime model id the dialect accepts.

    Args:
        name: the dialect.
        model: the ``?model=`` value.

    Returns:
        True for the SDK's realtime model enum of that dialect, or ids starting with
        ``gpt-realtime``, ``gpt-4o-realtime`` or ``gpt-4o-mini-realtime``.
    """
    known: tuple[str, ...] = GADialect.models if name == "ga" else BetaDialect.models
    return model in known or model.startswith(_LENIENT_PREFIXES)
