"""retry.py: every server error is classified once, into the right branch."""

from __future__ import annotations

import random

import pytest

from rtbatch import errors
from rtbatch.config import RetryPolicy
from rtbatch.retry import (
    backoff_s,
    classify_close,
    classify_server_error,
    classify_status,
    decide,
    retry_hint,
    should_retry,
)

RATE_MSG = (
    "Rate limit reached for gpt-realtime in organization org-x on tokens per min (TPM): "
    "Limit 40000, Used 39000, Requested 2000. Please try again in 1.5s. Visit …"
)


@pytest.mark.parametrize(
    ("error", "cls", "branch"),
    [
        (
            {"type": "invalid_request_error", "code": "invalid_api_key", "message": "k"},
            errors.AuthenticationFailed,
            "run",
        ),
        (
            {"type": "invalid_request_error", "code": "beta_api_shape_disabled", "message": "b"},
            errors.DialectRefused,
            "run",
        ),
        (
            {"type": "invalid_request_error", "code": "model_not_found", "message": "m"},
            errors.ModelUnavailable,
            "run",
        ),
        (
            {"type": "invalid_request_error", "code": "missing_model", "message": "m"},
            errors.ModelUnavailable,
            "run",
        ),
        (
            {"type": "insufficient_quota", "code": "insufficient_quota", "message": "q"},
            errors.QuotaExhausted,
            "run",
        ),
        (
            {"type": "invalid_request_error", "code": "session_expired", "message": "s"},
            errors.SessionExpired,
            "retryable",
        ),
        (
            {"type": "tokens", "code": "rate_limit_exceeded", "message": RATE_MSG},
            errors.RateLimited,
            "retryable",
        ),
        (
            {"type": "server_error", "code": None, "message": "The server had an error"},
            errors.ServerError,
            "retryable",
        ),
        (
            {"type": "invalid_request_error", "code": "invalid_value", "message": "bad"},
            errors.RequestRejected,
            "job",
        ),
        ({"type": "something_new", "code": None, "message": "?"}, errors.ServerError, "retryable"),
        (None, errors.ServerError, "retryable"),
    ],
)
def test_classify_server_error(error: dict[str, str] | None, cls: type, branch: str) -> None:
    """Each known code or type lands in its class and branch."""
    exc = classify_server_error(error)
    assert type(exc) is cls
    assert exc.error_class == branch


def test_rate_limit_message_gives_the_wait() -> None:
    """The server's "try again in" becomes the retry hint."""
    assert (
        classify_server_error({"code": "rate_limit_exceeded", "message": RATE_MSG}).retry_after_s
        == 1.5
    )
    assert retry_hint("Please try again in 1m26.4s.") == pytest.approx(86.4)
    assert retry_hint("Please try again in 850ms.") == pytest.approx(0.85)
    assert retry_hint("Please try again in 8h0m0s.") == pytest.approx(28800.0)
    assert retry_hint("no hint here") is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (429, errors.HandshakeRetryable),
        (500, errors.HandshakeRetryable),
        (503, errors.HandshakeRetryable),
        (401, errors.AuthenticationFailed),
        (403, errors.HandshakeRefused),
        (404, errors.HandshakeRefused),
    ],
)
def test_classify_status(status: int, cls: type) -> None:
    """429 and 5xx upgrades are retried; other refusals stop the run."""
    exc = classify_status(status, "2")
    assert type(exc) is cls
    assert exc.status == status


def test_retry_after_header_is_a_hint() -> None:
    """A 429's retry-after header is honoured."""
    assert classify_status(429, "7").retry_after_s == 7.0
    assert classify_status(503, "soon").retry_after_s is None


def test_classify_close() -> None:
    """Close 3000 is the key; anything else without an error first is a lost connection."""
    assert isinstance(
        classify_close(3000, "invalid_request_error.invalid_api_key"), errors.AuthenticationFailed
    )
    lost = classify_close(1006, None)
    assert isinstance(lost, errors.ConnectionLost)
    assert lost.close_code == 1006


def test_backoff_is_full_jitter_within_the_cap() -> None:
    """Waits are uniform in [0, min(max, initial * base^(n-1))]."""
    policy = RetryPolicy(initial_s=1.0, max_s=8.0, base=2.0)
    rng = random.Random(1)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        draws = [backoff_s(policy, attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8  # full jitter reaches near the cap


def test_server_hint_replaces_the_draw() -> None:
    """A hint of 30 s waits at least 30 s even on the first attempt."""
    policy = RetryPolicy(initial_s=0.5)
    wait = backoff_s(policy, 1, random.Random(0), hint_s=30.0)
    assert 30.0 <= wait <= 30.5


def test_should_retry_respects_both_caps_and_branch() -> None:
    """Attempt cap, total time cap, and only retryable errors."""
    policy = RetryPolicy(max_attempts=3, total_s=10.0)
    lost = errors.ConnectionLost("x")
    assert should_retry(policy, lost, attempts=2, elapsed_s=1.0, wait_s=1.0)
    assert not should_retry(policy, lost, attempts=3, elapsed_s=1.0, wait_s=1.0)
    assert not should_retry(policy, lost, attempts=1, elapsed_s=9.5, wait_s=1.0)
    assert not should_retry(policy, errors.RequestRejected("x"), 1, 0.0, 0.0)
    assert not should_retry(policy, errors.AuthenticationFailed("x"), 1, 0.0, 0.0)


_POLICY = RetryPolicy(max_attempts=3, initial_s=1.0, max_s=10.0, max_wait_s=300.0)


@pytest.mark.parametrize(
    ("exc", "attempts", "refusals", "action"),
    [
        (errors.ServerError("x"), 1, 0, "retry"),
        (errors.ServerError("x"), 3, 0, "fail"),  # the attempt cap
        (errors.RateLimited("x", retry_after_s=0.035), 0, 1, "retry"),  # not an attempt
        (errors.RateLimited("x", retry_after_s=0.035), 0, _POLICY.max_refusals, "fail"),
        (errors.RateLimited("x", retry_after_s=3600.0), 0, 1, "try_later"),  # > max_wait
        (errors.DailyLimitReached("x", retry_after_s=86.4), 0, 1, "try_later"),
        (errors.RequestRejected("x"), 1, 0, "fail"),
        (errors.AuthenticationFailed("x"), 1, 0, "stop"),
        (errors.OutputFailed("x"), 1, 0, "stop"),
        (KeyError("a bug"), 1, 0, "stop"),
    ],
)
def test_decide_table(exc: BaseException, attempts: int, refusals: int, action: str) -> None:
    """Each class of failure meets its fate; refusals never spend attempts."""
    found = decide(
        exc,
        attempts=attempts,
        refusals=refusals,
        elapsed_s=0.0,
        policy=_POLICY,
        rng=random.Random(1),
    )
    assert found.action == action
    if action == "retry" and isinstance(exc, errors.RateLimited):
        assert found.wait_s == 0.0  # the pacer holds its start, not a per-job timer
