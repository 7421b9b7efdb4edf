"""Which handshake or response gets which fault: scheduled first, else seeded dice.

Ordinals are global to one emulator and assigned in arrival order, so a schedule
names exactly one handshake or response, and a seed reproduces the same sequence of
faults by ordinal.

Four faults refuse a generation before it starts (:meth:`FaultPlanner.refusal`):
``rate_limit`` (a per-minute token limit, a sub-second to two-second wait),
``rpd`` (the daily request limit), ``inference_rate_limit`` (the capacity refusal)
and ``account_fatal``. The last one is sticky, as a dead account is: from the
generation it hits on, every generation of every connection gets the same ``error``
and its connection is closed (reason ``invalid_request_error.<code>``).
"""

from __future__ import annotations

import random
from collections import Counter

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.defaults import HANDSHAKE_FAULTS, RESPONSE_FAULTS
from rtbatch.emulator.ratelimit import (
    DAY_S,
    AccountLimits,
    Refusal,
    capacity_refusal,
    rate_limit_refusal,
)

#: The range of "try again in" an injected rate limit names, in seconds: the size
#: of wait the service's own refusals name when a per-minute budget runs out.
RATE_LIMIT_WAIT_S = (0.2, 2.0)
#: The daily limit an ``rpd`` fault names when no ``rpd`` is configured: the captured
#: refusal's "Limit 1000" (so its wait is 1m26.4s, as captured).
FAULT_RPD_LIMIT = 1000

#: Close code after an account-fatal error. The service's number is UNCONFIRMED (only the
#: reason ``invalid_request_error.<code>`` was reported): a refused credential closes 3000
#: as ``invalid_api_key`` does; quota and billing close 4000, the service's code for the
#: other session-ending ``invalid_request_error``s.
_ACCOUNT_CLOSE = {"account_deactivated": 3000}
_ACCOUNT_CLOSE_DEFAULT = 4000
#: ``error.type`` and message per account-fatal code, as the REST API words them.
_ACCOUNT_ERRORS = {
    "account_deactivated": (
        "invalid_request_error",
        "This key is associated with a deactivated account. If you feel this is an error, "
        "contact us through our help center at help.openai.com.",
    ),
    "billing_hard_limit_reached": (
        "invalid_request_error",
        "Billing hard limit has been reached",
    ),
    "insufficient_quota": (
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
    ),
}

#: Deltas sent before a ``drop`` cuts the connection ("mid-response").
DROP_AFTER_DELTAS = 2
#: Deltas sent before a ``stall`` goes silent.
STALL_AFTER_DELTAS = 1
#: Deltas sent before the non-JSON frame of ``invalid_frame``.
INVALID_FRAME_AFTER_DELTAS = 1
#: The non-JSON text frame sent by ``invalid_frame``.
INVALID_FRAME = "\x00rtbatch-emulator: invalid frame {not json"


class FaultPlanner:
    """Hands out ordinals and the fault (if any) for each.

    Args:
        config: the emulator's settings (``faults``, ``schedule``, ``seed``).
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._schedule_handshakes = config.schedule.handshakes
        self._schedule_responses = config.schedule.responses
        self._rates_handshake = sorted(
            (k, v) for k, v in config.faults.items() if k in HANDSHAKE_FAULTS and v > 0
        )
        self._rates_response = sorted(
            (k, v) for k, v in config.faults.items() if k in RESPONSE_FAULTS and v > 0
        )
        self._rng_handshake = random.Random(f"{config.seed}:handshake")
        self._rng_response = random.Random(f"{config.seed}:response")
        self._rng_wait = random.Random(f"{config.seed}:wait")
        self._fatal_code = config.account_fatal_code
        self.handshakes = 0
        self.responses = 0
        self.injected: Counter[str] = Counter()
        #: The account-fatal code in force once an ``account_fatal`` fault has fired.
        self.account_fatal: str | None = None

    def next_handshake(self) -> str | None:
        """Take the next handshake ordinal; return its fault kind or ``None``."""
        ordinal = self.handshakes
        self.handshakes += 1
        kind = self._schedule_handshakes.get(ordinal) or _roll(
            self._rng_handshake, self._rates_handshake
        )
        if kind:
            self.injected[kind] += 1
        return kind

    def next_response(self) -> str | None:
        """Take the next response ordinal; return its fault kind or ``None``."""
        ordinal = self.responses
        self.responses += 1
        kind = self._schedule_responses.get(ordinal) or _roll(
            self._rng_response, self._rates_response
        )
        if kind:
            self.injected[kind] += 1
        return kind

    def retry_wait(self) -> float:
        """The "try again in" of an injected rate limit: 0.2 to 2 s, seeded."""
        return round(self._rng_wait.uniform(*RATE_LIMIT_WAIT_S), 3)

    def refusal(
        self, kind: str | None, model: str, requested: int, limits: AccountLimits
    ) -> Refusal | None:
        """The refusal a generation's fault makes, or the dead account's.

        Args:
            kind: the generation's fault (from :meth:`next_response`), or ``None``.
            model: the model id the message names.
            requested: the tokens the generation would reserve.
            limits: the account's limits (their sizes go into the messages).

        Returns:
            ``None`` when no fault refuses the generation.
        """
        if kind == "account_fatal":
            self.account_fatal = self._fatal_code
        if self.account_fatal is not None:
            return account_refusal(self.account_fatal)
        if kind == "rate_limit":
            # The budget is spent and frees in a moment: a plausible wait, not one
            # derived from an impossible request.
            cap = limits.tokens.capacity
            return rate_limit_refusal("tokens", model, cap, cap, requested, self.retry_wait())
        if kind == "rpd":
            daily = limits.daily.capacity if limits.daily is not None else FAULT_RPD_LIMIT
            return rate_limit_refusal("rpd", model, daily, daily, 1, DAY_S / daily)
        if kind == "inference_rate_limit":
            return capacity_refusal()
        return None


def account_refusal(code: str) -> Refusal:
    """The ``error`` of an account-fatal ``code`` and the close that follows it.

    Args:
        code: one of :data:`~rtbatch.emulator.defaults.ACCOUNT_FATAL_CODES`.

    Returns:
        A refusal whose ``close`` is ``(close code, "invalid_request_error.<code>")``.
    """
    error_type, message = _ACCOUNT_ERRORS[code]
    close = (_ACCOUNT_CLOSE.get(code, _ACCOUNT_CLOSE_DEFAULT), f"invalid_request_error.{code}")
    return Refusal(code, error_type, code, message, close)


def _roll(rng: random.Random, rates: list[tuple[str, float]]) -> str | None:
    if not rates:
        return None
    # One draw per ordinal, whatever the outcome, keeps the sequence reproducible.
    draw = rng.random()
    for kind, rate in rates:
        if draw < rate:
            return kind
        draw -= rate
    return None
