"""What both dialects share, and the neutral settings the rest of the emulator reads.

The emulator keeps every session, item and response in the *wire shape of the
connection's dialect* (so echoes are exact), and reads them only through the
:class:`Dialect` methods, which return dialect-neutral values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rtbatch.emulator.validation import Issue, Spec
from rtbatch.models import CATALOGUE, models_of

JsonObj = dict[str, Any]
Intent = Literal["realtime", "transcription"]
#: Neutral names of the three audio encodings.
AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]

#: Voices both dialects accept.
BETA_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse")
GA_VOICES = (*BETA_VOICES, "marin", "cedar")
#: Schema cap on ``max_output_tokens``: the largest any catalogue model allows. Each
#: model's own cap is checked by :mod:`rtbatch.emulator.model_rules`.
MAX_OUTPUT_TOKENS = max(m.max_output_tokens or 0 for m in CATALOGUE)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """A session's effective settings, independent of dialect.

    Attributes:
        model: the model id (``""`` for a GA transcription session).
        output_audio: whether responses speak (else text only).
        voice: the voice (a name or a ``{"id": ...}`` object).
        input_format: encoding of appended audio.
        output_format: encoding of generated audio.
        transcription_model: input transcription model, or ``None`` when off.
        instructions: system instructions.
        max_tokens: output cap in tokens, ``None`` for ``"inf"``.
        max_tokens_wire: the cap as the client wrote it (``"inf"`` or an int).
        temperature: beta sampling temperature, ``None`` on GA.
        turn_detection: the VAD type (``server_vad``, ``semantic_vad``), ``None`` when off.
        logprobs: ``include`` asks for input transcription logprobs.
        tools: the declared function tools.
        tool_choice: ``auto``, ``none``, ``required`` or a function (beta: its name).
        parallel_tool_calls: several calls in one response are allowed.
    """

    model: str
    output_audio: bool
    voice: object
    input_format: AudioFormat
    output_format: AudioFormat
    transcription_model: str | None
    instructions: str
    max_tokens: int | None
    max_tokens_wire: int | str
    temperature: float | None
    turn_detection: str | None = None
    logprobs: bool = False
    tools: tuple[JsonObj, ...] = ()
    tool_choice: object = "auto"
    parallel_tool_calls: bool = True


@dataclass(frozen=True, slots=True)
class ResponseParams:
    """One response's settings: the session's, overridden by ``response.create``.

    Attributes:
        output_audio: speak (audio + transcript) instead of writing text.
        voice: voice for audio output.
        output_format: encoding of generated audio.
        instructions: instructions for this response.
        max_tokens: output cap, ``None`` for no cap.
        max_tokens_wire: the cap as written (echoed in the response object).
        temperature: beta temperature or ``None``.
        out_of_band: ``conversation: "none"``.
        input: explicit ``input`` items (``None``: the default conversation).
        metadata: echoed on ``response.created``/``done``.
        model: model id, part of the determinism key.
        tools: the function tools it may call.
        tool_choice: ``auto``, ``none``, ``required`` or a function (beta: its name).
        parallel_tool_calls: several calls in one response are allowed.
    """

    output_audio: bool
    voice: object
    output_format: AudioFormat
    instructions: str
    max_tokens: int | None
    max_tokens_wire: int | str
    temperature: float | None
    out_of_band: bool
    input: list[JsonObj] | None
    metadata: dict[str, str] | None
    model: str
    tools: tuple[JsonObj, ...] = ()
    tool_choice: object = "auto"
    parallel_tool_calls: bool = True


def transcription_models(dialect: Literal["ga", "beta"]) -> tuple[str, ...]:
    """Ids of the catalogue's transcription models that ``dialect`` can name."""
    return tuple(m.id for m in models_of("transcription") if dialect in m.dialects)


def deep_merge(base: JsonObj, update: JsonObj, merge_keys: frozenset[str]) -> JsonObj:
    """Apply a partial session update: fields present replace, listed objects merge.

    Args:
        base: the current session (not modified).
        update: the validated partial update.
        merge_keys: keys whose object values merge field by field (``audio``, ``input``).

    Returns:
        A new session dict.
    """
    out = copy.deepcopy(base)
    for key, value in update.items():
        current = out.get(key)
        if key in merge_keys and isinstance(value, dict) and isinstance(current, dict):
            out[key] = deep_merge(current, value, merge_keys)
        else:
            out[key] = copy.deepcopy(value)
    return out


def function_tools(tools: object) -> tuple[JsonObj, ...]:
    """The function tools of a validated ``tools`` list (MCP tools are never called)."""
    if not isinstance(tools, list):
        return ()
    return tuple(
        t for t in tools if isinstance(t, dict) and t.get("type", "function") == "function"
    )


def max_tokens(value: object) -> int | None:
    """``"inf"`` -> ``None``; an int stays."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Dialect:
    """The wire shapes of one dialect. Subclasses fill the names and builders.

    Event names are class attributes so the streaming code stays dialect-free.
    """

    name: ClassVar[Literal["ga", "beta"]]
    text_delta: ClassVar[str]
    text_done: ClassVar[str]
    audio_delta: ClassVar[str]
    audio_done: ClassVar[str]
    transcript_delta: ClassVar[str]
    transcript_done: ClassVar[str]
    #: GA pads text deltas with a random ``obfuscation`` string (protocol notes §6.9).
    obfuscates: ClassVar[bool]
    #: GA usage carries image token counts (always zero here); beta usage has none.
    reports_image_tokens: ClassVar[bool] = False
    text_part_type: ClassVar[str]
    audio_part_type: ClassVar[str]
    #: Where a session update holds the voice, and the input transcription config.
    voice_path: ClassVar[tuple[str, ...]]
    transcription_path: ClassVar[tuple[str, ...]]
    turn_detection_path: ClassVar[tuple[str, ...]]
    #: GA's ``response.function_call_arguments.done`` names the function; beta's has no
    #: ``name`` (SDK models).
    arguments_done_names: ClassVar[bool]
    #: Name of the output cap in ``session.update`` and ``response.create``.
    max_tokens_key: ClassVar[str]
    #: Items' ``object`` field: beta sends ``realtime.item``, GA items have none [CAP].
    item_object: ClassVar[str | None]

    # -- client events -------------------------------------------------------------
    def client_specs(self, intent: Intent) -> dict[str, Spec]:
        """Event type -> spec of the whole event, for the events this session accepts."""
        raise NotImplementedError

    def check_update(self, event: JsonObj, intent: Intent, session: JsonObj) -> Issue | None:
        """Cross-field checks of an already schema-valid session update."""
        raise NotImplementedError

    # -- sessions --------------------------------------------------------------------
    def default_session(
        self, intent: Intent, model: str, session_id: str, expires_at: int
    ) -> JsonObj:
        """The session announced in the first frame, with the service's defaults."""
        raise NotImplementedError

    def session_event(self, session: JsonObj, intent: Intent, *, created: bool) -> JsonObj:
        """``session.created``/``updated`` (beta transcription: ``transcription_session.*``)."""
        raise NotImplementedError

    def apply_update(self, session: JsonObj, update: JsonObj) -> JsonObj:
        """The session after a validated update's ``session`` object."""
        raise NotImplementedError

    def settings(self, session: JsonObj, model: str) -> SessionSettings:
        """Read the neutral settings of a session."""
        raise NotImplementedError

    def response_params(self, base: SessionSettings, params: JsonObj) -> ResponseParams:
        """Overlay a ``response.create``'s ``response`` object on the session settings."""
        raise NotImplementedError

    # -- items -------------------------------------------------------------------------
    def new_item(self, item_id: str, **fields: Any) -> JsonObj:
        """An item as the server builds it: id, ``object`` where the dialect has one."""
        head: JsonObj = {"id": item_id}
        if self.item_object is not None:
            head["object"] = self.item_object
        return {**head, **fields}

    def item_events(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        """Events announcing a finished item (client-created or committed audio)."""
        raise NotImplementedError

    def output_item_added(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        """Conversation events when a response starts an item in the conversation."""
        raise NotImplementedError

    def output_item_finished(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        """Conversation events when a response finishes an item in the conversation."""
        raise NotImplementedError

    def assistant_part(self, audio: bool, text: str) -> JsonObj:
        """An assistant item's content part (GA ``output_text``/``output_audio``)."""
        kind = self.audio_part_type if audio else self.text_part_type
        return {"type": kind, "transcript": text} if audio else {"type": kind, "text": text}

    # -- responses --------------------------------------------------------------------
    def response_object(
        self,
        response_id: str,
        params: ResponseParams,
        conversation_id: str | None,
        *,
        status: str,
        status_details: JsonObj | None,
        output: list[JsonObj],
        usage: JsonObj | None,
    ) -> JsonObj:
        """The ``response`` object of ``response.created``/``done``."""
        return {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": conversation_id,
            **self.response_settings(params),
            "usage": usage,
            "metadata": params.metadata,
        }

    def response_settings(self, params: ResponseParams) -> JsonObj:
        """The response object's settings fields (modalities, voice, format, cap)."""
        raise NotImplementedError

    def usage_object(
        self,
        text_in: int,
        audio_in: int,
        cached_text: int,
        cached_audio: int,
        text_out: int,
        audio_out: int,
    ) -> JsonObj:
        """A response's usage in this dialect's shape (GA adds zero image tokens)."""
        total_in, total_out = text_in + audio_in, text_out + audio_out
        details: JsonObj = {"text_tokens": text_in, "audio_tokens": audio_in}
        cached: JsonObj = {"text_tokens": cached_text, "audio_tokens": cached_audio}
        if self.reports_image_tokens:
            details["image_tokens"] = cached["image_tokens"] = 0
        details["cached_tokens"] = cached_text + cached_audio
        details["cached_tokens_details"] = cached
        return {
            "total_tokens": total_in + total_out,
            "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": details,
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }

    def rate_limits(
        self, requests: tuple[int, int, float], tokens: tuple[int, int, float]
    ) -> list[JsonObj]:
        """``rate_limits.updated`` entries from (limit, remaining, reset_seconds)."""
        raise NotImplementedError

    def audio_format_name(self, fmt: AudioFormat) -> object:
        """The wire form of a neutral audio format."""
        raise NotImplementedError


def item_event(kind: str, item: JsonObj, previous_item_id: str | None) -> JsonObj:
    """An item event body (``event_id`` is stamped when sent)."""
    return {"type": kind, "previous_item_id": previous_item_id, "item": item}
