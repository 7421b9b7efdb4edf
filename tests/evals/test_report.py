"""``rtbatch report``: the page's content, its escaping, its bounded lists, its memory.

The page is parsed back with the standard library's HTML parser, so the tests see
the elements a browser would build (tests/evals/test_report_browser.py renders it
in a real one).
"""

from __future__ import annotations

import random
import tracemalloc
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from click.testing import CliRunner

from rtbatch import cli
from rtbatch.commands import report_path
from rtbatch.defaults import REPORT_LISTED
from rtbatch.evals.charts import bar_width, bins
from rtbatch.evals.report import audio_src, page
from rtbatch.evals.report_data import collect
from rtbatch.exitcodes import EXIT_FATAL, EXIT_OK, EXIT_USAGE

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&'


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def _line(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "status": "completed", "kind": "text", "model": "m", **fields}


def test_untrusted_text_is_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids, errors, transcripts, check details and model names become text, never markup."""
    monkeypatch.chdir(tmp_path)
    results = _write(
        tmp_path / "r.jsonl",
        [
            _line(HOSTILE, status="failed", error={"type": "x", "message": HOSTILE}),
            _line(
                "t",
                kind="transcribe",
                model=HOSTILE,
                cost_usd=0.01,
                output={"transcript": HOSTILE},
                wer={
                    "wer": 1.0,
                    "substitutions": 1,
                    "deletions": 0,
                    "insertions": 0,
                    "hits": 0,
                    "reference_words": 1,
                },
                latency={"transcript": 5},
            ),
            _line(
                "c", checks=[{"check": HOSTILE, "passed": False, "detail": HOSTILE}], passed=False
            ),
            _line("a", output={"audio_path": f"audio/{HOSTILE}.wav", "transcript": "hi"}),
        ],
    )
    html = page(collect(results), tmp_path / "report.html")
    parsed = _parse(html)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "img" not in tags
    assert all(not any(k.startswith("on") for k in attrs) for _, attrs in parsed.tags)
    assert "".join(parsed.text).count(HOSTILE) >= 6  # id, message, model, transcript, check…
    (audio,) = [attrs for tag, attrs in parsed.tags if tag == "audio"]
    src = audio["src"] or ""
    assert not set(src) & set('<>"& ') and unquote(src) == f"audio/{HOSTILE}.wav"


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    """No script, no stylesheet link, no external reference; a CSP that forbids them."""
    results = _write(tmp_path / "r.jsonl", [_line("a", latency={"done": 10}, cost_usd=0.1)])
    parsed = _parse(page(collect(results), tmp_path / "p.html"))
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "link", "img", "iframe")]
    assert not [a for _, a in parsed.tags for k in ("href", "src") if k in a]
    (csp,) = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp["content"] == "default-src 'none'; style-src 'unsafe-inline'; media-src 'self'"


def test_sections_show_the_figures(tmp_path: Path) -> None:
    """Summary cards, one histogram per stage, cost bars per model, the failed and the checks."""
    lines = [
        _line(f"j{i}", latency={"created": i, "done": 100 + i}, cost_usd=0.001, model=f"m{i % 2}")
        for i in range(20)
    ]
    lines.append(_line("bad", status="failed", error={"type": "timeout", "message": "slow"}))
    lines.append(
        _line("chk", checks=[{"check": "regex", "passed": False, "detail": "no"}], passed=False)
    )
    html = page(collect(_write(tmp_path / "r.jsonl", lines)), tmp_path / "p.html")
    parsed = _parse(html)
    svgs = [a["class"] for t, a in parsed.tags if t == "svg"]
    assert svgs == ["chart histogram", "chart histogram", "chart bars"]
    assert sum(1 for t, a in parsed.tags if t == "rect" and a["class"] == "bar") > 20
    text = " ".join(" ".join(parsed.text).split())
    assert "22 LINES" not in text and "22 lines" in text
    assert "bad text failed timeout slow" in text
    assert "chk completed regex: no" in text
    assert "Failures by check: regex 1." in text


def test_lists_are_bounded(tmp_path: Path) -> None:
    """The first REPORT_LISTED failures are listed, the rest counted; the worst WER first."""
    lines = [_line(f"f{i}", status="failed", error={"type": "t"}) for i in range(REPORT_LISTED + 7)]
    lines += [
        _line(
            f"w{i}",
            wer={
                "wer": i / 10,
                "substitutions": i,
                "deletions": 0,
                "insertions": 0,
                "hits": 10 - i,
                "reference_words": 10,
            },
            output={"transcript": "x"},
        )
        for i in range(REPORT_LISTED + 5)
    ]
    data = collect(_write(tmp_path / "r.jsonl", lines))
    assert (len(data.failed.items), data.failed.more) == (REPORT_LISTED, 7)
    worst = data.worst
    assert len(worst) == REPORT_LISTED
    assert worst[0].id == f"w{REPORT_LISTED + 4}" and worst[-1].id == "w5"
    html = page(data, tmp_path / "p.html")
    assert "… and 7 more jobs not listed." in html


@pytest.mark.parametrize(
    ("low", "high", "width"),
    [
        (0, 0, 1),
        (0, 29, 1),
        (0, 30, 2),
        (5, 34, 1),
        (0, 59, 2),
        (0, 149, 5),
        (0, 2999, 100),
        (1000, 1290, 10),
        (0, 10**6, 50_000),
    ],
)
def test_bars_are_round_and_few(low: int, high: int, width: int) -> None:
    """The narrowest 1-2-5 width that covers the values in at most 30 bars."""
    assert bar_width(low, high) == width


def test_bins_add_up_from_value_counts() -> None:
    """Each value lands in its bar; empty bars between are kept."""
    assert bins({3: 2, 7: 1, 64: 4}) == [
        (start, start + 5, {0: 2, 5: 1, 60: 4}.get(start, 0)) for start in range(0, 65, 5)
    ]


def test_audio_is_linked_relative_to_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative audio path is the run's working directory's; the link is the page's."""
    monkeypatch.chdir(tmp_path)
    assert (
        audio_src(Path("out/audio/a b#1.wav"), tmp_path / "out" / "r.html") == "audio/a%20b%231.wav"
    )
    assert audio_src(tmp_path / "x.wav", tmp_path / "site" / "r.html") == "../x.wav"


def test_the_command(tmp_path: Path) -> None:
    """Default page beside the results; 2 for a file that is no result file; 3 unwritable."""
    results = _write(tmp_path / "demo.results.jsonl", [_line("a")])
    assert report_path(str(results)) == tmp_path / "demo.report.html"
    run = CliRunner().invoke(cli.main, ["report", str(results)])
    assert run.exit_code == EXIT_OK, run.output
    assert (tmp_path / "demo.report.html").read_text().startswith("<!DOCTYPE html>")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "x", "prompt": "hi"}\n')
    run = CliRunner().invoke(cli.main, ["report", str(jobs)])
    assert run.exit_code == EXIT_USAGE and "not one of its lines is a result" in run.output
    run = CliRunner().invoke(cli.main, ["report", str(results), "-o", str(results / "p.html")])
    assert run.exit_code == EXIT_FATAL and "cannot write" in run.output
    assert "Traceback" not in run.output


def _big_file(path: Path, n: int) -> Path:
    """``n`` lines of every kind the page lists, with latencies from a fixed range."""
    rng = random.Random(n)
    with path.open("wb") as out:
        for i in range(n):
            line = _line(
                f"job-{i:07d}",
                latency={"created": rng.randrange(300), "done": rng.randrange(300, 900)},
                cost_usd=0.0001,
                model=f"model-{i % 3}",
            )
            if i % 7 == 0:
                line.update(status="failed", error={"type": "timeout", "message": "x" * 200})
            if i % 5 == 0:
                line["output"] = {"transcript": "word " * 100}
                line["wer"] = {
                    "wer": rng.random(),
                    "substitutions": 1,
                    "deletions": 0,
                    "insertions": 0,
                    "hits": 9,
                    "reference_words": 10,
                }
            if i % 11 == 0:
                line.update(
                    passed=False,
                    checks=[{"check": "contains", "passed": False, "detail": "y" * 100}],
                )
            out.write(orjson.dumps(line) + b"\n")
    return path


def _peak(path: Path) -> int:
    tracemalloc.start()
    try:
        page(collect(path), path.with_suffix(".html"))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_flat_in_the_file(tmp_path: Path) -> None:
    """Ten times the lines, the same peak: nothing the page keeps grows with the file."""
    small = _peak(_big_file(tmp_path / "small.jsonl", 5_000))
    large = _peak(_big_file(tmp_path / "large.jsonl", 50_000))
    assert large < small * 1.1 + 64 * 1024, (small, large)
