"""The one translation of a failed write of our outputs into :class:`~rtbatch.errors.OutputFailed`.

Results, checkpoints, transcripts and spoken answers all fail the same way (a full
disk, a vanished directory): the run must stop as run-fatal, never retry, and say
which output failed. Every write of ours goes through :func:`writing`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rtbatch.errors import OutputFailed


@contextmanager
def writing(what: object) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into ``OutputFailed`` naming ``what``.

    Args:
        what: the output being written, as the message names it ("results",
            a path, ...).

    Raises:
        OutputFailed: ``cannot write <what>: <reason>``, chained to the ``OSError``.
    """
    try:
        yield
    except OSError as exc:
        raise OutputFailed(f"cannot write {what}: {exc.strerror or exc}") from exc
