"""Spec pieces whose shape is identical in both dialects."""

from __future__ import annotations

from collections.abc import Mapping

from rtbatch.emulator.dialects.base import MAX_OUTPUT_TOKENS
from rtbatch.emulator.validation import (
    AnyValue,
    Bool,
    Enum,
    MapOf,
    Nullable,
    Num,
    Obj,
    OneOf,
    Spec,
    Str,
)
from rtbatch.models import NOISE_REDUCTION_TYPES

#: Client item ids longer than this are refused (protocol notes §3).
MAX_ITEM_ID_LEN = 32
#: ``metadata``: at most 16 pairs, keys <= 64 characters, values <= 512 (§5.6).
METADATA = Nullable(MapOf(Str(max_len=512), max_items=16, max_key=64))
EVENT_ID = Str(max_len=512)
ITEM_ID = Str(max_len=MAX_ITEM_ID_LEN)
ITEM_STATUS = Enum("completed", "incomplete", "in_progress")
ITEM_OBJECT = Enum("realtime.item")
NON_NEG_INT = Num(0, integer=True)
MAX_TOKENS = OneOf(
    Num(1, MAX_OUTPUT_TOKENS, integer=True), Enum("inf"), expected="an integer or 'inf'"
)
TRACING = Nullable(
    OneOf(
        Enum("auto"),
        Obj({"workflow_name": Str(), "group_id": Str(), "metadata": AnyValue()}),
        expected="'auto' or an object",
    )
)
FUNCTION_TOOL = Obj(
    {"type": Enum("function"), "name": Str(), "description": Str(), "parameters": AnyValue()}
)
NOISE_TYPE = Enum(*NOISE_REDUCTION_TYPES)
#: The one ``include`` value (SDK, both dialects): input transcription with logprobs.
LOGPROBS = "item.input_audio_transcription.logprobs"


def event(type_name: str, fields: Mapping[str, Spec], required: tuple[str, ...] = ()) -> Obj:
    """The spec of a whole client event: ``type``, optional ``event_id``, ``fields``.

    Args:
        type_name: the event's ``type``.
        fields: its other fields.
        required: names among ``fields`` that must be present.

    Returns:
        The spec.
    """
    return Obj({"type": Enum(type_name), "event_id": EVENT_ID, **fields}, required)


def buffer_and_item_events(item: Spec) -> dict[str, Spec]:
    """Client events with the same shape in both dialects, given the dialect's item spec."""
    item_id_only = {"item_id": Str()}
    return {
        "input_audio_buffer.append": event(
            "input_audio_buffer.append", {"audio": Str()}, ("audio",)
        ),
        "input_audio_buffer.commit": event("input_audio_buffer.commit", {}),
        "input_audio_buffer.clear": event("input_audio_buffer.clear", {}),
        "conversation.item.create": event(
            "conversation.item.create",
            {"previous_item_id": Nullable(Str()), "item": item},
            ("item",),
        ),
        "conversation.item.delete": event("conversation.item.delete", item_id_only, ("item_id",)),
        "conversation.item.retrieve": event(
            "conversation.item.retrieve", item_id_only, ("item_id",)
        ),
        "conversation.item.truncate": event(
            "conversation.item.truncate",
            {"item_id": Str(), "content_index": NON_NEG_INT, "audio_end_ms": NON_NEG_INT},
            ("item_id", "content_index", "audio_end_ms"),
        ),
        "response.cancel": event("response.cancel", {"response_id": Str()}),
    }


def vad_fields(beta: bool) -> dict[str, Spec]:
    """Turn-detection fields shared by server and semantic VAD (beta: one flat object)."""
    fields: dict[str, Spec] = {
        "create_response": Bool(),
        "interrupt_response": Bool(),
    }
    if beta:
        fields |= {
            "type": Enum("server_vad", "semantic_vad"),
            "threshold": Num(0, 1),
            "prefix_padding_ms": NON_NEG_INT,
            "silence_duration_ms": NON_NEG_INT,
            "eagerness": Enum("low", "medium", "high", "auto"),
        }
    return fields


BOOL = Bool()
