"""The one place a job's wait on the service turns its failures into rtbatch errors.

:class:`~rtbatch.session.Session` runs its start and every job inside
:func:`boundary`: a frame that does not decode (:class:`~rtbatch.events.MalformedEvent`)
is a protocol error, the idle and job deadlines are response timeouts, and a resume
point that no longer fits its file is a checkpoint mismatch. Nothing else is caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from rtbatch import errors
from rtbatch.audio.segments import SegmentMismatch
from rtbatch.events import MalformedEvent


class Silent(Exception):
    """The server sent nothing for the idle deadline while a job waited on it."""


@contextmanager
def boundary(
    deadline_code: str, deadline_message: str, *, audio: Path | None = None
) -> Iterator[None]:
    """The one place a session's own failures become rtbatch errors (see :mod:`rtbatch.session`).

    ``audio`` names the file a segment mismatch is about.
    """
    try:
        yield
    except SegmentMismatch as exc:
        name = audio.name if audio is not None else "the audio"
        raise errors.CheckpointMismatch(
            f"the recorded segments do not fit {name} as it is now: {exc}"
        ) from None
    except MalformedEvent as exc:
        raise errors.ProtocolError(str(exc), code="malformed_event") from None
    except Silent as exc:
        raise errors.ResponseTimeout(str(exc), code="idle_timeout") from None
    except trio.TooSlowError:
        raise errors.ResponseTimeout(deadline_message, code=deadline_code) from None
