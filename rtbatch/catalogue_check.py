"""``rtbatch models``: the catalogue printed, and checked against what an endpoint lists.

``--check`` asks the endpoint's ``GET /v1/models`` (the same host as ``--url``, over
HTTPS for ``wss://``) and compares each model's ``shutdown_date`` with the
catalogue's. The catalogue is behind when the endpoint announces a shutdown it does
not know, gives another date, no longer lists a model it thinks is served, or lists
a realtime or transcription model it has never heard of. The request runs in a
worker thread through the standard library (one GET does not justify an HTTP client
dependency); the key goes in its ``Authorization`` header and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rtbatch.catalogue import CATALOGUE
from rtbatch.models import lifecycle_text, lookup

#: How long the model list may take to come.
CHECK_TIMEOUT_S = 30.0
_KEYISH = re.compile(r"\bsk-\S*")
#: Names of models a Realtime catalogue should know, when an endpoint lists them (the
#: chat-completions audio models, ``gpt-audio``, ``gpt-4o-audio-preview``, are not).
_REALTIME_WORDS = ("realtime", "transcribe")


class CheckFailed(Exception):
    """The endpoint could not be asked: unreachable, the key refused, or an answer not a list."""


@dataclass(frozen=True, slots=True)
class Listed:
    """A model as the endpoint lists it."""

    id: str
    shutdown: dt.date | None


def models_url(realtime_url: str) -> str:
    """``wss://host/v1/realtime`` → ``https://host/v1/models`` (``ws://`` → ``http://``)."""
    parts = urlsplit(realtime_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    path = parts.path.rsplit("/realtime", 1)[0] if parts.path.endswith("/realtime") else "/v1"
    return urlunsplit((scheme, parts.netloc, path.rstrip("/") + "/models", "", ""))


def fetch_models(url: str, api_key: str) -> list[Listed]:
    """GET the model list (blocking: run it in a thread).

    Raises:
        CheckFailed: with a message that never contains the key.
    """
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=CHECK_TIMEOUT_S) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise CheckFailed(f"{url}: HTTP {exc.code} {_error_message(exc)}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CheckFailed(f"{url}: {reason}") from None
    try:
        return [_listed(row) for row in body["data"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckFailed(f"{url}: not a model list ({exc})") from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read())["error"]["message"]
    except (ValueError, KeyError, TypeError, OSError):
        return str(exc.reason)
    # The service's 401 message quotes the key's last characters: not even those here.
    return _KEYISH.sub("(the key)", str(message).split(". ", 1)[0])


def _listed(row: Mapping[str, Any]) -> Listed:
    date = row.get("shutdown_date")
    return Listed(str(row["id"]), None if date is None else dt.date.fromisoformat(str(date)))


def behind(listed: Iterable[Listed], today: dt.date) -> list[str]:
    """Where the catalogue is behind the endpoint's list, one sentence each."""
    seen: set[str] = set()
    notes: list[str] = []
    for row in listed:
        seen.add(row.id)
        model = lookup(row.id)
        if model is None:
            if any(word in row.id for word in _REALTIME_WORDS):
                notes.append(f"{row.id}: listed by the endpoint, not in the catalogue")
            continue
        if row.shutdown != model.shutdown:
            notes.append(
                f"{row.id}: the endpoint says it shuts down {_date(row.shutdown)}, "
                f"the catalogue {_date(model.shutdown)}"
            )
    for model in CATALOGUE:
        if model.id not in seen and model.lifecycle(today) != "shut_down":
            notes.append(f"{model.id}: served by the catalogue, not listed by the endpoint")
    return notes


def _date(date: dt.date | None) -> str:
    return "never (none announced)" if date is None else f"on {date.isoformat()}"


def table(today: dt.date) -> str:
    """The catalogue as ``rtbatch models`` prints it: one model a line."""
    lines = [f"{'model':<40} {'kind':<13} {'dialects':<8} lifecycle"]
    for m in CATALOGUE:
        dialects = "/".join(sorted(m.dialects))
        lines.append(f"{m.id:<40} {m.kind:<13} {dialects:<8} {lifecycle_text(m, today)}")
    return "\n".join(lines)
