"""rtbatch.cost: a line's cost from its usage at the catalogue's prices."""

from __future__ import annotations

import pytest

from rtbatch.cost import outcome_cost
from tests.test_summary import RESPONSE_USAGE, TRANSCRIPTION_USAGE


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
