"""retry.py: every server error, close and refused upgrade is classified once, and decided."""

from __future__ import annotations

import random
from typing import Any

import pytest

from rtbatch import errors
from rtbatch.config import RetryPolicy
from rtbatch.retry import (
    backoff_s,
    classify_close,
    classify_server_error,
    classify_status,
    decide,
    refusal_limits,
    retry_hint,
)

RATE_MSG = (
    "Rate limit reached for gpt-realtime in organization org-x on tokens per min (TPM): "
    "Limit 40000, Used 39000, Requested 2000. Please try again in 1.5s. Visit …"
)
RPM_MSG = (
    "Rate limit reached for gpt-realtime in organization org-x on requests per min (RPM): "
    "Limit 600, Used 600, Requested 1. Please try again in 35ms. Visit …"
)
RPD_MSG = (
    "Rate limit reached for gpt-4o-mini-realtime in organization org-x on requests per day "
    "(RPD): Limit 1000, Used 1000, Requested 1. Please try again in 1m26.4s. Visit …"
)
CAPACITY_MSG = "We're currently processing too many requests - please try again later."


def rate(message: str, etype: str = "tokens") -> dict[str, str]:
    return {"type": etype, "code": "rate_limit_exceeded", "message": message}


def invalid(code: str, message: str = "m") -> dict[str, str]:
    return {"type": "invalid_request_error", "code": code, "message": message}


@pytest.mark.parametrize(
    ("error", "cls", "branch", "hint"),
    [
        (invalid("invalid_api_key"), errors.AuthenticationFailed, "run", None),
        (invalid("beta_api_shape_disabled"), errors.DialectRefused, "run", None),
        (invalid("model_not_found"), errors.ModelUnavailable, "run", None),
        (invalid("missing_model"), errors.ModelUnavailable, "run", None),
        (
            {"type": "insufficient_quota", "code": "insufficient_quota", "message": "q"},
            errors.QuotaExhausted,
            "run",
            None,
        ),
        (invalid("insufficient_quota"), errors.QuotaExhausted, "run", None),
        (invalid("account_deactivated"), errors.AccountUnusable, "run", None),
        (invalid("billing_hard_limit_reached"), errors.AccountUnusable, "run", None),
        (invalid("session_expired"), errors.SessionExpired, "retryable", None),
        (
            invalid("inference_rate_limit_exceeded", CAPACITY_MSG),
            errors.Overloaded,
            "retryable",
            None,
        ),
        (rate(RATE_MSG), errors.RateLimited, "retryable", 1.5),
        (rate(RPM_MSG, "requests"), errors.RateLimited, "retryable", 0.035),
        (rate(RPD_MSG, "requests"), errors.DailyLimitReached, "later", 86.4),
        (
            {"type": "rate_limit_error", "code": None, "message": RPD_MSG},
            errors.DailyLimitReached,
            "later",
            86.4,
        ),
        (
            {"type": "server_error", "code": None, "message": "The server had an error"},
            errors.ServerError,
            "retryable",
            None,
        ),
        (invalid("invalid_value", "bad"), errors.RequestRejected, "job", None),
        (
            {"type": "something_new", "code": None, "message": "?"},
            errors.ServerError,
            "retryable",
            None,
        ),
        (None, errors.ServerError, "retryable", None),
    ],
)
def test_classify_server_error(
    error: dict[str, str] | None, cls: type, branch: str, hint: float | None
) -> None:
    """Each known code or type lands in its class and branch, with the message's wait."""
    exc = classify_server_error(error)
    assert type(exc) is cls
    assert exc.error_class == branch
    assert exc.retry_after_s == (pytest.approx(hint) if hint is not None else None)


def test_a_capacity_refusal_is_a_refusal_not_a_bad_request() -> None:
    """inference_rate_limit_exceeded is retried as a refusal (an Overloaded is a RateLimited)."""
    exc = classify_server_error(invalid("inference_rate_limit_exceeded", CAPACITY_MSG))
    assert isinstance(exc, errors.RateLimited)
    assert exc.code == "inference_rate_limit_exceeded"
    assert exc.limits == ()


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Please try again in 1m26.4s. Visit", 86.4),
        ("Please try again in 6.1s.", 6.1),
        ("Please try again in 850ms.", 0.85),
        ("Please try again in 35ms.", 0.035),
        ("please Try Again In 1h2m3s", 3723.0),
        ("Please try again in 8h0m0s.", 28800.0),
        ("Please try again in 0.000s.", 0.0),
        ("Please try again later.", None),
        ("no hint here", None),
    ],
)
def test_retry_hint(message: str, seconds: float | None) -> None:
    """Every form of "try again in" the service writes becomes seconds."""
    got = retry_hint(message)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("message", "entries"),
    [
        (
            RATE_MSG,
            (
                {
                    "name": "tokens",
                    "limit": 40000,
                    "remaining": 1000,
                    "reset_seconds": 58.5,
                    "requested": 2000,
                },
            ),
        ),
        (
            RPM_MSG,
            (
                {
                    "name": "requests",
                    "limit": 600,
                    "remaining": 0,
                    "reset_seconds": 60.0,
                    "requested": 1,
                },
            ),
        ),
        (
            # A response that used more than it reserved leaves the bucket in debt.
            "Rate limit reached for gpt-realtime-1.5 in organization org-x on tokens per min "
            "(TPM): Limit 24000, Used 24120, Requested 33. Please try again in 380ms.",
            (
                {
                    "name": "tokens",
                    "limit": 24000,
                    "remaining": -120,
                    "reset_seconds": 60.0,
                    "requested": 33,
                },
            ),
        ),
        (RPD_MSG, ()),
        ("Rate limit reached on tokens per min (TPM): Limit 40000. Try again in 2s.", ()),
        ("Requests have exceeded the rate limit. Please retry after 2 seconds.", ()),
    ],
)
def test_refusal_limits(message: str, entries: tuple[dict[str, Any], ...]) -> None:
    """A per-minute message's figures become rate_limits entries; a daily one's do not."""
    assert refusal_limits(message) == entries
    exc = classify_server_error(rate(message))
    assert isinstance(exc, errors.RateLimited | errors.DailyLimitReached)
    if isinstance(exc, errors.RateLimited):
        assert exc.limits == entries


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


@pytest.mark.parametrize(
    ("code", "reason", "cls", "branch"),
    [
        (3000, "invalid_request_error.invalid_api_key", errors.AuthenticationFailed, "run"),
        (3000, None, errors.AuthenticationFailed, "run"),
        (4000, "invalid_request_error.beta_api_shape_disabled", errors.DialectRefused, "run"),
        (4004, "invalid_request_error.model_not_found", errors.ModelUnavailable, "run"),
        (1008, "invalid_request_error.account_deactivated", errors.AccountUnusable, "run"),
        (1008, "invalid_request_error.billing_hard_limit_reached", errors.AccountUnusable, "run"),
        (1008, "invalid_request_error.insufficient_quota", errors.QuotaExhausted, "run"),
        (1011, "server_error.server_error", errors.ServerError, "retryable"),
        (4000, "invalid_request_error.some_new_code", errors.RequestRejected, "job"),
        (
            1001,
            "Your session hit the maximum duration of 60 minutes.",
            errors.SessionExpired,
            "retryable",
        ),
        (1006, None, errors.ConnectionLost, "retryable"),
        (1000, "bye", errors.ConnectionLost, "retryable"),
    ],
)
def test_classify_close(code: int, reason: str | None, cls: type, branch: str) -> None:
    """A close reason <type>.<code> is classified by its code; a fatal one is no lost connection."""
    exc = classify_close(code, reason)
    assert type(exc) is cls
    assert exc.error_class == branch
    assert exc.close_code == code


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


POLICY = RetryPolicy(max_attempts=3, initial_s=1.0, max_s=8.0, total_s=100.0, max_refusals=5)


def limited(hint: float | None) -> errors.RateLimited:
    return errors.RateLimited("refused", code="rate_limit_exceeded", retry_after_s=hint)


@pytest.mark.parametrize(
    ("exc", "attempts", "refusals", "elapsed_s", "action", "wait_s"),
    [
        (limited(0.035), 0, 1, 0.0, "retry", 0.0),
        (errors.HandshakeRetryable("429", status=429, retry_after_s=1.0), 0, 1, 0.0, "retry", 0.0),
        (limited(0.035), 0, 5, 0.0, "fail", 0.0),
        (limited(400.0), 0, 1, 0.0, "try_later", 400.0),
        (errors.DailyLimitReached("rpd", retry_after_s=86.4), 0, 1, 0.0, "try_later", 86.4),
        (errors.DailyLimitReached("rpd"), 0, 1, 0.0, "try_later", 0.0),
        (errors.AccountUnusable("deactivated"), 1, 0, 0.0, "stop", 0.0),
        (errors.QuotaExhausted("quota"), 1, 0, 0.0, "stop", 0.0),
        (errors.OutputFailed("disk full"), 1, 0, 0.0, "stop", 0.0),
        (errors.ServerError("boom"), 1, 0, 0.0, "retry", None),
        (ValueError("a bug"), 1, 0, 0.0, "stop", 0.0),
        (errors.RequestRejected("bad"), 1, 0, 0.0, "fail", 0.0),
        (errors.ConnectionLost("lost"), 3, 0, 0.0, "fail", 0.0),
        (errors.ServerError("boom", retry_after_s=5.0), 1, 0, 99.0, "fail", 0.0),
    ],
)
def test_decide(
    exc: BaseException,
    attempts: int,
    refusals: int,
    elapsed_s: float,
    action: str,
    wait_s: float | None,
) -> None:
    """Refusals retry at once (the pacer holds them), long waits are try-later, fatal stops."""
    got = decide(
        exc,
        attempts=attempts,
        refusals=refusals,
        elapsed_s=elapsed_s,
        policy=POLICY,
        rng=random.Random(0),
    )
    assert got.action == action
    if wait_s is not None:  # None: a backoff draw, tested below
        assert got.wait_s == wait_s


def test_decide_backs_off_other_retryable_failures() -> None:
    """A lost connection before the attempt cap waits a full-jitter draw within the cap."""
    rng = random.Random(3)
    waits = [
        decide(
            errors.ConnectionLost("lost"),
            attempts=2,
            refusals=0,
            elapsed_s=0.0,
            policy=POLICY,
            rng=rng,
        )
        for _ in range(100)
    ]
    assert {d.action for d in waits} == {"retry"}
    assert all(0.0 <= d.wait_s <= 2.0 for d in waits)
    assert max(d.wait_s for d in waits) > 1.5


def test_a_capacity_refusal_waits_a_short_jitter_that_grows_with_its_refusals() -> None:
    """A capacity refusal: the job alone waits [0, 0.25 s], doubling per refusal up to 4 s."""
    rng = random.Random(3)
    busy = errors.Overloaded(CAPACITY_MSG, code="inference_rate_limit_exceeded")
    for refusals, cap in ((1, 0.25), (2, 0.5), (3, 1.0), (9, 4.0)):
        waits = [
            decide(
                busy, attempts=0, refusals=refusals, elapsed_s=0.0, policy=RetryPolicy(), rng=rng
            )
            for _ in range(200)
        ]
        assert {d.action for d in waits} == {"retry"}
        assert min(d.wait_s for d in waits) >= 0.0 and max(d.wait_s for d in waits) <= cap
        assert max(d.wait_s for d in waits) > cap * 0.9
