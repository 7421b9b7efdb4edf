"""The one error hierarchy of rtbatch.

Every failure is classified once, where it happens, into one of three branches::

    RtbatchError
    ├── RetryableError            the job may succeed if tried again later
    │   ├── ConnectionLost        the socket closed or broke mid-session
    │   ├── HandshakeRetryable    the upgrade was refused with 429 or 5xx
    │   ├── ServerError           the service failed the response (server_error)
    │   ├── ProtocolError         a server event was malformed or unexpected
    │   ├── RateLimited           the service refused for rate limits (a refusal)
    │   │   └── Overloaded        the service refused for capacity (inference_rate_limit_exceeded)
    │   ├── CheckpointMismatch    recorded segments do not fit the file: start it over
    │   ├── SessionExpired        the session hit its maximum duration
    │   └── ResponseTimeout       no answer within the job's deadline
    ├── TryLaterError             a limit resets later than the run can wait: stop, rerun later
    │   └── DailyLimitReached     the requests-per-day limit is spent
    ├── JobError                  this job can never succeed as written
    │   ├── InvalidJob            the job line is malformed
    │   ├── BadAudio              the job's audio cannot be read or decoded
    │   └── RequestRejected       the service rejected the job's request
    └── RunFatalError             no job can succeed: stop starting jobs
        ├── AuthenticationFailed  the API key was refused
        ├── ModelUnavailable      the model is unknown, shut down or not realtime
        ├── QuotaExhausted        the account has no quota left (insufficient_quota)
        ├── AccountUnusable       the account is deactivated or at its billing hard limit
        ├── DialectRefused        the service no longer speaks the beta dialect
        ├── ConfigurationRejected the service refused the session configuration
        ├── HandshakeRefused      the upgrade was refused with another 4xx
        ├── EndpointUnreachable   nothing accepts connections at the endpoint
        ├── OutputFailed          a result, transcript or audio file cannot be written
        └── InternalError         an unexpected exception of rtbatch's own (a bug)

Outside it, errors a command or a module handles itself (never a job's fate)::

    Exception
    ├── CheckFailed               rtbatch.catalogue_check: an endpoint's model list cannot be had
    ├── Silent                    rtbatch.boundary: the server was silent for the idle deadline
    ├── JobFileError              rtbatch.jobs.reader: the job file cannot be read
    ├── Invalid                   rtbatch.jobs.checks: one field of a job line is wrong
    ├── LockBusy                  rtbatch.output.lock: another run holds the result file
    ├── MergeError                rtbatch.shards.merge: shard result files cannot be merged
    ├── ResultFileError           rtbatch.evals.records: a result file cannot be read for evaluation
    ├── ModelUnusable             rtbatch.runner: the run's transcription model cannot be used
    ├── WebSocketError            rtbatch.websocket: the client's WebSocket failed (translated
    │   │                         once, by rtbatch.transport)
    │   ├── ConnectTimeout        ... no open WebSocket within the connect timeout
    │   ├── HandshakeFailed       ... the answer to the upgrade was no WebSocket's
    │   ├── Rejected              ... the upgrade was answered with another HTTP status
    │   ├── Closed                ... the connection closed or broke
    │   └── CloseTimeout          ... the peer did not answer the close
    ├── ClientError               rtbatch.emulator.errors: the emulator's answer to a bad event
    │   └── FatalClientError      ... after which it closes the connection
    └── ValueError
        ├── InputError            rtbatch.audio.discover: a transcribe PATH names no audio
        ├── SegmentMismatch       rtbatch.audio.segments: recorded segments do not fit the file
        ├── MalformedEvent        rtbatch.events: a server event does not decode
        ├── ShardError            rtbatch.shards.partition: a shard cannot be worked out
        └── ToolFileError         rtbatch.jobs.tools: the --tools file is unreadable or bad

Each error carries the context a log line or a result needs: the server's
``code``, the WebSocket close code or handshake status where there is one, and the
job id and attempt once the pool knows them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

ErrorClass = Literal["retryable", "later", "job", "run"]


class RtbatchError(Exception):
    """Base of every error rtbatch raises on purpose."""

    error_class: ClassVar[ErrorClass]
    #: The ``type`` written to a result's ``error`` object.
    kind: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        close_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.close_code = close_code
        self.retry_after_s = retry_after_s
        self.job_id: str | None = None
        self.attempt: int | None = None

    def to_result(self) -> dict[str, object]:
        """The ``error`` object of a result line."""
        out: dict[str, object] = {"type": self.kind, "code": self.code, "message": self.message}
        if self.status is not None:
            out["status"] = self.status
        if self.close_code is not None:
            out["close_code"] = self.close_code
        return out


class RetryableError(RtbatchError):
    """Raised when a job failed for a transient reason and may be tried again."""

    error_class = "retryable"


class ConnectionLost(RetryableError):
    """Raised when the WebSocket closed or broke while a session was in use."""

    kind = "connection_lost"


class HandshakeRetryable(RetryableError):
    """Raised when the WebSocket upgrade was refused with 429 or a 5xx status."""

    kind = "handshake_rejected"


class ServerError(RetryableError):
    """Raised when the service reported a server error for a response."""

    kind = "server_error"


class RateLimited(RetryableError):
    """Raised when the service refused a request for rate limits.

    ``limits`` holds the refused limit's figures when the message gave them, as
    ``rate_limits.updated`` entries (plus ``requested``), for the pacer.
    """

    kind = "rate_limited"
    limits: tuple[dict[str, Any], ...] = ()


class ProtocolError(RetryableError):
    """Raised when a server event is malformed or unexpected; names its type, never its payload."""

    kind = "protocol_error"


class Overloaded(RateLimited):
    """Raised when the service refused a response for capacity (inference_rate_limit_exceeded)."""

    kind = "overloaded"


class CheckpointMismatch(RetryableError):
    """Raised when a long file's recorded segments do not fit it (it or the settings changed)."""

    kind = "checkpoint_mismatch"


class SessionExpired(RetryableError):
    """Raised when the session reached the service's maximum duration."""

    kind = "session_expired"


class ResponseTimeout(RetryableError):
    """Raised when a network wait (connect, session, response) passed its deadline."""

    kind = "timeout"


class TryLaterError(RtbatchError):
    """Raised when a limit resets later than the run can usefully wait; a rerun resumes.

    ``retry_after_s`` says when the limit resets, where the service said so.
    """

    error_class = "later"
    kind = "try_later"


class DailyLimitReached(TryLaterError):
    """Raised when the account's requests-per-day limit is spent."""

    kind = "daily_limit"


class JobError(RtbatchError):
    """Raised when the job itself is at fault; retrying cannot help."""

    error_class = "job"


class InvalidJob(JobError):
    """Raised when a job line is malformed (see :mod:`rtbatch.jobs`)."""

    kind = "invalid_job"


class BadAudio(JobError):
    """Raised when a job's audio file is missing, unreadable, corrupt, empty or too short."""

    kind = "bad_audio"


class RequestRejected(JobError):
    """Raised when the service rejected this job's request (``invalid_request_error``)."""

    kind = "invalid_request"


class RunFatalError(RtbatchError):
    """Raised when no job can succeed; the run stops starting jobs."""

    error_class = "run"


class AuthenticationFailed(RunFatalError):
    """Raised when the service refused the API key."""

    kind = "authentication"


class ModelUnavailable(RunFatalError):
    """Raised when the model is unknown, shut down, or does not support realtime."""

    kind = "model_unavailable"


class QuotaExhausted(RunFatalError):
    """Raised when the account has no quota left."""

    kind = "quota_exhausted"


class AccountUnusable(RunFatalError):
    """Raised when the account is deactivated or has reached its billing hard limit."""

    kind = "account_unusable"


class DialectRefused(RunFatalError):
    """Raised when the service refuses the beta dialect (``beta_api_shape_disabled``)."""

    kind = "dialect_refused"


class ConfigurationRejected(RunFatalError):
    """Raised when the service refuses the session configuration rtbatch sends."""

    kind = "configuration_rejected"


class HandshakeRefused(RunFatalError):
    """Raised when the WebSocket upgrade was refused with a 4xx other than 429."""

    kind = "handshake_refused"


class EndpointUnreachable(RunFatalError):
    """Raised when nothing accepted a TCP connection at the endpoint for the run's patience."""

    kind = "unreachable"


class OutputFailed(RunFatalError):
    """Raised when a result, transcript or audio file cannot be written (a full disk, say)."""

    kind = "output_failed"


class InternalError(RunFatalError):
    """Raised at the run boundary for an unexpected exception of rtbatch's own (a bug)."""

    kind = "internal_error"
