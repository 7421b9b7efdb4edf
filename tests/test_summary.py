"""rtbatch.summary: usage and cost totals, the summary and its progress snapshots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.cost import outcome_cost
from rtbatch.models import PRICES_AS_OF
from rtbatch.output.outcome import Outcome
from rtbatch.output.results import ResultFile
from rtbatch.summary import Summary, UsageTotals

# gpt-realtime-1.5: text 4.00 / 0.40 / 16.00, audio 32.00 / 0.40 / 64.00 USD per million.
RESPONSE_USAGE = {
    "total_tokens": 1600,
    "input_tokens": 1200,
    "output_tokens": 400,
    "input_token_details": {
        "text_tokens": 1000,
        "audio_tokens": 200,
        "image_tokens": 0,
        "cached_tokens": 512,
        "cached_tokens_details": {"text_tokens": 512, "audio_tokens": 0, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 100, "audio_tokens": 300},
}
# gpt-4o-mini-transcribe: audio in 3.00, text out 5.00 USD per million.
TRANSCRIPTION_USAGE = {
    "type": "tokens",
    "total_tokens": 34,
    "input_tokens": 28,
    "input_token_details": {"text_tokens": 0, "audio_tokens": 28},
    "output_tokens": 6,
}


def _outcome(model: str | None, usage: dict[str, Any] | None, **kw: Any) -> Outcome:
    cost = outcome_cost(model, usage, kw.pop("audio_s", None))
    return Outcome(
        job_id=kw.pop("job_id", "a"),
        status=kw.pop("status", "completed"),
        kind=kw.pop("kind", "text"),
        line=1,
        usage=usage,
        model=model,
        cost_usd=cost,
        **kw,
    )


def test_summary_total_equals_the_sum_of_the_lines(tmp_path: Path) -> None:
    """The summary's total, by model and by modality, adds up to the file's cost_usd."""
    summary = Summary()
    path = tmp_path / "r.jsonl"
    results = ResultFile.open(path)
    for i in range(300):
        n = i % 7 + 1
        usage = {
            "input_tokens": 13 * n + 7 * i,
            "output_tokens": 11 * n,
            "input_token_details": {
                "text_tokens": 13 * n,
                "audio_tokens": 7 * i,
                "cached_tokens": 3 * n,
                "cached_tokens_details": {"text_tokens": 3 * n, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": 5 * n, "audio_tokens": 6 * n},
        }
        for outcome in (
            _outcome("gpt-realtime-2.1-mini", usage, job_id=f"r{i}"),
            _outcome("whisper-1", {"type": "duration", "seconds": i / 7}, job_id=f"w{i}"),
            _outcome("gpt-4o-mini-transcribe", TRANSCRIPTION_USAGE, job_id=f"t{i}"),
        ):
            summary.add(outcome)
            results.write(outcome)
    results.close()
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    cost = summary.to_dict()["cost"]
    assert math.isclose(cost["total_usd"], math.fsum(r["cost_usd"] for r in lines), abs_tol=1e-9)
    for model, figures in cost["by_model"].items():
        mine = [r["cost_usd"] for r in lines if r["model"] == model]
        assert figures["jobs"] == len(mine) == 300
        assert math.isclose(figures["usd"], math.fsum(mine), abs_tol=1e-9)
    assert math.isclose(sum(cost["by_modality"].values()), cost["total_usd"], abs_tol=1e-9)
    assert cost["by_modality"]["duration"] == pytest.approx(
        math.fsum(r["cost_usd"] for r in lines if r["model"] == "whisper-1"), abs=1e-9
    )
    assert cost["by_modality"]["image"] == 0
    assert cost["prices_as_of"] == PRICES_AS_OF


def test_modalities_split_one_response() -> None:
    """One response's cost lands in text and audio as its usage says."""
    summary = Summary()
    summary.add(_outcome("gpt-realtime-1.5", RESPONSE_USAGE))
    by = summary.to_dict()["cost"]["by_modality"]
    assert by == {"text": 0.0037568, "audio": 0.0256, "image": 0.0, "duration": 0.0}


def test_jobs_of_unknown_cost_are_counted_and_named() -> None:
    """Work done on a model without prices is counted; a job that reached no model is not."""
    summary = Summary()
    summary.add(_outcome("gpt-audio-1.5", RESPONSE_USAGE))
    summary.add(_outcome(None, None, status="failed"))
    summary.add(_outcome("gpt-realtime-1.5", RESPONSE_USAGE))
    cost = summary.to_dict()["cost"]
    assert (cost["unknown_cost_jobs"], cost["unpriced_models"]) == (1, ["gpt-audio-1.5"])
    assert cost["total_usd"] == 0.0293568
    rendered = summary.render()
    assert f"cost: $0.0294 at the prices of {PRICES_AS_OF}" in rendered
    assert "gpt-realtime-1.5 $0.0294 (1 job)" in rendered
    assert "1 job(s) of unknown cost (no prices for gpt-audio-1.5)" in rendered


def test_usage_totals_do_not_count_cached_twice() -> None:
    """Cached tokens are a part of input, reported beside it, not added to it."""
    totals = UsageTotals()
    usage = {
        "total_tokens": 30,
        "input_tokens": 20,
        "output_tokens": 10,
        "input_token_details": {"text_tokens": 12, "audio_tokens": 8, "cached_tokens": 16},
        "output_token_details": {"text_tokens": 4, "audio_tokens": 6},
    }
    totals.add(usage)
    totals.add(usage)
    totals.add({"type": "duration", "seconds": 2.5})
    assert (totals.input_tokens, totals.cached_tokens, totals.total_tokens) == (40, 32, 60)
    assert totals.output_audio_tokens == 12
    assert totals.transcription_seconds == 2.5


def test_summary_json_shape() -> None:
    """The --summary JSON lists counts by status, usage, cost and rates."""
    summary = Summary()
    summary.add(_outcome("gpt-realtime-1.5", {"input_tokens": 3, "output_tokens": 4}))
    summary.wall_s = 2.0
    data = summary.to_dict()
    assert data["counts"] == {"completed": 1, "incomplete": 0, "failed": 0}
    assert data["usage"]["total_tokens"] == 7
    assert data["cost"]["total_usd"] == 0.000076  # 3 x 4.00 + 4 x 16.00, per million
    assert data["jobs_per_s"] == 0.5
    assert "1 completed" in summary.render()


def test_snapshot_reads_the_running_figures() -> None:
    """A progress snapshot: done, failed, what is left after skips, tokens, cost, rate, ETA."""
    summary = Summary(skipped=10)
    for _ in range(4):
        summary.add(_outcome("gpt-realtime-1.5", {"input_tokens": 3, "output_tokens": 4}))
    summary.add(_outcome(None, None, status="failed"))
    snap = summary.snapshot(in_flight=2, total=30, elapsed_s=2.5)
    assert (snap.done, snap.failed, snap.in_flight, snap.todo, snap.tokens) == (5, 1, 2, 20, 28)
    assert (snap.cost_usd, snap.rate, snap.eta_s) == (0.000304, 2.0, 7.5)
    assert summary.snapshot(in_flight=0, total=None, elapsed_s=0.0).eta_s is None


def test_tool_calls_are_counted_by_name_in_the_summary() -> None:
    """Each line's output.tool_calls counted by function name, on stderr and in --summary JSON."""
    summary = Summary()
    calls = [{"name": "get_weather"}, {"name": "lookup_order"}, {"name": "get_weather"}]
    summary.add(
        _outcome("gpt-realtime-1.5", RESPONSE_USAGE, output={"text": "x", "tool_calls": calls})
    )
    summary.add(_outcome("gpt-realtime-1.5", RESPONSE_USAGE, job_id="b", output={"text": "y"}))
    assert summary.to_dict()["tool_calls"] == {"get_weather": 2, "lookup_order": 1}
    assert "tool calls: 3 (get_weather 2, lookup_order 1)" in summary.render().splitlines()
    assert Summary().to_dict()["tool_calls"] == {}
    assert "tool calls" not in Summary().render()
