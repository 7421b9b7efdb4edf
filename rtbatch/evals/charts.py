"""Inline SVG charts for the report: a latency histogram and a bar per model's cost.

Pure functions from figures to markup; every text they place is escaped. A
histogram's bars are a round number of milliseconds wide (1, 2 or 5 times a power
of ten), chosen so that at most :data:`~rtbatch.defaults.REPORT_HISTOGRAM_BARS`
cover the values, and are computed from value counts (:mod:`rtbatch.latency`),
never from the values one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from rtbatch.defaults import REPORT_HISTOGRAM_BARS

_WIDTH, _HEIGHT = 640, 180
_LEFT, _BOTTOM, _TOP = 48, 28, 28


def bar_width(low: int, high: int, bars: int = REPORT_HISTOGRAM_BARS) -> int:
    """The smallest round width (1, 2, 5 × 10ⁿ ms) whose bars over ``low..high`` number ``bars``
    at most."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            width = step * magnitude
            if high // width - low // width + 1 <= bars:
                return width
        magnitude *= 10


def bins(
    counts: Mapping[int, int], bars: int = REPORT_HISTOGRAM_BARS
) -> list[tuple[int, int, int]]:
    """``(start_ms, end_ms, count)`` of each bar, empty bars included, from value counts."""
    if not counts:
        return []
    low, high = min(counts), max(counts)
    width = bar_width(low, high, bars)
    first = low // width
    found = [0] * (high // width - first + 1)
    for value, count in counts.items():
        found[value // width - first] += count
    return [((first + i) * width, (first + i + 1) * width, n) for i, n in enumerate(found)]


def histogram(title: str, counts: Mapping[int, int], marks: Mapping[str, int | None]) -> str:
    """An SVG histogram of latency values, with a line at each named mark (p50, p95…)."""
    found = bins(counts)
    if not found:
        return ""
    plot_w, plot_h = _WIDTH - _LEFT - 8, _HEIGHT - _BOTTOM - _TOP
    tallest = max(n for _, _, n in found)
    start, end = found[0][0], found[-1][1]
    scale = plot_w / (end - start)
    parts = [
        f'<svg class="chart histogram" role="img" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" '
        f'y2="{_TOP + plot_h}"/>',
    ]
    for low, high, n in found:
        x = _LEFT + (low - start) * scale
        h = plot_h * n / tallest
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{_TOP + plot_h - h:.1f}" '
            f'width="{max(scale * (high - low) - 1, 1):.1f}" height="{h:.1f}">'
            f"<title>{low}–{high} ms: {n} job(s)</title></rect>"
        )
    # Marks of equal value share one label ("p95 = p99 9 ms"); labels sit above the
    # plot on alternate rows, so that marks one bar apart stay readable, and turn
    # leftwards near the right edge.
    merged: dict[int, list[str]] = {}
    for name, value in marks.items():
        if value is not None:
            merged.setdefault(value, []).append(name)
    for row, (value, names) in enumerate(merged.items()):
        x = _LEFT + (value + 0.5 - start) * scale
        top = _TOP - 4 - 10 * (row % 2)
        right = x > _WIDTH - 100
        label = escape(f"{' = '.join(names)} {value} ms")
        parts.append(
            f'<line class="mark" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{_TOP + plot_h}"/>'
            f'<text class="mark-label" x="{x - 3 if right else x + 3:.1f}" y="{top - 2}" '
            f'text-anchor="{"end" if right else "start"}">{label}</text>'
        )
    for value, anchor in ((start, "start"), (end, "end")):
        x = _LEFT + (value - start) * scale
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_HEIGHT - 8}" text-anchor="{anchor}">'
            f"{value} ms</text>"
        )
    parts.append(
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + 8}" text-anchor="end">{tallest}</text>'
        f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end">0</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def bars(title: str, values: Mapping[str, float], unit: str) -> str:
    """An SVG of horizontal bars, one per name (the cost of each model)."""
    if not values:
        return ""
    row, label_w = 26, 220
    height = row * len(values) + 8
    largest = max(values.values()) or 1.0
    plot_w = _WIDTH - label_w - 110
    parts = [
        f'<svg class="chart bars" role="img" viewBox="0 0 {_WIDTH} {height}" '
        f'width="{_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (name, value) in enumerate(values.items()):
        y = 4 + i * row
        w = max(plot_w * value / largest, 1)
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}">'
            f"<title>{escape(name)}: {escape(unit)}{value:.6f}</title></rect>"
            f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + 17}">'
            f"{escape(unit)}{value:.4f}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
