"""The beta dialect (``OpenAI-Beta: realtime=v1``): flat session fields, ``modalities``,
``conversation.item.created``, ``response.text.*``, ``transcription_session.*``.

Shapes follow ``openai.types.beta.realtime`` (SDK 3.63.0) and protocol notes §1, §5, §6.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from rtbatch.emulator.dialects import common_specs as c
from rtbatch.emulator.dialects.base import (
    BETA_VOICES,
    AudioFormat,
    Dialect,
    Intent,
    JsonObj,
    ResponseParams,
    SessionSettings,
    deep_merge,
    function_tools,
    item_event,
    max_tokens,
    transcription_models,
)
from rtbatch.emulator.validation import (
    AnyValue,
    Enum,
    Issue,
    ListOf,
    Nullable,
    Num,
    Obj,
    Spec,
    Str,
)

DEFAULT_INSTRUCTIONS = "You are a helpful assistant. (rtbatch emulator default instructions)"
#: Transcription models the beta dialect names: the catalogue's beta-era ones.
TRANSCRIPTION_MODELS = transcription_models("beta")
_MODALITY_SETS = (["text"], ["audio", "text"], ["text", "audio"])

FORMAT = Enum("pcm16", "g711_ulaw", "g711_alaw")
TURN_DETECTION = Nullable(Obj(c.vad_fields(beta=True)))
NOISE = Nullable(Obj({"type": c.NOISE_TYPE}))
MODALITIES = ListOf(Enum("text", "audio"))
TOOLS = ListOf(c.FUNCTION_TOOL)
SESSION = Obj(
    {
        "model": Str(),
        "modalities": MODALITIES,
        "instructions": Str(),
        "voice": Enum(*BETA_VOICES),
        "input_audio_format": FORMAT,
        "output_audio_format": FORMAT,
        "input_audio_transcription": Nullable(
            Obj({"model": Str(), "language": Str(), "prompt": Str()})
        ),
        "turn_detection": TURN_DETECTION,
        "input_audio_noise_reduction": NOISE,
        "tools": TOOLS,
        "tool_choice": Str(),
        "temperature": Num(0.6, 1.2),
        "max_response_output_tokens": c.MAX_TOKENS,
        "speed": Num(0.25, 1.5),
        "tracing": c.TRACING,
        # REST-only, accepted and ignored over the socket.
        "client_secret": AnyValue(),
    }
)
TRANSCRIPTION_SESSION = Obj(
    {
        "modalities": MODALITIES,
        "input_audio_format": FORMAT,
        "input_audio_transcription": Nullable(
            Obj({"model": Enum(*TRANSCRIPTION_MODELS), "language": Str(), "prompt": Str()})
        ),
        "turn_detection": TURN_DETECTION,
        "input_audio_noise_reduction": NOISE,
        "include": ListOf(Enum(c.LOGPROBS)),
        "client_secret": AnyValue(),
    }
)
CONTENT = Obj(
    {
        "type": Enum("input_text", "input_audio", "item_reference", "text", "audio"),
        "text": Str(),
        "audio": Str(),
        "transcript": Nullable(Str()),
        "id": Str(),
    }
)
_ITEM_FIELDS: dict[str, Spec] = {
    "id": c.ITEM_ID,
    "object": c.ITEM_OBJECT,
    "status": c.ITEM_STATUS,
    "role": Enum("user", "assistant", "system"),
    "content": ListOf(CONTENT),
    "call_id": Str(),
    "name": Str(),
    "arguments": Str(),
    "output": Str(),
}
ITEM = Obj({"type": Enum("message", "function_call", "function_call_output"), **_ITEM_FIELDS})
ITEM_OR_REFERENCE = Obj(
    {
        "type": Enum("message", "function_call", "function_call_output", "item_reference"),
        **_ITEM_FIELDS,
    }
)
RESPONSE = Obj(
    {
        "conversation": Enum("auto", "none"),
        "input": ListOf(ITEM_OR_REFERENCE),
        "instructions": Str(),
        "max_response_output_tokens": c.MAX_TOKENS,
        "metadata": c.METADATA,
        "modalities": MODALITIES,
        "output_audio_format": FORMAT,
        "temperature": Num(0.6, 1.2),
        "tool_choice": Str(),
        "tools": TOOLS,
        "voice": Enum(*BETA_VOICES),
    }
)
_COMMON_EVENTS = c.buffer_and_item_events(ITEM)
REALTIME_EVENTS: dict[str, Spec] = {
    "session.update": c.event("session.update", {"session": SESSION}, ("session",)),
    **_COMMON_EVENTS,
    "response.create": c.event("response.create", {"response": RESPONSE}),
}
TRANSCRIPTION_EVENTS: dict[str, Spec] = {
    "transcription_session.update": c.event(
        "transcription_session.update", {"session": TRANSCRIPTION_SESSION}, ("session",)
    ),
    "input_audio_buffer.append": _COMMON_EVENTS["input_audio_buffer.append"],
    "input_audio_buffer.commit": _COMMON_EVENTS["input_audio_buffer.commit"],
    "input_audio_buffer.clear": _COMMON_EVENTS["input_audio_buffer.clear"],
    "conversation.item.delete": _COMMON_EVENTS["conversation.item.delete"],
    "conversation.item.retrieve": _COMMON_EVENTS["conversation.item.retrieve"],
}


def _server_vad(transcription: bool) -> JsonObj:
    vad: JsonObj = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
    }
    if not transcription:
        # interrupt_response/create_response are not echoed for transcription (§6.2).
        vad |= {"create_response": True, "interrupt_response": True}
    return vad


class BetaDialect(Dialect):
    """The beta interface (``OpenAI-Beta: realtime=v1``)."""

    name: ClassVar[Literal["ga", "beta"]] = "beta"
    text_delta = "response.text.delta"
    text_done = "response.text.done"
    audio_delta = "response.audio.delta"
    audio_done = "response.audio.done"
    transcript_delta = "response.audio_transcript.delta"
    transcript_done = "response.audio_transcript.done"
    obfuscates = False
    text_part_type = "text"
    audio_part_type = "audio"
    voice_path = ("voice",)
    transcription_path = ("input_audio_transcription",)
    turn_detection_path = ("turn_detection",)
    arguments_done_names = False
    max_tokens_key = "max_response_output_tokens"
    item_object = "realtime.item"

    def client_specs(self, intent: Intent) -> dict[str, Spec]:
        return REALTIME_EVENTS if intent == "realtime" else TRANSCRIPTION_EVENTS

    def check_update(self, event: JsonObj, intent: Intent, session: JsonObj) -> Issue | None:
        update = event["session"]
        modalities = update.get("modalities")
        if modalities is not None and modalities not in _MODALITY_SETS and intent == "realtime":
            return Issue(
                "invalid_value",
                f"Invalid modalities: {modalities}. Supported combinations are: ['text'] "
                "and ['audio', 'text'].",
                "session.modalities",
            )
        return None

    def default_session(
        self, intent: Intent, model: str, session_id: str, expires_at: int
    ) -> JsonObj:
        if intent == "transcription":
            return {
                "id": session_id,
                "object": "realtime.transcription_session",
                "input_audio_format": "pcm16",
                "input_audio_transcription": None,
                "turn_detection": _server_vad(transcription=True),
                "input_audio_noise_reduction": None,
                "include": None,
            }
        return {
            "id": session_id,
            "object": "realtime.session",
            "model": model,
            "expires_at": expires_at,
            "modalities": ["audio", "text"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "voice": "alloy",
            "turn_detection": _server_vad(transcription=False),
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "input_audio_noise_reduction": None,
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "tools": [],
            "speed": 1.0,
            "tracing": None,
        }

    def session_event(self, session: JsonObj, intent: Intent, *, created: bool) -> JsonObj:
        prefix = "transcription_session" if intent == "transcription" else "session"
        return {"type": f"{prefix}.{'created' if created else 'updated'}", "session": session}

    def apply_update(self, session: JsonObj, update: JsonObj) -> JsonObj:
        update = {k: v for k, v in update.items() if k != "client_secret"}
        merged = deep_merge(session, update, frozenset())
        td = merged.get("turn_detection")
        if isinstance(td, dict) and td.get("type", "server_vad") == "server_vad":
            transcription = session.get("object") == "realtime.transcription_session"
            merged["turn_detection"] = {**_server_vad(transcription), **td}
        return merged

    def settings(self, session: JsonObj, model: str) -> SessionSettings:
        transcription = session.get("input_audio_transcription")
        wire_max = session.get("max_response_output_tokens", "inf")
        vad = session.get("turn_detection")
        return SessionSettings(
            model=model,
            output_audio="audio" in (session.get("modalities") or []),
            voice=session.get("voice", "alloy"),
            input_format=session.get("input_audio_format", "pcm16"),
            output_format=session.get("output_audio_format", "pcm16"),
            transcription_model=transcription.get("model", "whisper-1") if transcription else None,
            instructions=session.get("instructions", ""),
            max_tokens=max_tokens(wire_max),
            max_tokens_wire=wire_max,
            temperature=session.get("temperature", 0.8),
            turn_detection=vad.get("type", "server_vad") if isinstance(vad, dict) else None,
            logprobs=c.LOGPROBS in (session.get("include") or ()),
            tools=function_tools(session.get("tools")),
            tool_choice=session.get("tool_choice", "auto"),
        )

    def response_params(self, base: SessionSettings, params: JsonObj) -> ResponseParams:
        modalities = params.get("modalities")
        wire_max = params.get("max_response_output_tokens", base.max_tokens_wire)
        return ResponseParams(
            output_audio=base.output_audio if modalities is None else "audio" in modalities,
            voice=params.get("voice", base.voice),
            output_format=params.get("output_audio_format", base.output_format),
            instructions=params.get("instructions", base.instructions),
            max_tokens=max_tokens(wire_max),
            max_tokens_wire=wire_max,
            temperature=params.get("temperature", base.temperature),
            out_of_band=params.get("conversation") == "none",
            input=params.get("input"),
            metadata=params.get("metadata"),
            model=base.model,
            tools=function_tools(params["tools"]) if "tools" in params else base.tools,
            tool_choice=params.get("tool_choice", base.tool_choice),
        )

    def item_events(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        return [item_event("conversation.item.created", item, previous_item_id)]

    def output_item_added(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        return [item_event("conversation.item.created", item, previous_item_id)]

    def output_item_finished(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        return []

    def response_settings(self, params: ResponseParams) -> JsonObj:
        return {
            "modalities": ["audio", "text"] if params.output_audio else ["text"],
            "voice": params.voice,
            "output_audio_format": params.output_format,
            "temperature": params.temperature,
            "max_output_tokens": params.max_tokens_wire,
        }

    def rate_limits(
        self, requests: tuple[int, int, float], tokens: tuple[int, int, float]
    ) -> list[JsonObj]:
        return [
            {"name": name, "limit": lim, "remaining": rem, "reset_seconds": reset}
            for name, (lim, rem, reset) in (("requests", requests), ("tokens", tokens))
        ]

    def audio_format_name(self, fmt: AudioFormat) -> Any:
        return fmt
