"""The server events rtbatch reads, as typed structures decoded and checked in one place.

A frame is decoded once. Its type is read from the frame's opening
(``{"type":"NAME"``, how the service writes every event) and the frame decoded
straight into that type's structure; a frame that opens otherwise, or whose type
rtbatch does not read, is decoded as its envelope (``type`` and ``event_id``) and,
when the envelope names a type rtbatch reads, once more into its structure.
Every field is checked against its declared type as it is decoded (``msgspec``
does this in C, faster than ``orjson.loads`` builds the dicts it replaces), so no
code after :func:`decode` meets a value of an unknown type: a ``"x"`` where a
number belongs, a missing ``item_id``, a list where an object belongs, a frame
cut short. Each is a :class:`MalformedEvent` that names the event type and the
path of the field, never a value from the payload.

Fields are those of the ``openai`` SDK's models (``openai/types/realtime``, GA, and
``openai/types/beta/realtime``); unknown fields are ignored, as the SDK ignores
them, so a service that adds one breaks nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

#: A non-empty string (an id the protocol requires).
Id = Annotated[str, Meta(min_length=1)]


class MalformedEvent(ValueError):
    """Raised when a server frame is not an event of its documented shape.

    The message names the event type and the field, never the payload's values.
    """


class Event(Struct, kw_only=True):
    """A server event of a type rtbatch does not read: only its envelope."""

    type: str
    event_id: str | None = None


class Fields(Struct, kw_only=True, omit_defaults=True):
    """An object of optional fields, handed on as a plain dict of those that were sent."""

    def as_dict(self) -> dict[str, Any]:
        """The fields that were sent, as plain values (their types already checked)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class ErrorDetail(Fields, kw_only=True, omit_defaults=True):
    """The ``error`` object of an ``error`` event, a failed response or transcription."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
    event_id: str | None = None


class ErrorEvent(Event, kw_only=True):
    """``error``."""

    error: ErrorDetail


class RateLimit(Fields, kw_only=True, omit_defaults=True):
    """One entry of ``rate_limits.updated``."""

    name: str | None = None
    limit: float | None = None
    remaining: float | None = None
    reset_seconds: float | None = None


class RateLimitsUpdated(Event, kw_only=True):
    """``rate_limits.updated``."""

    rate_limits: list[RateLimit]


class SessionInfo(Struct, kw_only=True):
    """What rtbatch reads of a session object: when the service will expire it."""

    expires_at: float | None = None


class SessionEvent(Event, kw_only=True):
    """``session.created`` / ``session.updated`` (beta: ``transcription_session.*``)."""

    session: SessionInfo | None = None


class Committed(Event, kw_only=True):
    """``input_audio_buffer.committed``: the buffer became the user item ``item_id``."""

    item_id: Id


class TokenDetails(Fields, kw_only=True, omit_defaults=True):
    """Token counts by kind (``input_token_details``, ``output_token_details``)."""

    cached_tokens: int | None = None
    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None
    cached_tokens_details: TokenDetails | None = None


class Usage(Fields, kw_only=True, omit_defaults=True):
    """A response's or a transcription's usage (tokens, or ``duration`` seconds)."""

    type: str | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    seconds: float | None = None
    input_token_details: TokenDetails | None = None
    output_token_details: TokenDetails | None = None


class TranscriptionCompleted(Event, kw_only=True):
    """``conversation.item.input_audio_transcription.completed``."""

    item_id: Id
    transcript: str
    usage: Usage | None = None


class TranscriptionDelta(Event, kw_only=True):
    """``conversation.item.input_audio_transcription.delta``: a transcript has begun."""

    item_id: Id


class TranscriptionFailed(Event, kw_only=True):
    """``conversation.item.input_audio_transcription.failed``."""

    item_id: Id
    error: ErrorDetail | None = None


class AudioDelta(Event, kw_only=True):
    """``response.output_audio.delta``: base64 PCM16 of the answer."""

    delta: str


class ContentPart(Struct, kw_only=True):
    """A content part of an output item."""

    type: str
    text: str | None = None
    transcript: str | None = None


class OutputItem(Struct, kw_only=True):
    """An output item of a response: a message (its content), or a ``function_call``.

    A call's ``call_id``, ``name`` and ``arguments`` are optional here, since other
    item types lack them; :func:`rtbatch.protocol.read_response` requires them of
    a ``function_call``.
    """

    type: str
    id: str | None = None
    content: list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class StatusDetails(Struct, kw_only=True):
    """Why a response ended as it did."""

    type: str | None = None
    reason: str | None = None
    error: ErrorDetail | None = None


ResponseStatus = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]


class Response(Struct, kw_only=True):
    """The response object of ``response.done``."""

    status: ResponseStatus
    id: str | None = None
    status_details: StatusDetails | None = None
    output: list[OutputItem] | None = None
    usage: Usage | None = None
    metadata: dict[str, str] | None = None


class ResponseDone(Event, kw_only=True):
    """``response.done``."""

    response: Response


#: The structure of every event type rtbatch reads, by its GA name.
_TYPES: dict[str, type[Event]] = {
    "error": ErrorEvent,
    "rate_limits.updated": RateLimitsUpdated,
    "session.created": SessionEvent,
    "session.updated": SessionEvent,
    "input_audio_buffer.committed": Committed,
    "conversation.item.input_audio_transcription.delta": TranscriptionDelta,
    "conversation.item.input_audio_transcription.completed": TranscriptionCompleted,
    "conversation.item.input_audio_transcription.failed": TranscriptionFailed,
    "response.output_audio.delta": AudioDelta,
    "response.done": ResponseDone,
}
_ENVELOPE = msgspec.json.Decoder(Event)
_DECODERS = {name: msgspec.json.Decoder(cls) for name, cls in _TYPES.items()}
# msgspec quotes a refused value ("Invalid enum value 'x'"); a payload value never
# reaches a log line or a result.
_QUOTED_VALUE = re.compile(r"value '.*' - at", re.DOTALL)


_OPENING = '{"type":"'


def decode(frame: str | bytes, canonical: dict[str, str] | None = None) -> Event:
    """One server frame as its typed event (type in GA spelling).

    Args:
        frame: the text of one WebSocket message.
        canonical: beta event names → their GA names (the dialect's spelling).

    Returns:
        A structure of :data:`_TYPES` for the types rtbatch reads, else the bare
        :class:`Event` envelope.

    Raises:
        MalformedEvent: the frame is not a JSON object with a string ``type``, or a
            field of an event rtbatch reads has the wrong type or is missing.
    """
    name = _opening_type(frame)
    if name is not None:
        name = canonical.get(name, name) if canonical else name
    if name not in _DECODERS:
        try:
            envelope = _ENVELOPE.decode(frame)
        except msgspec.DecodeError as exc:
            raise MalformedEvent(f"a frame that is not a server event ({_clean(exc)})") from None
        name = canonical.get(envelope.type, envelope.type) if canonical else envelope.type
        if name not in _DECODERS:
            envelope.type = name
            return envelope
    try:
        event = _DECODERS[name].decode(frame)
    except msgspec.DecodeError as exc:
        raise MalformedEvent(f"{name}: {_clean(exc)}") from None
    event.type = name
    return event


def _opening_type(frame: str | bytes) -> str | None:
    """The type a frame names in its opening, or None when it opens otherwise.

    Only a shortcut: the type is decoded again with the rest of the frame, so a
    frame whose opening misleads fails that decode as any malformed frame does.
    """
    if not isinstance(frame, str) or not frame.startswith(_OPENING):
        return None
    end = frame.find('"', len(_OPENING))
    return frame[len(_OPENING) : end] if end > 0 else None


def _clean(exc: Exception) -> str:
    return _QUOTED_VALUE.sub("value - at", str(exc))
