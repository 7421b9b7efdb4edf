"""The gate every generation passes: injected faults first, then the account's limits.

Responses and transcriptions call :func:`admit` before they start and, when it
refuses for good (an account-fatal code), :func:`end_session`. Other refusals are
answered by the caller in its own shape: a response ends ``failed`` with the
refusal's error in ``status_details``; a transcription ends with
``conversation.item.input_audio_transcription.failed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtbatch.emulator.ratelimit import Refusal
from rtbatch.emulator.runtime import Emulator, close

if TYPE_CHECKING:
    from rtbatch.emulator.state import SessionState

__all__ = ["Refusal", "admit", "end_session"]


def admit(
    emulator: Emulator, fault: str | None, model: str, requested: int, key: str
) -> Refusal | None:
    """Admit one generation, or say why not.

    Args:
        emulator: the running emulator (faults, limits, statistics).
        fault: the generation's injected fault, or ``None``.
        model: the model id refusals name.
        requested: tokens it reserves.
        key: names it while in flight; release it with ``emulator.limits.release(key)``.

    Returns:
        ``None`` when admitted, else the refusal (counted in ``stats.rate_limited``
        unless it is account-fatal).
    """
    refusal = emulator.faults.refusal(fault, model, requested, emulator.limits)
    if refusal is None:
        refusal = emulator.limits.admit(model, requested, key)
    if refusal is not None and refusal.close is None:
        emulator.stats.rate_limited += 1
    return refusal


async def end_session(conn: SessionState, refusal: Refusal) -> None:
    """Answer an account-fatal refusal: one ``error`` event, then the server closes.

    Args:
        conn: the connection whose generation was refused.
        refusal: a refusal whose ``close`` is set.

    Raises:
        ConnectionClosed: the link went before the error was sent.
    """
    assert refusal.close is not None
    conn.emulator.stats.errors_sent += 1
    error = {**refusal.error, "param": None, "event_id": None}
    await conn.outbox.send([{"type": "error", "error": error}])
    await close(conn.emulator, conn.outbox.ws, conn.record, *refusal.close)
