"""summary.py: per-job cost, usage and cost totals, the summary, snapshots, the budget."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.models import PRICES_AS_OF
from rtbatch.results import Outcome, ResultFile
from rtbatch.summary import Budget, Summary, UsageTotals, outcome_cost

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


def test_token_billed_cost_is_usage_times_prices() -> None:
    """Uncached, cached and output tokens of each modality at their own price."""
    text = (1000 - 512) * 4.00 + 512 * 0.40 + 100 * 16.00
    audio = 200 * 32.00 + 300 * 64.00
    assert outcome_cost("gpt-realtime-1.5", RESPONSE_USAGE) == pytest.approx(
        (text + audio) / 1e6, abs=1e-12
    )
    assert outcome_cost("gpt-realtime-1.5", RESPONSE_USAGE) == 0.0293568


def test_transcription_billed_by_tokens() -> None:
    """A token-billed transcription: audio in at the audio price, transcript at text out."""
    assert outcome_cost("gpt-4o-mini-transcribe", TRANSCRIPTION_USAGE) == 0.000114


def test_transcription_billed_by_duration() -> None:
    """A duration-billed model: the usage's seconds, else the audio sent, per minute."""
    assert outcome_cost("whisper-1", {"type": "duration", "seconds": 90}) == 0.009
    assert outcome_cost("whisper-1", None, audio_s=30.0) == 0.003


def test_cost_is_rounded_to_a_nano_dollar() -> None:
    """A third of a second of whisper-1 (0.0000333… USD) is written with nine places."""
    assert outcome_cost("whisper-1", {"type": "duration", "seconds": 1 / 3}) == 0.000033333


def test_cost_is_unknown_without_prices_or_usage() -> None:
    """No prices (an unknown model, a row without prices) or nothing to price: None."""
    assert outcome_cost("gpt-audio-1.5", RESPONSE_USAGE) is None
    assert outcome_cost("my-azure-deployment", RESPONSE_USAGE) is None
    assert outcome_cost(None, RESPONSE_USAGE) is None
    assert outcome_cost("gpt-realtime-1.5", None) is None


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


def test_budget_admits_while_spend_and_flight_stay_within_the_limit() -> None:
    """Spent plus in-flight estimates plus the new estimate may reach the limit, not pass it."""
    budget = Budget(1.00)
    assert budget.admit(0.40)
    budget.start(0.40)
    assert budget.admit(0.60)  # 0.40 in flight + 0.60 = the limit exactly
    budget.start(0.35)
    budget.finish(0.40, 0.45)  # cost more than estimated
    assert (budget.spent_usd, budget.in_flight_usd) == (0.45, 0.35)
    assert budget.admit(0.20)  # 0.45 + 0.35 + 0.20 = 1.00
    assert not budget.admit(0.21)
    assert budget.stopped


def test_budget_refusal_is_final() -> None:
    """Once a job is refused no later job starts, however small."""
    budget = Budget(0.10)
    assert not budget.admit(0.11)
    assert not budget.admit(0.000001)
    assert budget.stopped


def test_budget_sums_are_exact() -> None:
    """0.1 + 0.2 fits a 0.3 limit: amounts are whole nano-dollars, not drifting floats."""
    budget = Budget(0.3)
    budget.start(0.1)
    assert budget.admit(0.2)
    budget.finish(0.1, None)  # unknown actual cost: the estimate counts as spent
    assert budget.spent_usd == 0.1


def test_budget_refuses_bad_amounts() -> None:
    """A negative or non-finite limit, or finishing what never started, is an error."""
    with pytest.raises(ValueError, match="max_cost"):
        Budget(-1.0)
    with pytest.raises(ValueError, match="max_cost"):
        Budget(math.nan)
    budget = Budget(1.0)
    budget.start(0.2)
    with pytest.raises(ValueError, match="in flight"):
        budget.finish(0.3, 0.3)
    with pytest.raises(ValueError, match="estimate_usd"):
        budget.admit(-0.1)
