"""``rtbatch report RESULTS -o PAGE``: one self-contained HTML page of a result file.

The page is a single file: inline CSS, inline SVG charts (:mod:`rtbatch.evals.charts`),
no script, no font, no image, nothing fetched. Its Content-Security-Policy says so
to the browser (``default-src 'none'``), so a stray external reference would show
as a refused load rather than a silent request; only the ``<audio>`` players load
media, the saved answers, from files beside it (``media-src`` of the page's own
origin).

Sections: the summary; latency histograms by stage with p50/p95/p99 marked, and the
percentiles by model; cost by model; failed jobs and jobs whose checks failed, with
their errors; transcripts with the worst WER; players for the saved answers. The
lists are bounded (:mod:`rtbatch.evals.report_data`). Every text from the file (ids,
errors, transcripts, check details, model names) is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from html import escape
from pathlib import Path
from urllib.parse import quote

from rtbatch.cost import NANOS_PER_USD, format_usd
from rtbatch.evals import charts
from rtbatch.evals.figures import ALL_MODELS
from rtbatch.evals.report_data import ReportData
from rtbatch.latency import PERCENTILES
from rtbatch.stages import STAGES
from rtbatch.summary import STATUSES

_CSP = "default-src 'none'; style-src 'unsafe-inline'; media-src 'self'"

_CSS = """
:root { --ink: #1d2330; --muted: #5d6678; --line: #dfe3ea; --bg: #f6f7f9;
  --accent: #3a6ea5; --bad: #b3261e; --good: #2e7d32; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: var(--bg); }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; color: var(--muted); font-weight: 600; }
.source { color: var(--muted); margin: 0 0 18px; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 12px; }
.card .value { font-size: 22px; font-weight: 650; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
.card.bad .value { color: var(--bad); } .card.good .value { color: var(--good); }
table { border-collapse: collapse; width: 100%; background: #fff;
  border: 1px solid var(--line); font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: pre-wrap; word-break: break-word; max-width: 560px; }
code { font-size: 12px; }
.chart { display: block; background: #fff; border: 1px solid var(--line);
  border-radius: 6px; width: 100%; height: auto; }
.histograms { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr));
  gap: 4px 16px; }
.cost { max-width: 720px; }
.chart .bar { fill: var(--accent); }
.chart .bar:hover { fill: #27507c; }
.chart .axis { stroke: #9aa3b2; stroke-width: 1; }
.chart .mark { stroke: var(--bad); stroke-width: 1; stroke-dasharray: 3 2; }
.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
.chart .mark-label { fill: var(--bad); }
.chart .label, .chart .value { fill: var(--ink); }
.more, .none { color: var(--muted); font-style: italic; margin: 6px 0; }
.note { color: var(--muted); font-size: 13px; }
audio { height: 32px; width: 260px; }
figure { margin: 0; }
"""


def _cards(data: ReportData) -> str:
    totals = data.totals
    cards = [("lines", str(totals.lines), "")]
    for status in STATUSES:
        n = totals.counts[status]
        tone = "bad" if n and status == "failed" else ("good" if status == "completed" else "")
        cards.append((status, str(n), tone))
    if totals.pass_rate is not None:
        tone = "good" if totals.passed == totals.checked else "bad"
        cards.append(("checks passed", f"{totals.pass_rate:.1%}", tone))
    cards.append(("cost", format_usd(totals.cost.total_usd), ""))
    if totals.wer.wer is not None:
        cards.append(("corpus WER", f"{totals.wer.wer:.2%}", ""))
    if totals.tool_calls:
        cards.append(("tool calls", str(sum(totals.tool_calls.values())), ""))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card {tone}"><div class="value">{escape(value)}</div>'
            f'<div class="label">{escape(label)}</div></div>'
            for label, value, tone in cards
        )
        + "</div>"
    )


def _table(
    head: Iterable[str],
    rows: Iterable[Iterable[str]],
    numeric: set[int],
    text: frozenset[int] = frozenset(),
) -> str:
    """A table of escaped cells; ``numeric`` columns right-aligned, ``text`` ones wrapped."""

    def cls(i: int) -> str:
        if i in numeric:
            return ' class="num"'
        return ' class="text"' if i in text else ""

    out = ["<table><thead><tr>"]
    out += [f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row)))
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _figure(value: int | None) -> str:
    return "–" if value is None else str(value)


def _latency(data: ReportData) -> str:
    totals = data.totals
    parts = ["<h2>Latency by stage</h2>"]
    shown = False
    for stage in STAGES:
        counts = totals.latency_all.counts(ALL_MODELS, stage)
        if not counts:
            continue
        shown = True
        figures = totals.stage(stage)
        marks = {f"p{p}": figures[f"p{p}"] for p in (50, 95, 99)}
        title = f"{stage}: {figures['count']} job(s), ms from the request"
        chart = charts.histogram(f"latency histogram of {stage}", counts, marks)
        parts.append(f"<figure><h3>{escape(title)}</h3>{chart}</figure>")
    if not shown:
        return parts[0] + '<p class="none">No line records latency.</p>'
    parts.insert(1, '<div class="histograms">')
    parts.append("</div>")
    head = ["model", "stage", "count", *(f"p{p}" for p in PERCENTILES), "max"]
    rows = [
        [
            model,
            stage,
            str(d["count"]),
            *(_figure(d[f"p{p}"]) for p in PERCENTILES),
            _figure(d["max"]),
        ]
        for model, stages in totals.latency.to_dict().items()
        for stage, d in stages.items()
    ]
    parts.append("<h3>Percentiles by model (ms, nearest rank)</h3>")
    parts.append(_table(head, rows, set(range(2, len(head)))))
    return "".join(parts)


def _cost(data: ReportData) -> str:
    cost = data.totals.cost
    parts = ["<h2>Cost by model</h2>"]
    if not cost.by_model:
        return parts[0] + '<p class="none">No line has a cost.</p>'
    by_model = {name: nanos / NANOS_PER_USD for name, (_, nanos) in sorted(cost.by_model.items())}
    parts.append(f'<div class="cost">{charts.bars("cost by model, USD", by_model, "$")}</div>')
    rows = [
        [name, str(jobs), format_usd(nanos / NANOS_PER_USD)]
        for name, (jobs, nanos) in sorted(cost.by_model.items())
    ]
    parts.append(_table(["model", "jobs", "USD"], rows, {1, 2}))
    if cost.unknown_jobs:
        parts.append(
            f'<p class="note">{cost.unknown_jobs} job(s) of unknown cost (no prices for '
            f"{escape(', '.join(sorted(cost.unpriced_models)))}).</p>"
        )
    return "".join(parts)


def _more(more: int, noun: str) -> str:
    if not more:
        return ""
    return f'<p class="more">… and {more} more {escape(noun)} not listed.</p>'


def _problems(data: ReportData) -> str:
    parts = [f"<h2>Failed and incomplete jobs ({data.failed.total})</h2>"]
    if data.failed.items:
        rows = [[p.id, p.kind, p.status, p.error, p.message] for p in data.failed.items]
        head = ["id", "kind", "status", "error", "message"]
        parts.append(_table(head, rows, set(), frozenset({4})))
        parts.append(_more(data.failed.more, "jobs"))
    else:
        parts.append('<p class="none">Every job completed.</p>')
    parts.append(f"<h2>Jobs whose checks failed ({data.failing_checks.total})</h2>")
    failed_by = data.totals.failed_checks
    if data.failing_checks.items:
        rows = [
            [p.id, p.status, "\n".join(f"{check}: {detail}" for check, detail in p.failing)]
            for p in data.failing_checks.items
        ]
        parts.append(_table(["id", "status", "failing checks"], rows, set(), frozenset({2})))
        parts.append(_more(data.failing_checks.more, "jobs"))
        summary = ", ".join(f"{name} {n}" for name, n in failed_by.most_common())
        parts.append(f'<p class="note">Failures by check: {escape(summary)}.</p>')
    elif data.totals.checked:
        parts.append(f'<p class="none">All {data.totals.checked} checked jobs passed.</p>')
    else:
        parts.append('<p class="none">No line has checks.</p>')
    return "".join(parts)


def _transcripts(data: ReportData) -> str:
    wer = data.totals.wer
    if not wer.jobs and not wer.unscored:
        return ""
    parts = ["<h2>Transcripts and word error rate</h2>"]
    figure = "n/a" if wer.wer is None else f"{wer.wer:.2%}"
    parts.append(
        f'<p class="note">Corpus WER {escape(figure)}: {wer.errors} error(s) over '
        f"{wer.reference_words} reference words in {wer.jobs} transcript(s) "
        f"({wer.substitutions} substituted, {wer.deletions} deleted, {wer.insertions} "
        f"inserted); {wer.unscored} job(s) with a reference had no transcript. "
        f"The {len(data.worst)} worst:</p>"
    )
    rows = [
        [
            s.id,
            f"{s.wer:.2%}",
            str(s.counts.get("substitutions")),
            str(s.counts.get("deletions")),
            str(s.counts.get("insertions")),
            str(s.counts.get("reference_words")),
            s.transcript,
        ]
        for s in data.worst
    ]
    head = ["id", "WER", "sub", "del", "ins", "ref words", "transcript"]
    return "".join(parts) + _table(head, rows, {1, 2, 3, 4, 5}, frozenset({6}))


def audio_src(audio_path: Path, page: Path) -> str:
    """The player's ``src``: the answer's file relative to the page, URL-quoted.

    A relative ``audio_path`` is as the run wrote it, relative to the directory it
    ran in; the report takes it from the working directory.
    """
    target = os.path.abspath(audio_path)
    relative = os.path.relpath(target, os.path.dirname(os.path.abspath(page)))
    return quote(Path(relative).as_posix())


def _answers(data: ReportData, page: Path) -> str:
    if not data.answers.items:
        return ""
    parts = [f"<h2>Saved answers ({data.answers.total})</h2>", "<table><thead><tr>"]
    parts.append("<th>id</th><th>answer</th><th>transcript</th></tr></thead><tbody>")
    for answer in data.answers.items:
        src = escape(audio_src(answer.audio_path, page))
        parts.append(
            f"<tr><td>{escape(answer.id)}</td>"
            f'<td><audio controls preload="metadata" src="{src}"></audio></td>'
            f'<td class="text">{escape(answer.transcript)}</td></tr>'
        )
    parts.append("</tbody></table>")
    parts.append(_more(data.answers.more, "answers"))
    return "".join(parts)


def page(data: ReportData, page_path: Path) -> str:
    """The whole page for a result file's data, to be written at ``page_path``."""
    warning = data.unreadable.warning()
    notes = f'<p class="note">{escape(warning)}</p>' if warning else ""
    title = f"rtbatch report: {Path(data.path).name}"
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>",
            f"<h1>{escape(title)}</h1>",
            f'<p class="source">{escape(os.path.abspath(data.path))}</p>',
            notes,
            _cards(data),
            _latency(data),
            _cost(data),
            _problems(data),
            _transcripts(data),
            _answers(data, page_path),
            "</main></body></html>\n",
        ]
    )
