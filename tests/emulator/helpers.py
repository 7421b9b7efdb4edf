"""Helpers for the emulator tests: SDK-checked client and event validation.

Every server event a test receives is checked against the SDK's pydantic models of
its dialect (``openai.types.realtime`` for GA, ``openai.types.beta.realtime`` for
beta), dispatched on ``type`` like a discriminated union so a failure names the event.
The check is strict: fields the model does not declare are reported, except the few
listed in ``WIRE_EXTRAS`` that the real service sends but the SDK models omit.
Every client event a test sends through :meth:`Client.send` is checked the same way
against the SDK's client-event models.
"""

from __future__ import annotations

import json
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai.types.beta.realtime as beta_types
import openai.types.realtime as ga_types
import pydantic
from trio_websocket import WebSocketConnection, open_websocket_url

from rtbatch.emulator import Emulator

KEY = "sk-test-emulator-key-0001"
#: Large enough for the biggest events the tests send (15 MiB of audio, base64).
CLIENT_MAX_MESSAGE = 32 * 1024 * 1024

# Fields the real service sends that the SDK's server models do not declare, with why.
WIRE_EXTRAS: dict[str, set[str]] = {
    # GA text/transcript deltas carry random padding (protocol notes §6.9, captured).
    "response.output_text.delta": {"obfuscation"},
    "response.output_audio_transcript.delta": {"obfuscation"},
    # The SDK types session.created/updated with the *request* model; the wire object also
    # carries id, object, expires_at (captured GA session, notes §6.2).
    "session.created": {"id", "object", "expires_at"},
    "session.updated": {"id", "object", "expires_at"},
}
BETA_WIRE_EXTRAS: dict[str, set[str]] = {
    # Beta session objects carry object/expires_at on the wire (notes §6.2), not in the model.
    "session.created": {"object", "expires_at"},
    "session.updated": {"object", "expires_at"},
    # Beta usage reported cached_tokens_details {text_tokens, audio_tokens} on the wire
    # (notes §6.7: beta lacks only image_tokens); the beta SDK model omits the object.
    "response.done": {"cached_tokens_details"},
    "transcription_session.created": {"id", "object", "input_audio_noise_reduction", "include"},
    "transcription_session.updated": {"id", "object", "input_audio_noise_reduction", "include"},
}


def _by_type(union: Any) -> dict[str, type[pydantic.BaseModel]]:
    """type literal -> model, for each member of an SDK event union."""
    members = typing.get_args(typing.get_args(union)[0]) or typing.get_args(union)
    out: dict[str, type[pydantic.BaseModel]] = {}
    for model in members:
        literal = model.model_fields["type"].annotation
        for value in typing.get_args(literal):
            out[value] = model
    return out


SERVER_MODELS = {
    "ga": _by_type(ga_types.RealtimeServerEvent),
    "beta": _by_type(beta_types.RealtimeServerEvent),
}
CLIENT_MODELS = {
    "ga": _by_type(ga_types.RealtimeClientEvent),
    "beta": _by_type(beta_types.RealtimeClientEvent),
}


def _extras(model: pydantic.BaseModel, path: str = "") -> list[str]:
    """Dotted paths of every undeclared field in a validated model tree."""
    found = [f"{path}{k}" for k in (model.model_extra or {})]
    for name in type(model).model_fields:
        found += _extras_in(getattr(model, name), f"{path}{name}.")
    return found


def _extras_in(value: object, path: str) -> list[str]:
    if isinstance(value, pydantic.BaseModel):
        return _extras(value, path)
    if isinstance(value, list | tuple):
        return [e for i, v in enumerate(value) for e in _extras_in(v, f"{path[:-1]}[{i}].")]
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _extras_in(v, f"{path}{k}.")]
    return []


def _beta_transcription_session(event: dict[str, Any]) -> list[str]:
    # Not in the beta union (created) or typed with the REST model that requires
    # ``client_secret`` (updated) although its own docstring says the socket omits it:
    # validate the session by hand with a placeholder secret.
    session = dict(event["session"])
    session.setdefault("client_secret", {"expires_at": 0, "value": "placeholder"})
    model = beta_types.TranscriptionSession.model_validate(session)
    assert set(event) == {"type", "event_id", "session"}
    return [f"session.{e}" for e in _extras(model)]


def check_server_event(dialect: str, event: dict[str, Any]) -> None:
    """Assert ``event`` validates, strictly, against the SDK model of its type."""
    kind = event.get("type")
    if dialect == "beta" and kind in (
        "transcription_session.created",
        "transcription_session.updated",
    ):
        extras = _beta_transcription_session(event)
    else:
        model = SERVER_MODELS[dialect].get(kind)  # type: ignore[arg-type]
        assert model is not None, f"{dialect}: {kind!r} is not a server event of the SDK"
        extras = _extras(model.model_validate(event))
    allowed = (WIRE_EXTRAS if dialect == "ga" else BETA_WIRE_EXTRAS).get(kind or "", set())
    unexpected = [e for e in extras if e.split(".")[-1] not in allowed]
    assert not unexpected, f"{dialect} {kind}: fields not in the SDK model: {unexpected}"


_GA_RESPONSE_WITH_REFERENCES = pydantic.TypeAdapter(ga_types.ResponseCreateEventWithReferencesParam)


def _has_reference(event: dict[str, Any]) -> bool:
    items = (event.get("response") or {}).get("input") or []
    return any(isinstance(i, dict) and i.get("type") == "item_reference" for i in items)


def check_client_event(dialect: str, event: dict[str, Any]) -> None:
    """Assert a client event validates, strictly, against the SDK client-event model.

    GA ``response.create`` with ``item_reference`` inputs is only typed as the SDK's
    ``ResponseCreateEventWithReferencesParam`` TypedDict (what ``connection.send``
    accepts); it is validated against that, which cannot flag extra keys.
    """
    if dialect == "ga" and event.get("type") == "response.create" and _has_reference(event):
        _GA_RESPONSE_WITH_REFERENCES.validate_python(event)
        return
    model = CLIENT_MODELS[dialect].get(event.get("type"))  # type: ignore[arg-type]
    assert model is not None, f"{dialect}: {event.get('type')!r} is not an SDK client event"
    extras = _extras(model.model_validate(event))
    assert not extras, f"client event has fields unknown to the SDK: {extras}"


class Client:
    """A test client over trio-websocket that checks every event both ways."""

    def __init__(self, ws: WebSocketConnection, dialect: str) -> None:
        self.ws = ws
        self.dialect = dialect
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any], *, check: bool = True) -> None:
        """Send a client event (validated against the SDK unless ``check`` is False)."""
        if check:
            check_client_event(self.dialect, event)
        await self.ws.send_message(json.dumps(event))

    async def send_raw(self, message: str | bytes) -> None:
        """Send a frame as is."""
        await self.ws.send_message(message)

    async def recv(self) -> dict[str, Any]:
        """The next server event, validated."""
        event = json.loads(await self.ws.get_message())
        check_server_event(self.dialect, event)
        self.seen.append(event)
        return event

    async def recv_until(self, kind: str) -> list[dict[str, Any]]:
        """Events up to and including the first of type ``kind``."""
        out = []
        while True:
            event = await self.recv()
            out.append(event)
            if event["type"] == kind:
                return out

    async def turn(self, response: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``response.create`` then every event up to ``rate_limits.updated``."""
        event: dict[str, Any] = {"type": "response.create"}
        if response is not None:
            event["response"] = response
        await self.send(event)
        return await self.recv_until("rate_limits.updated")

    async def text_session(self) -> dict[str, Any]:
        """Switch to text output with VAD off; return ``session.updated``."""
        if self.dialect == "ga":
            session = {
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": None}},
            }
        else:
            session = {"modalities": ["text"], "turn_detection": None}
        await self.send({"type": "session.update", "session": session})
        return (await self.recv_until("session.updated"))[-1]

    async def audio_output_session(self) -> dict[str, Any]:
        """GA: switch to spoken output with VAD off; return ``session.updated``."""
        session = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": None}},
        }
        await self.send({"type": "session.update", "session": session})
        return (await self.recv_until("session.updated"))[-1]

    async def transcription_session(self, model: str) -> dict[str, Any]:
        """GA: configure a transcription session (VAD off); return ``session.updated``."""
        audio_input = {"transcription": {"model": model}, "turn_detection": None}
        session = {"type": "transcription", "audio": {"input": audio_input}}
        await self.send({"type": "session.update", "session": session})
        return (await self.recv_until("session.updated"))[-1]

    async def commit_audio(self, samples: int) -> None:
        """Append ``samples`` of 24 kHz PCM16 in one event, then commit the buffer."""
        await self.send({"type": "input_audio_buffer.append", "audio": b64(pcm16(samples))})
        await self.send({"type": "input_audio_buffer.commit"})


def headers_for(dialect: str, key: str | None = KEY) -> list[tuple[bytes, bytes]]:
    """Handshake headers: Bearer key, plus the beta header for beta."""
    headers = [] if key is None else [(b"Authorization", f"Bearer {key}".encode())]
    if dialect == "beta":
        headers.append((b"OpenAI-Beta", b"realtime=v1"))
    return headers


@asynccontextmanager
async def connect(
    emu: Emulator,
    dialect: str = "ga",
    *,
    query: str = "model=gpt-realtime",
    key: str | None = KEY,
    subprotocols: list[str] | None = None,
    expect_session: bool = True,
) -> AsyncIterator[Client]:
    """Open a checked client connection; read ``session.created`` unless told not to."""
    url = f"{emu.url}?{query}" if query else emu.url
    async with open_websocket_url(
        url,
        extra_headers=headers_for(dialect, key),
        subprotocols=subprotocols,
        max_message_size=CLIENT_MAX_MESSAGE,
        message_queue_size=64,
    ) as ws:
        client = Client(ws, dialect)
        if expect_session:
            first = await client.recv()
            assert first["type"] in ("session.created", "transcription_session.created")
        yield client


def user_text(text: str, dialect: str = "ga") -> dict[str, Any]:
    """A user text message item."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def types_of(events: list[dict[str, Any]]) -> list[str]:
    """The ``type`` of each event."""
    return [e["type"] for e in events]


def b64(data: bytes) -> str:
    """Base64 text of ``data``."""
    import base64

    return base64.b64encode(data).decode("ascii")


def pcm16(samples: int) -> bytes:
    """``samples`` samples of quiet 24 kHz PCM16."""
    return b"\x10\x00" * samples


def ga_text_session_update(**extra: Any) -> dict[str, Any]:
    """A GA ``session.update`` for text output, VAD off."""
    session = {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
        **extra,
    }
    return {"type": "session.update", "session": session}
