"""A conversation's finished turns: what each answered, and the job's output from them.

Pure functions over :class:`TurnRecord`, the unit a conversation is checkpointed in
(:mod:`rtbatch.output.checkpoint`) and resumed from: a turn's entry of
``output.turns``, with the turn's index and a key of what the user said in it, so a
record is reused only for the turn it answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rtbatch.jobs import Job, Turn
from rtbatch.output.transcript import sum_usage

__all__ = [
    "TurnRecord",
    "contiguous_turns",
    "conversation_output",
    "conversation_usage",
    "turn_key",
    "turn_keys",
]


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished turn of a conversation.

    Attributes:
        index: the turn's position in ``turns``, from 0.
        key: :func:`turn_key` of the turn it answered.
        output: its entry of ``output.turns`` (``turn``, ``status``, ``text``, …).
    """

    index: int
    key: str
    output: dict[str, Any]


def turn_key(turn: Turn) -> str:
    """A short digest of what the user says in a turn: its text, or its audio's path.

    An audio file changed in place keeps its key; a checkpoint outlives a run by
    minutes, not by edits, and hashing every file again on each resume would cost
    more than the rare stale answer it prevents.
    """
    said = f"text:{turn.text}" if turn.text is not None else f"audio:{turn.audio}"
    return hashlib.blake2b(said.encode(), digest_size=8).hexdigest()


def turn_keys(job: Job) -> list[str]:
    """The keys of a conversation's turns, in order (none for another kind of job)."""
    return [turn_key(t) for t in job.turns or ()]


def contiguous_turns(records: Mapping[int, TurnRecord], keys: Sequence[str]) -> list[TurnRecord]:
    """The turns a conversation may keep: the run from turn 0, each answering its turn.

    The first turn missing, or whose key is not the job's turn's (the job file
    changed), ends the run: every later answer was given in a context that no
    longer holds.
    """
    done: list[TurnRecord] = []
    while len(done) < len(keys) and (record := records.get(len(done))) is not None:
        if record.key != keys[len(done)]:
            break
        done.append(record)
    return done


def conversation_output(
    records: Sequence[TurnRecord], *, reason: str | None = None
) -> dict[str, Any]:
    """A conversation's ``output``: the last turn's text (and transcript), then every turn.

    Args:
        records: the finished turns, in order.
        reason: why the conversation is incomplete (``output.reason``), if it is.
    """
    last = records[-1].output if records else {}
    output: dict[str, Any] = {"text": last.get("text")}
    if last.get("transcript") is not None:
        output["transcript"] = last["transcript"]
    output["turns"] = [r.output for r in records]
    if reason is not None:
        output["reason"] = reason
    return output


def conversation_usage(records: Sequence[TurnRecord]) -> dict[str, Any] | None:
    """The turns' usage summed: the conversation's own."""
    return sum_usage(r.output.get("usage") for r in records)
