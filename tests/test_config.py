"""config.py: frozen, validated settings that never show the key."""

from __future__ import annotations

import dataclasses

import pytest

from rtbatch import models
from rtbatch.config import (
    CONCURRENCY,
    DEFAULT_MODELS,
    POSITIVE,
    ApiKey,
    Bounds,
    RetryPolicy,
    RunConfig,
    Target,
    Timeouts,
)
from rtbatch.defaults import (
    DEFAULT_BETA_MODEL,
    DEFAULT_BETA_TRANSCRIPTION_MODEL,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    MAX_CONCURRENCY,
)


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
        ({"max_cost_usd": 0}, "max_cost_usd"),
        ({"max_segment_ms": 10}, "max_segment_ms"),
        ({"grace_s": -1}, "grace_s"),
        ({"shards": 0}, "shards"),
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


def test_a_target_needs_no_key() -> None:
    """validate and estimate build a Target: endpoint, dialect and models, no key."""
    target = Target()
    assert not hasattr(target, "api_key")
    assert (target.model, target.transcription_model) == (
        DEFAULT_MODEL,
        DEFAULT_TRANSCRIPTION_MODEL,
    )


def test_models_default_by_dialect() -> None:
    """--beta's defaults are beta models; a model given is kept in either dialect."""
    beta = RunConfig(api_key=ApiKey("k"), dialect="beta")
    assert (beta.model, beta.transcription_model) == (
        DEFAULT_BETA_MODEL,
        DEFAULT_BETA_TRANSCRIPTION_MODEL,
    )
    given = Target(dialect="beta", model="m", transcription_model="t")
    assert (given.model, given.transcription_model) == ("m", "t")


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_default_models_are_served_in_their_dialect(dialect: models.DialectName) -> None:
    """Each dialect's defaults are catalogue models of the right kind that it reaches."""
    for name, kind in zip(DEFAULT_MODELS[dialect], ("realtime", "transcription"), strict=True):
        row = models.lookup(name)
        assert row is not None and row.kind == kind, name
        assert dialect in row.dialects, name


def test_bounds_are_one_statement_of_a_range() -> None:
    """A Bounds says why a value is out, and check names the field."""
    assert CONCURRENCY.problem(1) is None and CONCURRENCY.problem(MAX_CONCURRENCY) is None
    assert CONCURRENCY.problem(0) == f"expected 1..{MAX_CONCURRENCY}, got 0"
    assert POSITIVE.problem(0) == "expected > 0, got 0"
    assert str(Bounds(1)) == ">= 1"
    with pytest.raises(ValueError, match=r"^x: expected > 0, got -1$"):
        POSITIVE.check("x", -1)
    POSITIVE.check("x", None)
