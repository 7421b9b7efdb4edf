"""config.py: frozen, validated settings that never show the key."""

from __future__ import annotations

import dataclasses

import pytest

from rtbatch.config import ApiKey, RetryPolicy, RunConfig, Timeouts


def test_key_is_masked_everywhere() -> None:
    """repr and str of the config and the key never contain the secret."""
    config = RunConfig(api_key=ApiKey("sk-secret-123456"))
    for text in (repr(config), str(config), repr(config.api_key), f"{config.api_key}"):
        assert "sk-secret" not in text
    assert config.api_key.reveal() == "sk-secret-123456"


def test_config_is_frozen() -> None:
    """A run's settings cannot change under it."""
    config = RunConfig(api_key=ApiKey("k"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.concurrency = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "http://x"}, "url"),
        ({"concurrency": 0}, "concurrency"),
        ({"dialect": "v2"}, "dialect"),
        ({"rpm": 0}, "rpm"),
        ({"deadline_s": -1}, "deadline_s"),
        ({"model": ""}, "model"),
        ({"audio_format": "mp3"}, "audio_format"),
    ],
)
def test_bad_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Validation errors start with the field's name."""
    with pytest.raises(ValueError, match=f"^{field}"):
        RunConfig(api_key=ApiKey("k"), **kwargs)  # type: ignore[arg-type]


def test_nested_policies_validate() -> None:
    """Timeouts and retry policy refuse nonsense."""
    with pytest.raises(ValueError, match=r"timeouts\.job_s"):
        Timeouts(job_s=0)
    with pytest.raises(ValueError, match=r"retry\.max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="api_key"):
        ApiKey("  ")
