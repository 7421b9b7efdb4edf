"""Client events to send and server events to read, in both dialects.

This module is pure: no trio, no I/O. It is the only place on the client side
that knows the beta dialect (``OpenAI-Beta: realtime=v1``) from the GA one;
everything else speaks GA event names, which :func:`canonical_type` maps beta
names onto.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from rtbatch import events
from rtbatch.defaults import AudioFormat
from rtbatch.events import ErrorDetail, MalformedEvent
from rtbatch.models import DialectName

SessionKind = Literal["realtime", "transcription"]
Event = dict[str, Any]  # a client event, as sent
#: One turn of a text input, (role, content): plain values, so that this layer
#: reads no job model.
Turn = tuple[str, str]


class ResponseSettings(Protocol):
    """The per-response settings read here; a job's options have this shape.

    Declared structurally, so the protocol layer needs no import of the job
    model: :class:`rtbatch.jobs.ResponseOptions` satisfies it as it stands.
    """

    @property
    def max_output_tokens(self) -> int | Literal["inf"] | None: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def output_modalities(self) -> Sequence[str] | None: ...
    @property
    def voice(self) -> str | None: ...
    @property
    def reasoning_effort(self) -> str | None: ...


BETA_HEADER = (b"OpenAI-Beta", b"realtime=v1")
# The service caps metadata values at 512 characters.
METADATA_VALUE_CHARS = 512

# Beta server event names → their GA names. Everything else is named alike.
_BETA_TO_GA = {
    "conversation.item.created": "conversation.item.added",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "transcription_session.created": "session.created",
    "transcription_session.updated": "session.updated",
}

_GA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}


def connect_url(base_url: str, model: str, kind: SessionKind) -> str:
    """The WebSocket URL for a session: ``?model=`` or ``?intent=transcription``.

    Query parameters already on ``base_url`` (an Azure ``api-version``, say) are kept.
    """
    parts = urlsplit(base_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("model", "intent")]
    if kind == "transcription":
        query.append(("intent", "transcription"))
    else:
        query.append(("model", model))
    return urlunsplit(parts._replace(query=urlencode(query)))


def handshake_headers(api_key: str, dialect: DialectName) -> list[tuple[bytes, bytes]]:
    """The upgrade request's extra headers: the key, and the beta marker when asked."""
    headers = [(b"Authorization", b"Bearer " + api_key.encode())]
    if dialect == "beta":
        headers.append(BETA_HEADER)
    return headers


def session_update(
    dialect: DialectName,
    kind: SessionKind,
    *,
    audio_format: AudioFormat = "pcm16",
    transcription: dict[str, str] | None = None,
) -> Event:
    """Configure a fresh session for batch work: no turn detection, text output.

    Batch jobs commit their own audio, so server VAD (on by default) is switched
    off; output modalities are chosen per response.
    """
    if dialect == "beta":
        return _beta_session_update(kind, audio_format, transcription)
    audio_input: dict[str, Any] = {"format": _GA_FORMATS[audio_format], "turn_detection": None}
    if kind == "transcription":
        audio_input["transcription"] = transcription or {}
        session: dict[str, Any] = {"type": "transcription", "audio": {"input": audio_input}}
    else:
        session = {
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {"input": audio_input},
        }
    return {"type": "session.update", "session": session}


def _beta_session_update(
    kind: SessionKind, audio_format: AudioFormat, transcription: dict[str, str] | None
) -> Event:
    if kind == "transcription":
        return {
            "type": "transcription_session.update",
            "session": {
                "input_audio_format": audio_format,
                "input_audio_transcription": transcription or {},
                "turn_detection": None,
            },
        }
    return {
        "type": "session.update",
        "session": {
            "modalities": ["text"],
            "input_audio_format": audio_format,
            "turn_detection": None,
        },
    }


def transcription_settings(
    model: str,
    language: str | None,
    prompt: str | None,
    languages: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The transcription object of a session update, without empty fields."""
    out: dict[str, Any] = {"model": model}
    if language:
        out["language"] = language
    if languages:
        out["languages"] = list(languages)
    if prompt:
        out["prompt"] = prompt
    return out


def response_create(
    dialect: DialectName,
    *,
    job_id: str,
    event_id: str,
    turns: Sequence[Turn] = (),
    audio_item_id: str | None = None,
    instructions: str | None,
    options: ResponseSettings,
    extra_items: Sequence[Event] = (),
    tools: Event | None = None,
) -> Event:
    """An out-of-band ``response.create`` holding everything the job needs.

    Out of band (``conversation: "none"``) with the job's own items as ``input``
    (``audio_item_id`` when set, else ``turns``), so no job ever sees another
    job's turns on a reused connection. The job id travels in ``metadata`` and
    comes back on ``response.done``. A tool job's later rounds add its calls and
    their outputs so far (``extra_items``, after the job's items) and every round
    its function calling fields (``tools``, from :func:`tool_fields`).

    Options the dialect does not have (GA has no temperature) are refused by job
    validation before anything is sent; they are never sent here.
    """
    items = (
        [item_reference(audio_item_id)]
        if audio_item_id is not None
        else [message_item(dialect, role, content) for role, content in turns]
    )
    response: dict[str, Any] = {
        "conversation": "none",
        "metadata": {"job_id": metadata_job_id(job_id)},
        "input": [*items, *extra_items],
    }
    if instructions is not None:
        response["instructions"] = instructions
    _apply_options(dialect, options, response)
    if tools is not None:
        response.update(tools)
    return {"type": "response.create", "event_id": event_id, "response": response}


def metadata_job_id(job_id: str) -> str:
    """The job id as it travels in ``metadata`` (values are capped at 512 characters)."""
    return job_id[:METADATA_VALUE_CHARS]


def message_item(dialect: DialectName, role: str, content: str) -> Event:
    """A text message of an out-of-band ``input``: the user's, or an answer replayed."""
    if role == "assistant":
        part_type = "text" if dialect == "beta" else "output_text"
    else:
        part_type = "input_text"
    return {
        "type": "message",
        "role": role,
        "content": [{"type": part_type, "text": content}],
    }


def item_reference(item_id: str) -> Event:
    """An item of the conversation (committed audio) named in an out-of-band ``input``."""
    return {"type": "item_reference", "id": item_id}


def _apply_options(dialect: DialectName, opts: ResponseSettings, response: Event) -> None:
    wants_audio = opts.output_modalities is not None and "audio" in opts.output_modalities
    if dialect == "beta":
        response["modalities"] = ["audio", "text"] if wants_audio else ["text"]
        if opts.max_output_tokens is not None:
            response["max_response_output_tokens"] = opts.max_output_tokens
        if opts.temperature is not None:
            response["temperature"] = opts.temperature
        if opts.voice is not None:
            response["voice"] = opts.voice
        return
    response["output_modalities"] = ["audio"] if wants_audio else ["text"]
    if opts.max_output_tokens is not None:
        response["max_output_tokens"] = opts.max_output_tokens
    if opts.reasoning_effort is not None:
        response["reasoning"] = {"effort": opts.reasoning_effort}
    if opts.voice is not None:
        response["audio"] = {"output": {"voice": opts.voice}}


def append_frame(chunk: bytes) -> str:
    """A serialised ``input_audio_buffer.append`` for one raw audio chunk.

    Built as a string, not through a dict and a JSON encoder: this runs once per
    audio chunk and base64 output needs no escaping.
    """
    return '{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(chunk).decode() + '"}'


def commit_event(event_id: str) -> Event:
    """Close the input buffer into a user item."""
    return {"type": "input_audio_buffer.commit", "event_id": event_id}


def clear_event(event_id: str) -> Event:
    """Drop what the input buffer holds (audio that cannot be sent whole)."""
    return {"type": "input_audio_buffer.clear", "event_id": event_id}


def delete_item_event(item_id: str, event_id: str) -> Event:
    """Remove an item a job created, so the next job on the connection starts clean."""
    return {"type": "conversation.item.delete", "event_id": event_id, "item_id": item_id}


def encode(event: Event) -> str:
    """One client event as the text of one WebSocket frame."""
    return orjson.dumps(event).decode()


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A ``function_call`` output item: the model asks for a function's result."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """What a job's result needs from one ``response.done``."""

    response_id: str | None
    status: str
    text: str | None
    transcript: str | None
    usage: dict[str, Any] | None
    reason: str | None
    error: ErrorDetail | None
    calls: tuple[FunctionCall, ...] = ()


def read_response(response: events.Response) -> ResponseResult:
    """Aggregate a ``response.done``'s response: output text, transcript, usage.

    Every output item is read (a reasoning model may answer with several, and
    mix messages with function calls).

    Raises:
        MalformedEvent: a response that says it completed carries no output (a
            completed line with nothing in it would be a job lost for good), or a
            ``function_call`` item lacks its call id, name or arguments.
    """
    texts: list[str] = []
    transcripts: list[str] = []
    calls: list[FunctionCall] = []
    for index, item in enumerate(response.output or ()):
        if item.type == "function_call":
            calls.append(_function_call(index, item))
            continue
        for part in item.content or ():
            if part.type in ("text", "output_text") and part.text is not None:
                texts.append(part.text)
            elif part.type in ("audio", "output_audio") and part.transcript is not None:
                transcripts.append(part.transcript)
    if response.status == "completed" and not texts and not transcripts and not calls:
        raise MalformedEvent("response.done: a completed response without output")
    details = response.status_details
    return ResponseResult(
        response_id=response.id,
        status=response.status,
        text="".join(texts) if texts else None,
        transcript="".join(transcripts) if transcripts else None,
        usage=response.usage.as_dict() if response.usage is not None else None,
        reason=details.reason if details is not None else None,
        error=details.error if details is not None else None,
        calls=tuple(calls),
    )


def _function_call(index: int, item: events.OutputItem) -> FunctionCall:
    # Without its call id a call cannot be answered, and without a name not scripted.
    for key in ("call_id", "name"):
        if not getattr(item, key):
            raise MalformedEvent(f"response.done: output[{index}]: a function_call without {key}")
    if item.arguments is None:
        raise MalformedEvent(f"response.done: output[{index}]: a function_call without arguments")
    assert item.call_id is not None and item.name is not None
    return FunctionCall(item.call_id, item.name, item.arguments)


def function_call_item(call: FunctionCall) -> Event:
    """A call replayed in a later round's out-of-band ``input`` (both dialects alike)."""
    return {
        "type": "function_call",
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments,
    }


def function_call_output_item(call_id: str, output: str) -> Event:
    """A call's answer, as the ``function_call_output`` item both dialects take."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def beta_names(dialect: DialectName) -> dict[str, str] | None:
    """The dialect's server event names that differ from GA's, for :func:`rtbatch.events.decode`."""
    return _BETA_TO_GA if dialect == "beta" else None


def tool_fields(
    dialect: DialectName,
    definitions: Sequence[Mapping[str, Any]],
    *,
    mode: str | None = None,
    function: str | None = None,
    parallel: bool | None = None,
) -> Event:
    """The ``response.create`` fields of function calling: tools, tool_choice, parallel calls.

    Args:
        dialect: GA spells a forced function ``{"type": "function", "name": N}``,
            beta as its bare name ``"N"``.
        definitions: the function tools, sent as given.
        mode: ``auto``, ``none`` or ``required``; None leaves the service's default.
        function: the function to force (instead of ``mode``).
        parallel: ``parallel_tool_calls`` (GA, models that take it: job validation
            refuses it elsewhere); None leaves the model's default.
    """
    out: Event = {"tools": [dict(d) for d in definitions]}
    if function is not None:
        out["tool_choice"] = (
            function if dialect == "beta" else {"type": "function", "name": function}
        )
    elif mode is not None:
        out["tool_choice"] = mode
    if parallel is not None:
        out["parallel_tool_calls"] = parallel
    return out
