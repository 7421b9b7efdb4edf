"""Which handshake or response gets which fault: scheduled first, else seeded dice.

Ordinals are global to one emulator and assigned in arrival order, so a schedule
names exactly one handshake or response, and a seed reproduces the same sequence of
faults by ordinal.
"""

from __future__ import annotations

import random
from collections import Counter

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.defaults import HANDSHAKE_FAULTS, RESPONSE_FAULTS

#: The range of "try again in" an injected rate limit names, in seconds: the size
#: of wait the service's own refusals name when a per-minute budget runs out.
RATE_LIMIT_WAIT_S = (0.2, 2.0)

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
        self.handshakes = 0
        self.responses = 0
        self.injected: Counter[str] = Counter()

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
