"""Classifying failures and pacing retries.

Server ``error`` objects (from an ``error`` event, a failed ``response.done`` or a
failed transcription) are classified here, once, into the hierarchy of
:mod:`rtbatch.errors`; later code only reads ``error_class``. The backoff policy
itself is data (:class:`rtbatch.config.RetryPolicy`); this module computes waits.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from rtbatch import errors
from rtbatch.config import RetryPolicy
from rtbatch.errors import ErrorClass, RtbatchError

# Server error codes whose meaning does not depend on where they appear.
_BY_CODE: Mapping[str, type[RtbatchError]] = {
    "invalid_api_key": errors.AuthenticationFailed,
    "beta_api_shape_disabled": errors.DialectRefused,
    "model_not_found": errors.ModelUnavailable,
    "invalid_model": errors.ModelUnavailable,
    "missing_model": errors.ModelUnavailable,
    "model_not_supported": errors.ModelUnavailable,
    "insufficient_quota": errors.QuotaExhausted,
    "session_expired": errors.SessionExpired,
    "rate_limit_exceeded": errors.RateLimited,
    "server_error": errors.ServerError,
}

# Where the code does not decide, the error's type does.
_BY_TYPE: Mapping[str, type[RtbatchError]] = {
    "invalid_request_error": errors.RequestRejected,
    "server_error": errors.ServerError,
    "rate_limit_error": errors.RateLimited,
    "tokens": errors.RateLimited,
    "requests": errors.RateLimited,
    "authentication_error": errors.AuthenticationFailed,
    "insufficient_quota": errors.QuotaExhausted,
}

# "Please try again in 1m26.4s", "… in 6.1s", "… in 850ms"
_TRY_AGAIN = re.compile(r"try again in (?:(\d+)m)?(\d+(?:\.\d+)?)(ms|s)\b")


def classify_server_error(error: Mapping[str, Any] | None) -> RtbatchError:
    """Turn a server ``error`` object into the matching rtbatch error.

    Args:
        error: the ``{"type", "code", "message", …}`` object, or None when the
            server gave no detail (treated as a server error).

    Returns:
        An instance of the most specific class; unknown types are retryable
        server errors, because a retry is capped and an unknown failure is more
        often the service's than the job's.
    """
    if not error:
        return errors.ServerError("the server reported a failure without details")
    code = error.get("code")
    etype = error.get("type")
    message = str(error.get("message") or code or etype or "unknown error")
    cls = _BY_CODE.get(code or "") or _BY_TYPE.get(etype or "") or errors.ServerError
    return cls(message, code=code or etype, retry_after_s=retry_hint(message))


def classify_close(code: int | None, reason: str | None) -> RtbatchError:
    """An error for a WebSocket close that arrived with no ``error`` event before it."""
    text = f"connection closed (code {code}{', ' + reason if reason else ''})"
    if code == 3000:
        return errors.AuthenticationFailed(
            f"the service refused the API key ({text})", code="invalid_api_key", close_code=code
        )
    return errors.ConnectionLost(text, code="connection_closed", close_code=code)


def classify_status(status: int, retry_after: str | None) -> RtbatchError:
    """An error for a refused WebSocket upgrade."""
    text = f"the server refused the WebSocket upgrade with HTTP {status}"
    hint = _parse_retry_after(retry_after)
    if status == 429 or status >= 500:
        return errors.HandshakeRetryable(
            text, code=f"http_{status}", status=status, retry_after_s=hint
        )
    if status == 401:
        return errors.AuthenticationFailed(text, code="http_401", status=status)
    return errors.HandshakeRefused(text, code=f"http_{status}", status=status)


def error_class(exc: BaseException) -> ErrorClass:
    """The branch a failure belongs to; anything not ours is run-fatal (a bug)."""
    if isinstance(exc, RtbatchError):
        return exc.error_class
    return "run"


def retry_hint(message: str) -> float | None:
    """Seconds to wait, when a server message says how long."""
    match = _TRY_AGAIN.search(message)
    if not match:
        return None
    minutes, amount, unit = match.groups()
    seconds = float(amount) / (1000 if unit == "ms" else 1)
    return seconds + 60 * int(minutes or 0)


def _parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def backoff_s(
    policy: RetryPolicy, attempt: int, rng: random.Random, hint_s: float | None = None
) -> float:
    """The wait before the next attempt, after ``attempt`` attempts have failed.

    Full jitter: uniform in ``[0, min(max_s, initial_s * base ** (attempt - 1))]``.
    A server hint replaces the draw (plus a little jitter so that workers told
    the same time do not return in lockstep), capped at ``max_s`` so that an
    outsized hint costs an attempt rather than parking the job for hours.
    """
    if hint_s is not None:
        return min(hint_s, policy.max_s) + rng.uniform(0, min(1.0, policy.initial_s))
    cap = min(policy.max_s, policy.initial_s * policy.base ** max(0, attempt - 1))
    return rng.uniform(0, cap)


def should_retry(
    policy: RetryPolicy, exc: BaseException, attempts: int, elapsed_s: float, wait_s: float
) -> bool:
    """Whether a failed job goes back into the queue."""
    return (
        error_class(exc) == "retryable"
        and attempts < policy.max_attempts
        and elapsed_s + wait_s <= policy.total_s
    )
