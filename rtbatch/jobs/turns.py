"""A conversation's ``turns``: the user's side, one turn at a time, checked into :class:`Turn`.

A turn is an object with exactly one key: ``{"text": "…"}`` (a non-empty string)
or ``{"audio": "path"}`` (a file, relative to the job file's directory as a job's
``audio`` is). Objects only, never bare strings: one shape for every turn, which
can take more keys later without a second spelling.
"""

from __future__ import annotations

from pathlib import Path

from rtbatch.jobs.checks import audio_path, check_known, fail, got, nonempty_str
from rtbatch.jobs.model import Turn

__all__ = ["TURN_KEYS", "parse_turns"]

#: The keys of a turn; exactly one of them.
TURN_KEYS = ("text", "audio")


def parse_turns(value: object, base: Path) -> tuple[Turn, ...]:
    """The ``turns`` of a line; raises :class:`~rtbatch.jobs.checks.Invalid` naming the turn."""
    if not isinstance(value, list) or not value:
        expected = 'expected a non-empty array of {"text": …} or {"audio": …} turns'
        fail("turns", f"{expected}, {got(value)}")
    return tuple(_turn(f"turns[{i}]", item, base) for i, item in enumerate(value))


def _turn(where: str, item: object, base: Path) -> Turn:
    if not isinstance(item, dict):
        fail(where, f'expected an object {{"text": …}} or {{"audio": …}}, {got(item)}')
    check_known(item, TURN_KEYS, f"{where}.")
    if len(item) != 1:
        fail(where, "give text or audio (one a turn)")
    if "text" in item:
        return Turn(text=nonempty_str(f"{where}.text", item["text"]))
    return Turn(audio=audio_path(f"{where}.audio", item["audio"], base))
