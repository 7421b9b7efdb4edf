"""The GA dialect: ``session.type``, ``output_modalities``, nested audio config,
``conversation.item.added``/``done``, ``response.output_text.*`` with ``obfuscation``.

Shapes follow ``openai.types.realtime`` (SDK 3.63.0) and protocol notes §1, §5, §6.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from rtbatch.emulator.dialects import common_specs as c
from rtbatch.emulator.dialects.base import (
    GA_VOICES,
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
    MapOf,
    Nullable,
    Num,
    Obj,
    OneOf,
    Spec,
    Str,
    Tagged,
)

DEFAULT_INSTRUCTIONS = "You are a helpful assistant. (rtbatch emulator default instructions)"
#: Transcription models the GA session accepts: the catalogue's (SDK 3.63.0 enum).
TRANSCRIPTION_MODELS = transcription_models("ga")

_FORMATS: dict[AudioFormat, JsonObj] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_FORMAT_BY_TYPE: dict[str, AudioFormat] = {v["type"]: k for k, v in _FORMATS.items()}

# -- specs ---------------------------------------------------------------------------------
FORMAT = Tagged(
    "type",
    {
        # The service refuses audio/pcm without its rate (protocol notes §0).
        "audio/pcm": Obj({"type": Enum("audio/pcm"), "rate": Enum(24000)}, ("type", "rate")),
        "audio/pcmu": Obj({"type": Enum("audio/pcmu")}),
        "audio/pcma": Obj({"type": Enum("audio/pcma")}),
    },
)
TRANSCRIPTION = Obj(
    {
        "model": Enum(*TRANSCRIPTION_MODELS),
        "language": Str(),
        "prompt": Str(),
        "delay": Enum("minimal", "low", "medium", "high", "xhigh"),
        "keywords": ListOf(Str()),
        "languages": ListOf(Str()),
    }
)
# SDK 3.63.0: an object must carry ``type``; ``null`` turns noise reduction off.
NOISE = Obj({"type": c.NOISE_TYPE, "strength": Num(0, 1)}, ("type",))
_VAD_COMMON = c.vad_fields(beta=False)
TURN_DETECTION = Tagged(
    "type",
    {
        "server_vad": Obj(
            {
                "type": Enum("server_vad"),
                "threshold": Num(0, 1),
                "prefix_padding_ms": c.NON_NEG_INT,
                "silence_duration_ms": c.NON_NEG_INT,
                "idle_timeout_ms": Nullable(Num(0, integer=True)),
                **_VAD_COMMON,
            }
        ),
        "semantic_vad": Obj(
            {
                "type": Enum("semantic_vad"),
                "eagerness": Enum("low", "medium", "high", "auto"),
                **_VAD_COMMON,
            }
        ),
    },
)
AUDIO_INPUT = Obj(
    {
        "format": FORMAT,
        "transcription": Nullable(TRANSCRIPTION),
        "noise_reduction": Nullable(NOISE),
        "turn_detection": Nullable(TURN_DETECTION),
    }
)
VOICE = OneOf(Enum(*GA_VOICES), Obj({"id": Str()}, ("id",)), expected="a string or an object")
AUDIO_OUTPUT = Obj({"format": FORMAT, "voice": VOICE, "speed": Num(0.25, 1.5)})
MCP_TOOL = Obj(
    {
        "type": Enum("mcp"),
        "server_label": Str(),
        "server_url": Str(),
        "server_description": Str(),
        "connector_id": Str(),
        "tunnel_id": Str(),
        "authorization": Str(),
        "headers": Nullable(MapOf(Str())),
        "allowed_tools": AnyValue(),
        "allowed_callers": AnyValue(),
        "require_approval": AnyValue(),
        "defer_loading": c.BOOL,
    },
    ("type", "server_label"),
)
TOOL = Tagged("type", {"function": c.FUNCTION_TOOL, "mcp": MCP_TOOL}, default="function")
TOOL_CHOICE = OneOf(
    Enum("none", "auto", "required"),
    Tagged(
        "type",
        {
            "function": Obj({"type": Enum("function"), "name": Str()}, ("type", "name")),
            "mcp": Obj(
                {"type": Enum("mcp"), "server_label": Str(), "name": Nullable(Str())},
                ("type", "server_label"),
            ),
        },
    ),
    expected="a string or an object",
)
MODALITIES = ListOf(Enum("text", "audio"), max_items=1)
PROMPT = Nullable(
    Obj(
        {"id": Str(), "version": Nullable(Str()), "variables": Nullable(MapOf(AnyValue()))}, ("id",)
    )
)
REASONING = Obj({"effort": Enum("minimal", "low", "medium", "high", "xhigh")})
TRUNCATION = OneOf(
    Enum("auto", "disabled"),
    Obj(
        {
            "type": Enum("retention_ratio"),
            "retention_ratio": Num(0, 1),
            "token_limits": Obj({"post_instructions": c.NON_NEG_INT}),
        },
        ("type", "retention_ratio"),
    ),
    expected="a string or an object",
)
INCLUDE = Nullable(ListOf(Enum(c.LOGPROBS)))
REALTIME_SESSION = Obj(
    {
        "type": Enum("realtime"),
        "model": Str(),
        "output_modalities": MODALITIES,
        "instructions": Str(),
        "audio": Obj({"input": AUDIO_INPUT, "output": AUDIO_OUTPUT}),
        "tools": ListOf(TOOL),
        "tool_choice": TOOL_CHOICE,
        "max_output_tokens": c.MAX_TOKENS,
        "truncation": TRUNCATION,
        "include": INCLUDE,
        "tracing": c.TRACING,
        "prompt": PROMPT,
        "reasoning": REASONING,
        "parallel_tool_calls": c.BOOL,
    },
    ("type",),
)
TRANSCRIPTION_SESSION = Obj(
    {
        "type": Enum("transcription"),
        "audio": Obj({"input": AUDIO_INPUT}),
        "include": INCLUDE,
    },
    ("type",),
)
SESSION = Tagged("type", {"realtime": REALTIME_SESSION, "transcription": TRANSCRIPTION_SESSION})

_ITEM_COMMON: dict[str, Spec] = {
    "id": c.ITEM_ID,
    "object": c.ITEM_OBJECT,
    "status": c.ITEM_STATUS,
}
INPUT_TEXT = Obj({"type": Enum("input_text"), "text": Str()}, ("type", "text"))
USER_PART = Tagged(
    "type",
    {
        "input_text": INPUT_TEXT,
        "input_audio": Obj(
            {"type": Enum("input_audio"), "audio": Str(), "transcript": Nullable(Str())},
            ("type", "audio"),
        ),
        "input_image": Obj(
            {
                "type": Enum("input_image"),
                "image_url": Str(),
                "detail": Enum("auto", "low", "high"),
            },
            ("type", "image_url"),
        ),
    },
)
ASSISTANT_PART = Tagged(
    "type",
    {
        "output_text": Obj({"type": Enum("output_text"), "text": Str()}, ("type", "text")),
        "output_audio": Obj(
            {"type": Enum("output_audio"), "transcript": Str()}, ("type", "transcript")
        ),
    },
)


def _message(role: str, part: Spec) -> Obj:
    return Obj(
        {"type": Enum("message"), "role": Enum(role), "content": ListOf(part), **_ITEM_COMMON},
        ("type", "role", "content"),
    )


MESSAGE = Tagged(
    "role",
    {
        "system": _message("system", Tagged("type", {"input_text": INPUT_TEXT})),
        "user": _message("user", USER_PART),
        "assistant": _message("assistant", ASSISTANT_PART),
    },
)
ITEM_VARIANTS: dict[str, Spec] = {
    "message": MESSAGE,
    "function_call": Obj(
        {
            "type": Enum("function_call"),
            "call_id": Str(),
            "name": Str(),
            "arguments": Str(),
            **_ITEM_COMMON,
        },
        ("type", "name", "arguments"),
    ),
    "function_call_output": Obj(
        {"type": Enum("function_call_output"), "call_id": Str(), "output": Str(), **_ITEM_COMMON},
        ("type", "call_id", "output"),
    ),
}
ITEM = Tagged("type", ITEM_VARIANTS)
ITEM_OR_REFERENCE = Tagged(
    "type",
    {
        **ITEM_VARIANTS,
        "item_reference": Obj({"type": Enum("item_reference"), "id": Str()}, ("type", "id")),
    },
)
RESPONSE = Obj(
    {
        "conversation": Enum("auto", "none"),
        "input": ListOf(ITEM_OR_REFERENCE),
        "instructions": Str(),
        "max_output_tokens": c.MAX_TOKENS,
        "metadata": c.METADATA,
        "output_modalities": MODALITIES,
        "audio": Obj({"output": Obj({"format": FORMAT, "voice": VOICE})}),
        "prompt": PROMPT,
        "tool_choice": TOOL_CHOICE,
        "tools": ListOf(TOOL),
        "reasoning": REASONING,
        "parallel_tool_calls": c.BOOL,
    }
)
_COMMON_EVENTS = c.buffer_and_item_events(ITEM)
_SESSION_UPDATE = c.event("session.update", {"session": SESSION}, ("session",))
REALTIME_EVENTS: dict[str, Spec] = {
    "session.update": _SESSION_UPDATE,
    **_COMMON_EVENTS,
    "response.create": c.event("response.create", {"response": RESPONSE}),
}
TRANSCRIPTION_EVENTS: dict[str, Spec] = {
    "session.update": _SESSION_UPDATE,
    "input_audio_buffer.append": _COMMON_EVENTS["input_audio_buffer.append"],
    "input_audio_buffer.commit": _COMMON_EVENTS["input_audio_buffer.commit"],
    "input_audio_buffer.clear": _COMMON_EVENTS["input_audio_buffer.clear"],
    "conversation.item.delete": _COMMON_EVENTS["conversation.item.delete"],
    "conversation.item.retrieve": _COMMON_EVENTS["conversation.item.retrieve"],
}


def _server_vad() -> JsonObj:
    # Observed defaults: silence 200 ms, not the documented 500 (protocol notes §5.1).
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }


def _audio_input() -> JsonObj:
    return {
        "format": dict(_FORMATS["pcm16"]),
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": _server_vad(),
    }


class GADialect(Dialect):
    """The GA interface (no ``OpenAI-Beta`` header)."""

    name: ClassVar[Literal["ga", "beta"]] = "ga"
    text_delta = "response.output_text.delta"
    text_done = "response.output_text.done"
    audio_delta = "response.output_audio.delta"
    audio_done = "response.output_audio.done"
    transcript_delta = "response.output_audio_transcript.delta"
    transcript_done = "response.output_audio_transcript.done"
    obfuscates = True
    reports_image_tokens = True
    text_part_type = "output_text"
    audio_part_type = "output_audio"
    voice_path = ("audio", "output", "voice")
    transcription_path = ("audio", "input", "transcription")
    turn_detection_path = ("audio", "input", "turn_detection")
    arguments_done_names = True
    max_tokens_key = "max_output_tokens"
    item_object = None

    def client_specs(self, intent: Intent) -> dict[str, Spec]:
        return REALTIME_EVENTS if intent == "realtime" else TRANSCRIPTION_EVENTS

    def check_update(self, event: JsonObj, intent: Intent, session: JsonObj) -> Issue | None:
        update = event["session"]
        if update["type"] != intent:
            # Wording captured live for the transcription-on-realtime case (§5.1).
            return Issue(
                "invalid_value",
                f"Passing a {update['type']} session update event to a {intent} session "
                "is not allowed.",
                "session.type",
            )
        return None

    def default_session(
        self, intent: Intent, model: str, session_id: str, expires_at: int
    ) -> JsonObj:
        if intent == "transcription":
            # The ``object`` of a GA transcription session is UNCONFIRMED (§6.2): a probe
            # recorded realtime.transcription_session, which we follow.
            return {
                "type": "transcription",
                "object": "realtime.transcription_session",
                "id": session_id,
                "expires_at": expires_at,
                "audio": {"input": _audio_input()},
                "include": None,
            }
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": expires_at,
            "audio": {
                "input": _audio_input(),
                "output": {"format": dict(_FORMATS["pcm16"]), "voice": "alloy", "speed": 1.0},
            },
            "include": None,
        }

    def session_event(self, session: JsonObj, intent: Intent, *, created: bool) -> JsonObj:
        return {"type": "session.created" if created else "session.updated", "session": session}

    def apply_update(self, session: JsonObj, update: JsonObj) -> JsonObj:
        merged = deep_merge(session, update, frozenset({"audio", "input", "output"}))
        td = merged.get("audio", {}).get("input", {}).get("turn_detection")
        if isinstance(td, dict) and td.get("type") == "server_vad":
            # The service echoes a complete VAD object, defaults filled in.
            merged["audio"]["input"]["turn_detection"] = {**_server_vad(), **td}
        return merged

    def settings(self, session: JsonObj, model: str) -> SessionSettings:
        audio: JsonObj = session.get("audio") or {}
        a_in: JsonObj = audio.get("input") or {}
        a_out: JsonObj = audio.get("output") or {}
        transcription = a_in.get("transcription")
        wire_max = session.get("max_output_tokens", "inf")
        vad = a_in.get("turn_detection")
        return SessionSettings(
            model=model,
            output_audio=session.get("output_modalities") == ["audio"],
            voice=a_out.get("voice", "alloy"),
            input_format=_neutral_format(a_in.get("format")),
            output_format=_neutral_format(a_out.get("format")),
            transcription_model=(transcription or {}).get("model") if transcription else None,
            instructions=session.get("instructions", ""),
            max_tokens=max_tokens(wire_max),
            max_tokens_wire=wire_max,
            temperature=None,
            turn_detection=vad.get("type") if isinstance(vad, dict) else None,
            logprobs=c.LOGPROBS in (session.get("include") or ()),
            tools=function_tools(session.get("tools")),
            tool_choice=session.get("tool_choice", "auto"),
            parallel_tool_calls=session.get("parallel_tool_calls", True),
        )

    def response_params(self, base: SessionSettings, params: JsonObj) -> ResponseParams:
        out: JsonObj = (params.get("audio") or {}).get("output") or {}
        modalities = params.get("output_modalities")
        wire_max = params.get("max_output_tokens", base.max_tokens_wire)
        return ResponseParams(
            output_audio=base.output_audio if modalities is None else modalities == ["audio"],
            voice=out.get("voice", base.voice),
            output_format=_neutral_format(out["format"]) if "format" in out else base.output_format,
            instructions=params.get("instructions", base.instructions),
            max_tokens=max_tokens(wire_max),
            max_tokens_wire=wire_max,
            temperature=None,
            out_of_band=params.get("conversation") == "none",
            input=params.get("input"),
            metadata=params.get("metadata"),
            model=base.model,
            tools=function_tools(params["tools"]) if "tools" in params else base.tools,
            tool_choice=params.get("tool_choice", base.tool_choice),
            parallel_tool_calls=params.get("parallel_tool_calls", base.parallel_tool_calls),
        )

    def item_events(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        return [
            item_event("conversation.item.added", item, previous_item_id),
            item_event("conversation.item.done", item, previous_item_id),
        ]

    def output_item_added(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        return [item_event("conversation.item.added", item, previous_item_id)]

    def output_item_finished(self, item: JsonObj, previous_item_id: str | None) -> list[JsonObj]:
        return [item_event("conversation.item.done", item, previous_item_id)]

    def response_settings(self, params: ResponseParams) -> JsonObj:
        return {
            "output_modalities": ["audio"] if params.output_audio else ["text"],
            "max_output_tokens": params.max_tokens_wire,
            "audio": {
                "output": {
                    "format": self.audio_format_name(params.output_format),
                    "voice": params.voice,
                }
            },
        }

    def rate_limits(
        self, requests: tuple[int, int, float], tokens: tuple[int, int, float]
    ) -> list[JsonObj]:
        # GA was observed sending a single ``tokens`` entry (§6.11).
        limit, remaining, reset = tokens
        return [{"name": "tokens", "limit": limit, "remaining": remaining, "reset_seconds": reset}]

    def audio_format_name(self, fmt: AudioFormat) -> Any:
        return dict(_FORMATS[fmt])


def _neutral_format(wire: object) -> AudioFormat:
    if isinstance(wire, dict):
        return _FORMAT_BY_TYPE.get(str(wire.get("type")), "pcm16")
    return "pcm16"
