"""A long file's transcript from its segments: text, times and usage, pure functions.

Segments are :class:`SegmentRecord` (sample positions at the
session format's rate); results carry them in the source file's milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One finished segment of a job: where it lies in the file, and its transcript."""

    index: int
    start_sample: int
    end_sample: int
    text: str
    usage: dict[str, Any] | None = None


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


def transcript_output(
    segments: Sequence[SegmentRecord], rate: int, *, reason: str | None = None
) -> dict[str, Any]:
    """A transcribe job's ``output`` from its segments: the whole text and each segment.

    Args:
        segments: the job's segments, in order.
        rate: their sample positions' rate, in Hz.
        reason: why the transcript is incomplete (``output.reason``), if it is.
    """
    output: dict[str, Any] = {
        "transcript": join_transcript(segments),
        "segments": [segment_json(s, rate) for s in segments],
    }
    if reason is not None:
        output["reason"] = reason
    return output


_MS_PER_HOUR = 3_600_000
_MS_PER_MINUTE = 60_000
_MS_PER_SECOND = 1000


def clock(ms: int, millis_separator: str | None = None) -> str:
    """A time in the file as ``HH:MM:SS``, or ``HH:MM:SS`` + separator + ``mmm``.

    Hours grow past two digits if need be. SubRip writes ``,`` before the
    milliseconds, WebVTT ``.``; messages naming a segment leave them out.
    """
    hours, rest = divmod(ms, _MS_PER_HOUR)
    minutes, rest = divmod(rest, _MS_PER_MINUTE)
    seconds, millis = divmod(rest, _MS_PER_SECOND)
    hms = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return hms if millis_separator is None else f"{hms}{millis_separator}{millis:03d}"
