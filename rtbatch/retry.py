"""Classifying failures and pacing retries.

Server ``error`` objects (from an ``error`` event, a failed ``response.done`` or a
failed transcription), WebSocket close reasons and refused upgrades are classified
here, once, into the hierarchy of :mod:`rtbatch.errors`; later code only reads
``error_class``. The backoff policy itself is data (:class:`rtbatch.config.RetryPolicy`);
this module computes waits and decides each failed attempt's fate.

The refusal shapes (``realtime-protocol.md`` section 0):

* ``rate_limit_exceeded`` with a per-minute message ("… on tokens per min (TPM):
  Limit 40000, Used 39000, Requested 2000. Please try again in 1.5s.") is a
  :class:`~rtbatch.errors.RateLimited` carrying the hint and the figures;
* the same code with a per-day message ("… on requests per day (RPD) …") is a
  :class:`~rtbatch.errors.DailyLimitReached`: waiting minutes cannot help;
* ``inference_rate_limit_exceeded`` (type ``invalid_request_error``, no hint) is an
  :class:`~rtbatch.errors.Overloaded`: a refusal for capacity, not a bad request;
* ``account_deactivated``, ``billing_hard_limit_reached`` and ``insufficient_quota``
  are run-fatal: no job of the run can succeed;
* a close reason ``<type>.<code>`` is classified as that error would be.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
    "account_deactivated": errors.AccountUnusable,
    "billing_hard_limit_reached": errors.AccountUnusable,
    "session_expired": errors.SessionExpired,
    "rate_limit_exceeded": errors.RateLimited,
    "inference_rate_limit_exceeded": errors.Overloaded,
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

# "Please try again in 1m26.4s", "… in 6.1s", "… in 850ms", "… in 1h2m3s"
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# "on requests per min (RPM): Limit 600, Used 600, Requested 1"
_FIGURES = re.compile(
    r"on (requests|tokens) per (min|day)\b[^:]*:\s*Limit (\d+)"
    r"(?:,\s*Used (\d+))?(?:,\s*Requested (\d+))?",
    re.IGNORECASE,
)
_DAILY = re.compile(r"\bper day\b|\((?:RPD|TPD)\)", re.IGNORECASE)
# A fatal close carries "<type>.<code>", e.g. "invalid_request_error.invalid_api_key".
_CLOSE_REASON = re.compile(r"([a-z_]+)\.([a-z0-9_]+)")
# GA closes an expired session with 1001 and a sentence, not a code.
_EXPIRED_REASON = re.compile(r"maximum duration", re.IGNORECASE)


def classify_server_error(error: Mapping[str, Any] | None) -> RtbatchError:
    """Turn a server ``error`` object into the matching rtbatch error.

    Args:
        error: the ``{"type", "code", "message", …}`` object, or None when the
            server gave no detail (treated as a server error).

    Returns:
        An instance of the most specific class; unknown types are retryable
        server errors, because a retry is capped and an unknown failure is more
        often the service's than the job's. A rate-limit refusal carries its
        "try again in" as ``retry_after_s`` and its figures as ``limits``; one
        naming a daily limit is a :class:`~rtbatch.errors.DailyLimitReached`.
    """
    if not error:
        return errors.ServerError("the server reported a failure without details")
    code = error.get("code")
    etype = error.get("type")
    message = str(error.get("message") or code or etype or "unknown error")
    cls = _BY_CODE.get(code or "") or _BY_TYPE.get(etype or "") or errors.ServerError
    if cls is errors.RateLimited and _DAILY.search(message):
        cls = errors.DailyLimitReached
    exc = cls(message, code=code or etype, retry_after_s=retry_hint(message))
    if isinstance(exc, errors.RateLimited):
        exc.limits = refusal_limits(message)
    return exc


def refusal_limits(message: str) -> tuple[dict[str, Any], ...]:
    """The per-minute figures a rate-limit message states, as ``rate_limits.updated`` entries.

    Args:
        message: the refusal's message.

    Returns:
        ``({"name", "limit", "remaining", "reset_seconds", "requested"},)`` for a
        per-minute limit with its ``Used`` figure; empty otherwise (a daily limit
        is not paced, it stops the run).
    """
    match = _FIGURES.search(message)
    if not match or match.group(2).lower() != "min" or match.group(4) is None:
        return ()
    name = match.group(1).lower()
    limit, used = int(match.group(3)), int(match.group(4))
    if limit <= 0:
        return ()
    entry: dict[str, Any] = {
        "name": name,
        "limit": limit,
        "remaining": limit - used,  # below 0: a debt the refill repays first
        "reset_seconds": round(min(used, limit) * 60.0 / limit, 3),
    }
    if match.group(5) is not None:
        entry["requested"] = int(match.group(5))
    return (entry,)


def classify_close(code: int | None, reason: str | None) -> RtbatchError:
    """An error for a WebSocket close that arrived with no ``error`` event before it.

    Args:
        code: the close code, if any.
        reason: the close reason; ``<type>.<code>`` is classified as that server
            error would be (a fatal code stops the run; it is no lost connection).

    Returns:
        The most specific error, carrying ``close_code``.
    """
    text = f"connection closed (code {code}{', ' + reason if reason else ''})"
    if reason and (match := _CLOSE_REASON.fullmatch(reason.strip())):
        etype, ecode = match.groups()
        exc = classify_server_error(
            {"type": etype, "code": ecode, "message": f"the service closed the session: {text}"}
        )
        exc.close_code = code
        return exc
    if code == 3000:
        return errors.AuthenticationFailed(
            f"the service refused the API key ({text})", code="invalid_api_key", close_code=code
        )
    if reason and _EXPIRED_REASON.search(reason):
        return errors.SessionExpired(text, code="session_expired", close_code=code)
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
    """Seconds to wait, when a server message says how long ("try again in 1m26.4s")."""
    match = _TRY_AGAIN.search(message)
    if not match:
        return None
    parts = _DURATION_PART.findall(match.group(1))
    return sum(float(amount) * _UNIT_S[unit.lower()] for amount, unit in parts)


def _parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def backoff_s(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random,
    hint_s: float | None = None,
    quick_s: float | None = None,
) -> float:
    """The wait before the next attempt, after ``attempt`` attempts have failed.

    Full jitter: uniform in ``[0, min(max_s, initial_s * base ** (attempt - 1))]``,
    and within ``quick_s`` when given (an isolated failure, :mod:`rtbatch.run.health`).
    A server hint replaces the draw (plus a little jitter so that workers told
    the same time do not return in lockstep), capped at ``max_s`` so that an
    outsized hint costs an attempt rather than parking the job for hours.
    """
    if hint_s is not None:
        return min(hint_s, policy.max_s) + rng.uniform(0, min(1.0, policy.initial_s))
    cap = min(policy.max_s, policy.initial_s * policy.base ** max(0, attempt - 1))
    if quick_s is not None:
        cap = min(cap, quick_s)
    return rng.uniform(0, cap)


#: A capacity refusal (no hint, no figures) says the service is busy now, not that the
#: account is spent: the job alone waits, a full-jitter draw from [0, 0.25 s] doubling
#: with its own refusals up to 4 s, and every other start goes on. A busy service sheds
#: the load of jobs refused again and again; a random refusal costs a quarter-second.
CAPACITY_RETRY_S = 0.25
CAPACITY_RETRY_MAX_S = 4.0

Action = Literal["retry", "fail", "stop", "try_later"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What becomes of a failed attempt.

    ``retry``: back into the queue after ``wait_s``; ``fail``: the job's line is
    ``failed``; ``stop``: the run stops starting jobs (run-fatal); ``try_later``: the
    run stops starting jobs and exits with the try-later code, the job untouched,
    ``wait_s`` being when the limit resets (0 when unknown).
    """

    action: Action
    wait_s: float = 0.0


def is_refusal(exc: BaseException) -> bool:
    """A request the service refused before running it (rate or capacity limits)."""
    return isinstance(exc, errors.RateLimited | errors.HandshakeRetryable) and (
        not isinstance(exc, errors.HandshakeRetryable) or exc.status == 429
    )


def decide(
    exc: BaseException,
    *,
    attempts: int,
    refusals: int,
    elapsed_s: float,
    policy: RetryPolicy,
    rng: random.Random,
    quick_s: float | None = None,
) -> Decision:
    """Decide a failed attempt's fate; pure, so every branch is tested without a loop.

    Args:
        exc: the failure, already classified (an rtbatch error; anything else is a bug
            and stops the run).
        attempts: attempts of this job that ran, this one included.
        refusals: refusals of this job, this one included (see :func:`is_refusal`).
        elapsed_s: time since the job's first attempt.
        policy: the retry policy.
        rng: the run's jitter source.
        quick_s: the wait an isolated failure needs at most (see :func:`backoff_s`).

    Returns:
        The decision. A refusal is retried at once (the pacer holds its start) unless
        its hint is longer than ``policy.max_wait_s`` (try later) or the job has been
        refused ``policy.max_refusals`` times (fail). Other retryable failures back
        off by :func:`backoff_s` within the attempt and time caps.
    """
    cls = error_class(exc)
    if cls == "run":
        return Decision("stop")
    hint = exc.retry_after_s if isinstance(exc, RtbatchError) else None
    if cls == "later":
        return Decision("try_later", hint or 0.0)
    if cls == "job":
        return Decision("fail")
    if hint is not None and hint > policy.max_wait_s:
        return Decision("try_later", hint)
    if is_refusal(exc):
        if refusals >= policy.max_refusals:
            return Decision("fail")
        if isinstance(exc, errors.Overloaded) and hint is None:
            cap = min(CAPACITY_RETRY_MAX_S, CAPACITY_RETRY_S * 2.0 ** max(0, refusals - 1))
            return Decision("retry", rng.uniform(0, cap))
        return Decision("retry", 0.0)
    wait = backoff_s(policy, attempts, rng, hint, quick_s)
    if attempts >= policy.max_attempts or elapsed_s + wait > policy.total_s:
        return Decision("fail")
    return Decision("retry", wait)
