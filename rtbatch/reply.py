"""What one try of a job returns: its reply, and where a spoken answer's audio goes.

A ``response.done`` becomes a :class:`JobReply` here, or the rtbatch error its
status and error object stand for (classified by :mod:`rtbatch.retry`); nothing
here does I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from rtbatch import errors, protocol
from rtbatch.events import ErrorDetail, ResponseDone
from rtbatch.retry import classify_server_error

log = logging.getLogger("rtbatch.session")


class AudioOut(Protocol):
    """Where a response's output audio goes; the caller provides it."""

    def add_b64(self, delta: str) -> None:
        """Take one ``output_audio.delta`` payload (base64 PCM16)."""


@dataclass(frozen=True, slots=True)
class JobReply:
    """A job's answer: its final status (completed or incomplete) and what it produced."""

    status: str
    output: dict[str, Any]
    usage: dict[str, Any] | None
    response_id: str | None
    #: The stages the try reached, in ms (:mod:`rtbatch.latency`); set by the session.
    latency: dict[str, int] | None = None

    @property
    def total_tokens(self) -> int:
        """The usage's ``total_tokens`` (0 when the service gave none)."""
        total = (self.usage or {}).get("total_tokens")
        return total if isinstance(total, int) else 0


def answers_job(done: ResponseDone, job_id: str) -> bool:
    """Whether a ``response.done`` answers this job (by the metadata it echoes).

    Only one job runs on a session at a time, so a mismatch means a stray
    response, which must not be written under this job's id.
    """
    metadata = done.response.metadata
    if metadata is None or "job_id" not in metadata:
        return True  # a server that does not echo metadata: one job at a time decides
    matches = metadata["job_id"] == protocol.metadata_job_id(job_id)
    if not matches:
        log.warning("ignored a response.done for another job")
    return matches


def classified(error: ErrorDetail | None) -> errors.RtbatchError:
    """A server error object as its rtbatch error (no object: a server error)."""
    return classify_server_error(error.as_dict() if error is not None else None)


def answered(result: protocol.ResponseResult) -> protocol.ResponseResult:
    """A read ``response.done`` that answered (completed or incomplete), as it is.

    Raises:
        RtbatchError: the response failed or ended otherwise; already classified.
    """
    if result.status == "failed":
        raise classified(result.error)
    if result.status not in ("completed", "incomplete"):
        raise errors.ServerError(f"the response ended {result.status}", code=result.status)
    return result


def reply_of(result: protocol.ResponseResult) -> JobReply:
    """A read ``response.done`` as the job's reply.

    Raises:
        RtbatchError: the response failed or ended otherwise than completed or
            incomplete; already classified.
    """
    answered(result)
    output: dict[str, Any] = {"text": result.text}
    if result.transcript is not None:
        output["transcript"] = result.transcript
    if result.status == "incomplete":
        output["reason"] = result.reason
    return JobReply(result.status, output, result.usage, result.response_id)
