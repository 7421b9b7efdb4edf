"""``rtbatch compare``'s output: a table and the changed ids for people, JSON for machines."""

from __future__ import annotations

from typing import Any

import orjson

from rtbatch.cost import format_usd
from rtbatch.evals.compare import ASPECTS, Change, Comparison, FileSide
from rtbatch.evals.figures import ResultTotals
from rtbatch.evals.gates import Verdict
from rtbatch.stages import STAGES
from rtbatch.summary import STATUSES

#: The latency figures the text table shows for each stage (the JSON has them all).
SHOWN_FIGURES = ("p50", "p95", "p99")
#: Longest function arguments shown in the text, in characters.
_ARGS_CHARS = 60


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _signed(value: float | None, unit: str, digits: int = 1) -> str:
    if value is None:
        return ""
    space = "" if unit == "%" else " "
    if value == float("inf"):
        return f"+inf{space}{unit}".rstrip()
    return f"{value:+.{digits}f}{space}{unit}".rstrip()


def _rise(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return ""
    if a == 0:
        return "" if b == 0 else "new"
    return _signed((b - a) / a * 100, "%")


def _rows(a: ResultTotals, b: ResultTotals) -> list[tuple[str, str, str, str]]:
    rows = [("lines", str(a.lines), str(b.lines), _signed(b.lines - a.lines, "", 0))]
    for status in STATUSES:
        na, nb = a.counts[status], b.counts[status]
        rows.append((status, str(na), str(nb), _signed(nb - na, "", 0)))
    if a.checked or b.checked:
        drop = None
        if a.pass_rate is not None and b.pass_rate is not None:
            drop = (b.pass_rate - a.pass_rate) * 100
        rows.append(
            (
                "pass rate",
                f"{_pct(a.pass_rate)} ({a.passed}/{a.checked})",
                f"{_pct(b.pass_rate)} ({b.passed}/{b.checked})",
                _signed(drop, "points"),
            )
        )
    for stage in STAGES:
        da, db = a.stage(stage), b.stage(stage)
        if not da["count"] and not db["count"]:
            continue
        for figure in SHOWN_FIGURES:
            va, vb = da[figure], db[figure]
            rows.append(
                (
                    f"{stage} {figure} ms",
                    "-" if va is None else str(va),
                    "-" if vb is None else str(vb),
                    _rise(va, vb),
                )
            )
    ca, cb = a.cost_per_job_usd, b.cost_per_job_usd
    rows.append(
        (
            "cost",
            format_usd(a.cost.total_usd),
            format_usd(b.cost.total_usd),
            "",
        )
    )
    rows.append(
        (
            "cost per job",
            "-" if ca is None else format_usd(ca),
            "-" if cb is None else format_usd(cb),
            _rise(ca, cb),
        )
    )
    wa, wb = a.wer.wer, b.wer.wer
    if wa is not None or wb is not None:
        change = "" if wa is None or wb is None else _signed((wb - wa) * 100, "points", 2)
        rows.append(("corpus WER", _pct(wa), _pct(wb), change))
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        f"{label:<{widths[0]}}  {va:>{widths[1]}}  {vb:>{widths[2]}}  {change}".rstrip()
        for label, va, vb, change in rows
    ]


def _calls(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return "none"
    shown = []
    for call in calls:
        args = orjson.dumps(call["arguments"]).decode()
        if len(args) > _ARGS_CHARS:
            args = args[: _ARGS_CHARS - 1] + "…"
        shown.append(f"{call['name']} {args}")
    return ", ".join(shown)


def _checks(one: dict[str, Any]) -> str:
    if one.get("passed") is None:
        return "no checks"
    if one["passed"]:
        return "passed"
    return f"failed ({', '.join(one['failing_checks'])})"


def _status(one: dict[str, Any]) -> str:
    error = f" ({one['error']})" if one.get("error") else ""
    return f"{one.get('status')}{error}"


def describe(change: Change) -> str:
    """One line for a changed id: each aspect that changed, A → B."""
    parts = []
    a, b = change.a, change.b
    if "status" in change.aspects:
        parts.append(f"status {_status(a)} → {_status(b)}")
    if "checks" in change.aspects:
        parts.append(f"checks {_checks(a)} → {_checks(b)}")
    if "tool_calls" in change.aspects:
        parts.append(f"tool calls {_calls(a['tool_calls'])} → {_calls(b['tool_calls'])}")
    return f"  {change.id}: " + "; ".join(parts)


def _listed(title: str, ids: list[str], listed: int) -> list[str]:
    if not ids:
        return []
    more = f" … and {len(ids) - listed} more (--json lists all)" if len(ids) > listed else ""
    return [f"only in {title}: {len(ids)}: {', '.join(ids[:listed])}{more}"]


def _warnings(side: FileSide, name: str) -> list[str]:
    lines = []
    if (warning := side.unreadable.warning()) is not None:
        lines.append(f"{name}: {warning}")
    if side.duplicates:
        lines.append(f"{name}: {side.duplicates} later line(s) of an id already seen skipped")
    return lines


def render(found: Comparison, verdicts: list[Verdict], *, listed: int) -> str:
    """The comparison for people: figures side by side, changed ids, the gates' verdicts."""
    lines = [f"A: {found.a.path}", f"B: {found.b.path}"]
    lines += _warnings(found.a, "A") + _warnings(found.b, "B")
    rows = [("", "A", "B", "change"), *_rows(found.a.totals, found.b.totals)]
    lines += _table(rows)
    by_aspect = ", ".join(f"{a.replace('_', ' ')} {found.changed(a)}" for a in ASPECTS)
    lines.append(
        f"ids changed: {len(found.changes)} ({by_aspect}); new failures: {found.new_failures}"
    )
    lines += [describe(change) for change in found.changes[:listed]]
    if len(found.changes) > listed:
        lines.append(f"  … and {len(found.changes) - listed} more (--json lists all)")
    lines += _listed("A", found.only_in_a, listed) + _listed("B", found.only_in_b, listed)
    if verdicts:
        lines.append("gates:")
        lines += [f"  {v.render()}" for v in verdicts]
        failed = sum(v.failed for v in verdicts)
        lines.append(f"B regresses past {failed} gate(s)" if failed else "B passes every gate")
    return "\n".join(lines)


def _file(side: FileSide) -> dict[str, Any]:
    return {
        "path": side.path,
        **side.totals.to_dict(),
        "unreadable_lines": side.unreadable.count,
        "duplicate_lines": side.duplicates,
    }


def to_dict(found: Comparison, verdicts: list[Verdict]) -> dict[str, Any]:
    """The comparison for machines: both files' figures, every change, every verdict."""
    return {
        "a": _file(found.a),
        "b": _file(found.b),
        "changes": [change.to_dict() for change in found.changes],
        "changed_by_aspect": {a: found.changed(a) for a in ASPECTS},
        "new_failures": found.new_failures,
        "only_in_a": found.only_in_a,
        "only_in_b": found.only_in_b,
        "gates": [v.to_dict() for v in verdicts],
        "regressed": any(v.failed for v in verdicts),
    }
