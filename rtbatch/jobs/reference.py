"""A transcribe job's ``reference``: the text its transcript is scored against (WER).

Two shapes, as ``docs/jobs.md`` gives them::

    "reference": "the words that were said"
    "reference": {"path": "refs/call-17.txt"}

A path is resolved as ``audio`` is, relative to the job file's directory, and the
file is read (UTF-8, at most :data:`~rtbatch.defaults.MAX_REFERENCE_BYTES`) when
the line is read, so a missing or unreadable reference refuses the file before
anything is sent, naming its line. The scoring itself is
:mod:`rtbatch.evals.wer`'s.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from rtbatch.defaults import MAX_REFERENCE_BYTES
from rtbatch.jobs.checks import check_known, fail, got, nonempty_str

FIELD = "reference"
_SHAPES = 'a non-empty string, or {"path": "file.txt"}'


def reference_text(value: object, base: Path) -> str:
    """The reference's text, from the field's value; raises Invalid when it is unusable.

    Args:
        value: the line's ``reference``.
        base: the directory relative paths are resolved against (the job file's).
    """
    if isinstance(value, dict):
        check_known(value, ("path",), f"{FIELD}.")
        if "path" not in value:
            fail(f"{FIELD}.path", "required")
        text = _read(base / nonempty_str(f"{FIELD}.path", value["path"]))
        where = f"{FIELD}.path"
    elif isinstance(value, str) and value:
        text, where = value, FIELD
    else:
        fail(FIELD, f"expected {_SHAPES}, {got(value)}")
    # The normaliser keeps letters, digits and marks only (rtbatch.evals.wer): a text
    # without any has no words, and no transcript could be scored against it.
    if not any(unicodedata.category(c)[0] in "LNM" for c in text):
        fail(where, "has no words (no letter or digit) to score a transcript against")
    return text


def _read(path: Path) -> str:
    where = f"{FIELD}.path"
    if "\x00" in str(path):
        fail(where, "path contains a NUL character")
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_REFERENCE_BYTES + 1)
    except FileNotFoundError:
        fail(where, f"file not found: {path}")
    except IsADirectoryError:
        fail(where, f"not a regular file: {path}")
    except OSError as exc:
        fail(where, f"cannot read {path}: {exc.strerror or exc}")
    if len(data) > MAX_REFERENCE_BYTES:
        fail(where, f"{path} is longer than {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as bad:
        fail(where, f"{path} is not UTF-8 text (byte 0x{data[bad.start]:02x} at {bad.start})")
