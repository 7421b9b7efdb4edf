"""The model catalogue, looked up: ids, aliases and snapshots, kinds, a usage's cost.

The single source for job validation, cost, shutdown warnings and the emulator's
per-model rules; nothing else in rtbatch lists models. The rows themselves, with
their sources, are in :mod:`rtbatch.catalogue`; their names are re-exported here,
so that callers read the catalogue through one module.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rtbatch.catalogue import (
    ASSISTANT_AUDIO_TOKENS_PER_S,
    CATALOGUE,
    MESSAGE_OVERHEAD_TOKENS,
    NOISE_REDUCTION_TYPES,
    PRICES_AS_OF,
    SAVED_PROMPTS_SHUTDOWN,
    USER_AUDIO_TOKENS_PER_S,
    DialectName,
    Lifecycle,
    MinutePrice,
    Model,
    ModelKind,
    Param,
    Prices,
    TokenPrices,
)

__all__ = [
    "ASSISTANT_AUDIO_TOKENS_PER_S",
    "CATALOGUE",
    "MESSAGE_OVERHEAD_TOKENS",
    "NOISE_REDUCTION_TYPES",
    "PRICES_AS_OF",
    "SAVED_PROMPTS_SHUTDOWN",
    "USER_AUDIO_TOKENS_PER_S",
    "CostBreakdown",
    "DialectName",
    "Lifecycle",
    "MinutePrice",
    "Model",
    "ModelKind",
    "Param",
    "Prices",
    "TokenPrices",
    "alias_of",
    "cost",
    "lifecycle_text",
    "lookup",
    "markdown_table",
    "models_of",
    "resolve",
    "same_model",
]

_BY_NAME: dict[str, Model] = {m.id: m for m in CATALOGUE}


def lookup(name: str) -> Model | None:
    """The catalogue row for a model id, or None when the catalogue does not know it."""
    return _BY_NAME.get(name)


def resolve(name: str) -> str:
    """The snapshot an alias stands for (``gpt-realtime`` → ``gpt-realtime-2025-08-28``).

    An id that is not an alias, or not in the catalogue, is returned unchanged.
    """
    model = _BY_NAME.get(name)
    return model.snapshot if model is not None and model.snapshot else name


#: A dated snapshot id: its alias, then ``-YYYY-MM-DD`` (OpenAI's naming of snapshots).
_SNAPSHOT_ID = re.compile(r"^(?P<alias>.+)-\d{4}-\d{2}-\d{2}$")


def alias_of(name: str) -> str | None:
    """The alias a dated snapshot was published under, when the catalogue lists that alias.

    An alias points at one snapshot at a time (its row's ``snapshot``), but each of its
    dated snapshots was published under it: openai-node's README connects with
    ``gpt-4o-realtime-preview-2024-12-17`` and names ``gpt-4o-realtime-preview`` in its
    ``session.update`` [DOC openai-node README; model pages list the snapshots].

    Returns:
        ``gpt-4o-realtime-preview`` for ``gpt-4o-realtime-preview-2024-12-17``; None for
        an alias, an undated id, or an alias the catalogue does not know.
    """
    match = _SNAPSHOT_ID.match(name)
    if match is None or match["alias"] not in _BY_NAME:
        return None
    return match["alias"]


def same_model(a: str, b: str) -> bool:
    """Whether two ids name the same model (equal, or one an alias of the other).

    An alias matches the snapshot it resolves to and every snapshot published under it
    (:func:`alias_of`); two different snapshots never match.
    """
    return resolve(a) == resolve(b) or alias_of(a) == b or alias_of(b) == a


def models_of(kind: ModelKind) -> tuple[Model, ...]:
    """Every row of one kind, in catalogue order."""
    return tuple(m for m in CATALOGUE if m.kind == kind)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """A cost in USD, split by modality (text, audio, image) for the summary."""

    text: float = 0.0
    audio: float = 0.0
    image: float = 0.0
    by_duration: float = 0.0

    @property
    def total(self) -> float:
        """All modalities together."""
        return self.text + self.audio + self.image + self.by_duration


def _int(mapping: Mapping[str, Any], key: str) -> int:
    value = mapping.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def cost(
    model: Model, usage: Mapping[str, Any] | None, *, audio_s: float | None = None
) -> CostBreakdown | None:
    """What one response or transcription cost, from its ``usage`` and the row's prices.

    Token usage: uncached input at the input price, cached input at the cached price,
    output at the output price, per modality. Duration-billed models: the usage's
    ``seconds`` (``{"type": "duration"}``), else ``audio_s`` (the audio sent), at the
    per-minute price.

    Args:
        model: the catalogue row of the model that did the work.
        usage: the ``usage`` object as the service reported it.
        audio_s: seconds of input audio, for duration billing when usage lacks them.

    Returns:
        The cost, or None when the row has no prices or the usage cannot be priced.
    """
    prices = model.prices
    if prices is None:
        return None
    if isinstance(prices, MinutePrice):
        seconds: float | None = None
        if usage and usage.get("type") == "duration":
            value = usage.get("seconds")
            seconds = float(value) if isinstance(value, int | float) else None
        if seconds is None:
            seconds = audio_s
        if seconds is None:
            return None
        return CostBreakdown(by_duration=seconds / 60.0 * prices.usd_per_minute)
    if not usage or usage.get("type") == "duration":
        return None
    inp = usage.get("input_token_details") or {}
    out = usage.get("output_token_details") or {}
    cached = inp.get("cached_tokens_details") or {}
    text_in, audio_in, image_in = (
        _int(inp, k) for k in ("text_tokens", "audio_tokens", "image_tokens")
    )
    if not inp:  # no details: all input counted as text
        text_in = _int(usage, "input_tokens")
    c_text, c_audio, c_image = (
        _int(cached, k) for k in ("text_tokens", "audio_tokens", "image_tokens")
    )
    if not cached and _int(inp, "cached_tokens"):
        c_text = min(_int(inp, "cached_tokens"), text_in)  # undivided: cheaper text first
    text_out, audio_out = _int(out, "text_tokens"), _int(out, "audio_tokens")
    if not out:
        text_out = _int(usage, "output_tokens")
    per = 1e-6
    return CostBreakdown(
        text=per
        * (
            (text_in - c_text) * prices.text_in
            + c_text * prices.text_cached
            + text_out * prices.text_out
        ),
        audio=per
        * (
            (audio_in - c_audio) * prices.audio_in
            + c_audio * prices.audio_cached
            + audio_out * prices.audio_out
        ),
        image=per * ((image_in - c_image) * prices.image_in + c_image * prices.image_cached),
    )


def markdown_table(today: dt.date) -> str:
    """The catalogue as the README shows it (generated, never copied by hand)."""

    def usd(value: float) -> str:
        return f"{value:g}"

    rows = [
        "| model | kind | context / max output | prices (USD per 1M: text in/cached/out · "
        "audio in/cached/out; or per minute) | lifecycle |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in CATALOGUE:
        limits = (
            f"{m.context_tokens:,} / {m.max_output_tokens:,}"
            if m.context_tokens and m.max_output_tokens
            else "?"
        )
        p = m.prices
        if isinstance(p, MinutePrice):
            price = f"${usd(p.usd_per_minute)}/min"
        elif isinstance(p, TokenPrices):
            price = (
                f"{usd(p.text_in)}/{usd(p.text_cached)}/{usd(p.text_out)} · "
                f"{usd(p.audio_in)}/{usd(p.audio_cached)}/{usd(p.audio_out)}"
            )
        else:
            price = "unknown"
        rows.append(f"| `{m.id}` | {m.kind} | {limits} | {price} | {lifecycle_text(m, today)} |")
    return "\n".join(rows)


def lifecycle_text(m: Model, today: dt.date) -> str:
    """``current``, ``shuts down DATE → REPLACEMENT`` or ``shut down → REPLACEMENT``."""
    state = m.lifecycle(today)
    if state == "deprecated" and m.shutdown is not None:
        return f"shuts down {m.shutdown.isoformat()} → {m.replacement or '?'}"
    if state == "shut_down":
        return f"shut down → {m.replacement or '?'}"
    return "current"


if __name__ == "__main__":
    print(markdown_table(dt.date.fromisoformat(PRICES_AS_OF)))
