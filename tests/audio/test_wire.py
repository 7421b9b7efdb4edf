"""Tests for rtbatch.audio.wire: the service's formats, rates and limits."""

from __future__ import annotations

import pytest

from rtbatch.audio import wire


def test_rates_and_sizes_of_each_format() -> None:
    """pcm16 is 24 kHz at 2 bytes a sample, G.711 8 kHz at one."""
    assert wire.sample_rate_of("pcm16") == 24_000
    assert wire.sample_rate_of("g711_alaw") == 8_000
    assert wire.bytes_per_second("pcm16") == 48_000
    assert wire.bytes_per_second("g711_ulaw") == 8_000
    assert wire.min_commit_samples(24_000) == 2_400


def test_chunk_samples_checks_the_size() -> None:
    """A chunk is ms × rate; zero, fractions and chunks over the append limit are refused."""
    assert wire.chunk_samples("pcm16", 2_000) == 48_000
    assert wire.chunk_samples("g711_ulaw", 20) == 160
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="chunk_ms"):
            wire.chunk_samples("pcm16", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="15728640 byte limit"):
        wire.chunk_samples("pcm16", 3_600_000)
