"""models.py: the catalogue is the one source, and the README shows it as it is."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rtbatch import models

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_table_is_generated_from_the_catalogue() -> None:
    """The README's model table equals what `python -m rtbatch.models` prints."""
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- models table: generated -->") + len("<!-- models table: generated -->")
    table = text[start : text.index("<!-- end models table -->")].strip()
    assert table == models.markdown_table(dt.date.fromisoformat(models.PRICES_AS_OF))


def test_aliases_resolve_to_their_snapshot() -> None:
    """gpt-realtime is gpt-realtime-2025-08-28; a different model is not the same."""
    assert models.same_model("gpt-realtime", "gpt-realtime-2025-08-28")
    assert not models.same_model("gpt-realtime", "gpt-realtime-1.5")


def test_lifecycle_follows_the_announced_dates() -> None:
    """Deprecated until the shutdown date, shut down from it; previews already gone."""
    row = models.lookup("gpt-realtime")
    assert row is not None
    assert row.lifecycle(dt.date(2027, 1, 19)) == "deprecated"
    assert row.lifecycle(dt.date(2027, 1, 20)) == "shut_down"
    preview = models.lookup("gpt-4o-realtime-preview-2024-12-17")
    assert preview is not None and preview.lifecycle(dt.date(2026, 1, 1)) == "shut_down"


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # text: 1,000 in of which 200 cached, 500 out, at gpt-realtime-1.5 prices
        (
            "gpt-realtime-1.5",
            {
                "input_tokens": 1000,
                "output_tokens": 500,
                "input_token_details": {
                    "text_tokens": 1000,
                    "audio_tokens": 0,
                    "cached_tokens": 200,
                    "cached_tokens_details": {"text_tokens": 200, "audio_tokens": 0},
                },
                "output_token_details": {"text_tokens": 500, "audio_tokens": 0},
            },
            (800 * 4.0 + 200 * 0.4 + 500 * 16.0) / 1e6,
        ),
        # audio in and out at gpt-realtime-2.1-mini prices
        (
            "gpt-realtime-2.1-mini",
            {
                "input_tokens": 100,
                "output_tokens": 300,
                "input_token_details": {"text_tokens": 0, "audio_tokens": 100},
                "output_token_details": {"text_tokens": 100, "audio_tokens": 200},
            },
            (100 * 10.0 + 100 * 2.4 + 200 * 20.0) / 1e6,
        ),
        # by duration
        ("whisper-1", {"type": "duration", "seconds": 90.0}, 1.5 * 0.006),
    ],
)
def test_cost_is_usage_times_the_catalogue_prices(
    model: str, usage: dict[str, object], expected: float
) -> None:
    """Each billing kind: uncached, cached and output tokens per modality, or minutes."""
    row = models.lookup(model)
    assert row is not None
    found = models.cost(row, usage)
    assert found is not None
    assert found.total == pytest.approx(expected)


def test_every_replacement_is_a_current_model_with_its_source() -> None:
    """A replacement names a catalogue model of the same kind that is not itself going,
    and says where it is named (issue 20: the deprecations page, as cited)."""
    today = dt.date.fromisoformat(models.PRICES_AS_OF)
    for m in models.CATALOGUE:
        if m.replacement is None:
            assert m.lifecycle(today) == "current" or m.kind == "transcription", m.id
            continue
        new = models.lookup(m.replacement)
        assert new is not None and new.kind == m.kind, m.id
        assert new.lifecycle(today) == "current", (m.id, new.id)
        assert m.replacement_source, m.id


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("gpt-realtime", "gpt-realtime-2.1"),
        ("gpt-realtime-2025-08-28", "gpt-realtime-2.1"),
        ("gpt-4o-realtime-preview", "gpt-realtime-2.1"),
        ("gpt-realtime-mini", "gpt-realtime-2.1-mini"),
        ("gpt-4o-mini-realtime-preview", "gpt-realtime-2.1-mini"),
        ("whisper-1", "gpt-transcribe"),
    ],
)
def test_replacements_are_the_deprecations_page_s(old: str, new: str) -> None:
    row = models.lookup(old)
    assert row is not None and row.replacement == new
