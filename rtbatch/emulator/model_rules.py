"""Per-model rules, read from the catalogue (:mod:`rtbatch.models`), with the service's
error shapes: which model a connection may name, and what each model refuses in a
``session.update`` or a ``response.create``.

The handshake rules decide before a session exists (one ``error``, then close 4000);
the event rules run after an event passed its dialect's schema and return an
:class:`~rtbatch.emulator.errors.ClientError` (or a fatal one) for the first problem.
What each shape rests on is listed in ``docs/emulator.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from rtbatch.emulator.dialects import Dialect, Intent, JsonObj, SessionSettings
from rtbatch.emulator.dialects.base import transcription_models
from rtbatch.emulator.errors import (
    ClientError,
    FatalClientError,
    model_not_found,
    unsupported_parameter,
)
from rtbatch.emulator.validation import value_issue
from rtbatch.models import SAVED_PROMPTS_SHUTDOWN, Model, Param, lookup, same_model

#: Fields only reasoning models take; sent to another model they end the session.
REASONING_FIELDS: tuple[Param, ...] = ("reasoning", "parallel_tool_calls")
#: Transcription fields some models refuse.
TRANSCRIPTION_FIELDS: tuple[Param, ...] = ("prompt", "languages")


MIGRATE_PROMPTS_URL = (
    "https://developers.openai.com/api/docs/guides/prompting/migrate-from-prompt-object"
)

BETA_DISABLED_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A handshake the service answers with one ``error`` and close 4000."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """Which models are served: OpenAI's today, or a compatible beta server's.

    Attributes:
        accept_beta: serve beta clients, and the models shut down on OpenAI's service.
        today: the date lifecycles are judged at.
    """

    accept_beta: bool
    today: dt.date

    def shut_down(self, model: Model) -> bool:
        """Whether ``model`` is refused as shut down (never with ``accept_beta``)."""
        return not self.accept_beta and model.lifecycle(self.today) == "shut_down"


def handshake_refusal(
    policy: ModelPolicy, dialect: Literal["ga", "beta"], intent: Intent, model: str
) -> Refusal | None:
    """The first reason to refuse a connection's dialect, intent and ``?model=``.

    Args:
        policy: which models are served.
        dialect: the handshake's dialect.
        intent: ``realtime`` or ``transcription``.
        model: the ``?model=`` value (``""`` when absent).

    Returns:
        The refusal, or None when the connection is served.
    """
    if dialect == "beta" and not policy.accept_beta:
        return Refusal("beta_api_shape_disabled", BETA_DISABLED_MESSAGE)
    if intent == "transcription":
        if model and dialect == "ga":
            return Refusal(
                "invalid_model",
                "You must not provide a model parameter for transcription sessions.",
            )
        return None
    if not model:
        return Refusal(
            "missing_model",
            "You must provide a model parameter in the URL query string, e.g. ?model=gpt-realtime.",
        )
    row = lookup(model)
    # A model the catalogue gives GA only was never served in beta: not even a
    # compatible beta server names it (the beta SDK's session model enum lacks it).
    if row is None or policy.shut_down(row) or dialect not in row.dialects:
        return Refusal("model_not_found", model_not_found(model))
    if row.kind != "realtime":
        return Refusal("invalid_model", f'Model "{model}" is not supported in realtime mode.')
    return None


def _saved_prompt(policy: ModelPolicy, fields: JsonObj, prefix: str) -> None:
    """Refuse a saved prompt once they are shut down (``null`` clears, so it passes)."""
    if fields.get("prompt") is None or policy.today < SAVED_PROMPTS_SHUTDOWN:
        return
    param = f"{prefix}.prompt"
    # The service's refusal is UNCONFIRMED: the code is OpenAI's usual one for a
    # parameter it no longer takes, the wording names the shutdown and the way out.
    raise ClientError(
        "unsupported_parameter",
        f"Unsupported parameter: '{param}'. Saved prompts were shut down on "
        f"{SAVED_PROMPTS_SHUTDOWN:%B} {SAVED_PROMPTS_SHUTDOWN.day}, {SAVED_PROMPTS_SHUTDOWN.year}; "
        f"put the prompt in your instructions and input instead ({MIGRATE_PROMPTS_URL}).",
        param,
    )


def _at(obj: JsonObj, path: tuple[str, ...]) -> object:
    """The value at ``path`` inside nested objects, or None."""
    value: object = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _reasoning_fields(model: Model | None, fields: JsonObj, prefix: str) -> None:
    for name in REASONING_FIELDS:
        if name in fields and model is not None and not model.accepts(name):
            raise FatalClientError(
                "unsupported_parameter",
                unsupported_parameter(f"{prefix}.{name}"),
                f"{prefix}.{name}",
            )


def _output_cap(model: Model | None, value: object, param: str) -> None:
    cap = model.max_output_tokens if model is not None else None
    if cap is not None and isinstance(value, int) and not isinstance(value, bool) and value > cap:
        # Same wording as the schema's range errors (validation.Num).
        raise ClientError(
            "invalid_value",
            f"Invalid '{param}': integer above maximum value. Expected a value <= {cap}, "
            f"but got {value} instead.",
            param,
        )


def _transcription(policy: ModelPolicy, dialect: Dialect, config: object, path: str) -> None:
    if not isinstance(config, dict):
        return
    name = config.get("model")
    if not isinstance(name, str):
        return  # the dialect's default model applies
    row = lookup(name)
    if row is None or row.kind != "transcription" or dialect.name not in row.dialects:
        issue = value_issue(f"{path}.model", name, transcription_models(dialect.name))
        raise ClientError.of(issue)
    if policy.shut_down(row):
        raise ClientError("model_not_found", model_not_found(name), f"{path}.model")
    for field in TRANSCRIPTION_FIELDS:
        if field in config and not row.accepts(field):
            param = f"{path}.{field}"
            raise ClientError("unsupported_parameter", unsupported_parameter(param), param)


def check_session_update(
    policy: ModelPolicy,
    dialect: Dialect,
    model: str,
    update: JsonObj,
    *,
    voice: object,
    assistant_audio: bool,
) -> None:
    """Apply the connection model's rules to a schema-valid ``session`` object.

    Args:
        policy: which models are served.
        dialect: the connection's dialect.
        model: the connection's model (``""`` for a transcription session).
        update: the event's ``session`` object.
        voice: the session's voice now.
        assistant_audio: the conversation holds assistant audio.

    Raises:
        FatalClientError: ``reasoning``/``parallel_tool_calls`` for a model without them.
        ClientError: the model changes, its output cap is passed, a saved prompt is
            named, the voice changes after assistant audio, or the transcription model
            or its fields are refused.
    """
    row = lookup(model) if model else None
    _reasoning_fields(row, update, "session")
    _saved_prompt(policy, update, "session")
    named = update.get("model")
    if isinstance(named, str) and model and not same_model(named, model):
        raise ClientError("invalid_value", "Cannot update a session's model.", "session.model")
    key = dialect.max_tokens_key
    _output_cap(row, update.get(key), f"session.{key}")
    new_voice = _at(update, dialect.voice_path)
    if new_voice is not None and new_voice != voice and assistant_audio:
        raise ClientError(
            "cannot_update_voice",
            "Cannot update a conversation's voice if assistant audio is present.",
            "session." + ".".join(dialect.voice_path),
        )
    path = dialect.transcription_path
    _transcription(policy, dialect, _at(update, path), "session." + ".".join(path))


def check_effective_session(dialect: Dialect, settings: SessionSettings) -> None:
    """Rules on the session an update would leave, defaults included.

    The session starts with server VAD on, so naming ``gpt-realtime-whisper`` without
    switching VAD off in the same update is refused too.

    Raises:
        ClientError: turn detection is on with a model that takes none.
    """
    model = settings.transcription_model
    # "For `gpt-realtime-whisper` transcription sessions, turn detection must be set to
    # `null`; VAD is not supported" (SDK docstring): the catalogue's ``vad``.
    row = lookup(model) if model else None
    if row is not None and not row.vad and settings.turn_detection is not None:
        param = "session." + ".".join(dialect.turn_detection_path)
        # The shape is inferred: OpenAI's ``unsupported_value`` wording for a value a
        # model does not take (as for temperature on reasoning models).
        raise ClientError(
            "unsupported_value",
            f"Unsupported value: '{param}' does not support '{settings.turn_detection}' "
            f"with {model}. Only null is supported: this model has no turn detection.",
            param,
        )


def check_response(policy: ModelPolicy, dialect: Dialect, model: str, response: JsonObj) -> None:
    """Apply the connection model's rules to a schema-valid ``response`` object.

    Args:
        policy: which models are served, and the date rules are judged at.
        dialect: the connection's dialect.
        model: the connection's model.
        response: the ``response.create`` event's ``response`` object.

    Raises:
        FatalClientError: ``reasoning``/``parallel_tool_calls`` for a model without them.
        ClientError: the output cap is above the model's, or a saved prompt is named.
    """
    row = lookup(model) if model else None
    _reasoning_fields(row, response, "response")
    _saved_prompt(policy, response, "response")
    key = dialect.max_tokens_key
    _output_cap(row, response.get(key), f"response.{key}")
