"""What a job cost: its usage at the catalogue's prices, in exact nano-dollars.

Cost is computed once per job, when its line is written (:func:`outcome_cost`),
from the usage the service reported and the catalogue's prices
(:func:`rtbatch.models.cost`); the summary adds up the lines' figures, so its
total is the sum of the file's ``cost_usd``. Amounts are kept as whole
nano-dollars (:data:`COST_DECIMALS` places): a line's ``cost_usd`` is exact at
that precision, and sums of a million of them stay exact too, where adding
floats would drift.
"""

from __future__ import annotations

import math
from typing import Any

from rtbatch.models import CostBreakdown, cost, lookup

#: Decimal places of USD amounts: a billionth of a dollar, far below one token's price
#: (the cheapest, $0.06 per million, is 60 of them), so rounding never shows in a total.
COST_DECIMALS = 9
NANOS_PER_USD: int = 10**COST_DECIMALS
#: The cost buckets of the summary, in its order; ``duration`` is per-minute billing.
MODALITIES = ("text", "audio", "image", "duration")


def cost_parts(
    model_id: str | None, usage: dict[str, Any] | None, audio_s: float | None = None
) -> tuple[int, int, int, int] | None:
    """What one job cost, in nano-dollars per modality (text, audio, image, duration).

    Args:
        model_id: the model that did the work.
        usage: the job's ``usage`` as the service reported it.
        audio_s: seconds of audio sent, for a duration-billed model whose usage
            does not say.

    Returns:
        The four amounts, or None when the catalogue has no prices for the model
        or the usage cannot be priced.
    """
    row = lookup(model_id) if model_id else None
    breakdown = cost(row, usage, audio_s=audio_s) if row is not None else None
    return None if breakdown is None else _nanos(breakdown)


def _nanos(breakdown: CostBreakdown) -> tuple[int, int, int, int]:
    parts = (breakdown.text, breakdown.audio, breakdown.image, breakdown.by_duration)
    t, a, i, d = (round(p * NANOS_PER_USD) for p in parts)
    return t, a, i, d


def outcome_cost(
    model_id: str | None, usage: dict[str, Any] | None, audio_s: float | None = None
) -> float | None:
    """A result line's ``cost_usd``: the job's usage at the catalogue's prices.

    Args:
        model_id: the model that did the work (the run's realtime model for text
            and respond jobs, the transcription model for transcribe jobs).
        usage: the job's ``usage`` as the service reported it.
        audio_s: seconds of audio sent, for a duration-billed model whose usage
            does not say.

    Returns:
        USD rounded to :data:`COST_DECIMALS` places, or None when the model has no
        prices in the catalogue or there is no usage to price.
    """
    parts = cost_parts(model_id, usage, audio_s)
    return None if parts is None else sum(parts) / NANOS_PER_USD


def reply_cost(
    model_id: str | None, usage: dict[str, Any] | None, output: dict[str, Any]
) -> float | None:
    """A finished try's ``cost_usd``: its turns' (:func:`priced_turns`) for a conversation,
    its rounds' (:func:`priced_rounds`) for a tool job, else its usage's
    (:func:`outcome_cost`)."""
    if "turns" in output:
        return priced_turns(model_id, output["turns"])
    if "rounds" in output:
        return priced_rounds(model_id, output)
    return outcome_cost(model_id, usage)


def priced_turns(model_id: str | None, turns: list[dict[str, Any]]) -> float | None:
    """A conversation's cost: each turn priced (its ``cost_usd`` set), summed.

    A turn is priced as a job of its own: its rounds' sum when it ran tool rounds
    (:func:`priced_rounds`), else its usage's, so the turns add up to the line's
    ``cost_usd`` exactly.

    Returns:
        The sum in USD, or None when a turn cannot be priced (its ``cost_usd`` is
        then null too).
    """
    total: int | None = 0
    for turn in turns:
        if "rounds" in turn:
            usd = priced_rounds(model_id, turn)
        else:
            usd = outcome_cost(model_id, turn.get("usage"))
        turn["cost_usd"] = usd
        total = None if usd is None or total is None else total + round(usd * NANOS_PER_USD)
    return None if total is None or not turns else total / NANOS_PER_USD


def priced_rounds(model_id: str | None, output: dict[str, Any]) -> float | None:
    """A tool job's cost: each of ``output["rounds"]`` priced (its ``cost_usd`` set), summed.

    Each round is priced as a job of its own usage, and the job's ``cost_usd`` is
    their sum in whole nano-dollars, so the line's figures add up exactly.

    Returns:
        The sum in USD, or None when a round cannot be priced (then no round is).
    """
    rounds = output.get("rounds") or []
    parts = [cost_parts(model_id, r.get("usage")) for r in rounds]
    if not rounds or any(p is None for p in parts):
        return None
    nanos = [sum(p) for p in parts if p is not None]
    for record, amount in zip(rounds, nanos, strict=True):
        record["cost_usd"] = amount / NANOS_PER_USD
    return sum(nanos) / NANOS_PER_USD


def format_usd(usd: float) -> str:
    """An amount for people: cents for large sums, more places for small ones."""
    if usd == 0:
        return "$0"
    if usd >= 100:
        return f"${usd:,.2f}"
    if usd >= 0.01:
        return f"${usd:.4f}"
    return f"${usd:.6f}"


def to_nanos(usd: float, name: str) -> int:
    """An amount in USD as whole nano-dollars.

    Raises:
        ValueError: naming ``name``, when the amount is negative or not finite.
    """
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"{name}: must be a non-negative amount in USD, got {usd!r}")
    return round(usd * NANOS_PER_USD)
