"""A long file's transcript from its segments: text, times and usage, pure functions.

Segments are :class:`~rtbatch.output.checkpoint.SegmentRecord` (sample positions at the
session format's rate); results carry them in the source file's milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtbatch.output.checkpoint import SegmentRecord


def join_transcript(segments: Iterable[SegmentRecord]) -> str:
    """The whole transcript: the segments' texts in order, one space apart."""
    return " ".join(text for s in segments if (text := s.text.strip()))


def segment_json(segment: SegmentRecord, rate: int) -> dict[str, Any]:
    """A segment as a result carries it, in the source file's milliseconds."""
    return {
        "start_ms": segment.start_sample * 1000 // rate,
        "end_ms": segment.end_sample * 1000 // rate,
        "text": segment.text.strip(),
    }


def sum_usage(usages: Iterable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Usage summed over segments: tokens (with their details), or billed seconds."""
    total: dict[str, Any] | None = None
    for usage in usages:
        if not usage:
            continue
        if total is None:
            total = {"type": usage.get("type", "tokens")}
        _add_counts(total, usage)
    return total


def _add_counts(total: dict[str, Any], usage: Mapping[str, Any]) -> None:
    for key, value in usage.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            _add_counts(total.setdefault(key, {}), value)


def clock(ms: int) -> str:
    seconds, _ = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
