"""Strict checks of events against the openai SDK's pydantic models.

The SDK's models accept unknown keys silently (``extra="allow"``), so validation
alone would let a misspelt field through. :func:`assert_conforms` validates and
then walks the parsed model, failing on any key the contract does not know.
"""

from __future__ import annotations

from typing import Any

import pydantic
from openai.types import realtime as ga
from openai.types.beta import realtime as beta

GA_CLIENT = pydantic.TypeAdapter(ga.RealtimeClientEvent)
BETA_CLIENT = pydantic.TypeAdapter(beta.RealtimeClientEvent)
GA_SERVER = pydantic.TypeAdapter(ga.RealtimeServerEvent)
BETA_SERVER = pydantic.TypeAdapter(beta.RealtimeServerEvent)


def _extras(value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        for key in value.model_extra or {}:
            found.append(f"{path}.{key}")
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found += _extras(item, f"{path}[{i}]")
    return found


def assert_conforms(adapter: pydantic.TypeAdapter[Any], event: dict[str, Any]) -> Any:
    """Validate ``event`` and fail on any field the SDK model does not declare."""
    model = adapter.validate_python(event)
    extras = _extras(model, event.get("type", "?"))
    assert not extras, f"fields not in the SDK contract: {extras}"
    return model


def client_adapter(dialect: str) -> pydantic.TypeAdapter[Any]:
    """The client-event union of a dialect."""
    return BETA_CLIENT if dialect == "beta" else GA_CLIENT


def assert_ga_response_with_references(event: dict[str, Any]) -> None:
    """GA ``response.create`` whose ``input`` holds ``item_reference`` items.

    The SDK types references only in its TypedDict param variant, which cannot
    reject extra keys; so the input is checked against that variant and the rest
    of the event against the strict model.
    """
    from openai.types.realtime.response_create_event_with_references_param import (
        ResponseCreateEventWithReferencesParam,
    )

    checked = pydantic.TypeAdapter(ResponseCreateEventWithReferencesParam).validate_python(event)
    list(checked["response"]["input"])  # the SDK types input as Iterable: validated lazily
    rest = {**event, "response": {k: v for k, v in event["response"].items() if k != "input"}}
    assert_conforms(GA_CLIENT, rest)
