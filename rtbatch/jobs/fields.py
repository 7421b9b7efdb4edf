"""One line of a job file: its JSON, its id and its fields, checked into a :class:`Job`.

The first problem found stops the line: it is raised as :class:`Invalid` (field and
message) and the reader turns it into a :class:`~rtbatch.jobs.JobProblem`. The run's
dialect and models decide some fields (:mod:`rtbatch.jobs.rules`); they are asked
here, where each field is read, so that a line reports its first problem whatever
kind of rule it breaks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from rtbatch import models
from rtbatch.jobs import rules as jobrules
from rtbatch.jobs import tools as jobtools
from rtbatch.jobs.checks import (
    Invalid,
    audio_path,
    check_known,
    fail,
    got,
    json_type,
    nonempty_str,
    one_of,
    quote,
    string,
)
from rtbatch.jobs.expect import read_expect
from rtbatch.jobs.model import (
    Job,
    JobKind,
    Message,
    Modality,
    ReasoningEffort,
    ResponseOptions,
    Role,
    TranscriptionOptions,
)
from rtbatch.jobs.reference import reference_text
from rtbatch.jobs.rules import JobRules
from rtbatch.jobs.turns import parse_turns
from rtbatch.models import NOISE_REDUCTION_TYPES, SAVED_PROMPTS_SHUTDOWN

# Invalid, fail and quote are the reader's too.
__all__ = ["Invalid", "build_job", "fail", "id_key", "job_id_of", "parse_object", "quote"]

#: Longest id, in characters. Ids name result lines and audio output files.
MAX_ID_CHARS = 512

_TASKS: tuple[Literal["transcribe", "respond"], ...] = ("transcribe", "respond")
_ROLES: tuple[Role, ...] = get_args(Role)
_EFFORTS: tuple[ReasoningEffort, ...] = get_args(ReasoningEffort)
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_ISO_639_1 = re.compile(r"[a-z]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The line's JSON object; raises :class:`Invalid` for bad UTF-8, bad JSON or a non-object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            column = len(raw[: bad.start].decode("utf-8")) + 1
            fail(None, f"not valid UTF-8 (byte 0x{raw[bad.start]:02x} at column {column})")
        fail(None, f"invalid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        fail(None, f"expected a JSON object, got {json_type(value)}")
    return value


def id_key(obj: dict[str, Any]) -> str:
    """Which key the line's id is under, ``"id"`` or ``"custom_id"``."""
    return "custom_id" if "custom_id" in obj and "id" not in obj else "id"


def job_id_of(obj: dict[str, Any]) -> str:
    """The line's id; raises :class:`Invalid` when it is missing, doubled or unusable."""
    if "id" in obj and "custom_id" in obj:
        fail("custom_id", "give id or custom_id, not both")
    key = id_key(obj)
    if key not in obj:
        fail("id", "required (or custom_id)")
    value = nonempty_str(key, obj[key])
    if len(value) > MAX_ID_CHARS:
        fail(key, f"longer than {MAX_ID_CHARS} characters ({len(value)})")
    control = _CONTROL.search(value)
    if control is not None:
        code = f"U+{ord(control.group()):04X}"
        fail(key, f"contains a control character ({code} at position {control.start() + 1})")
    return value


# Every top-level field, in the order of the reference in docs/jobs.md.
_FIELDS = (
    "id",
    "custom_id",
    "prompt",
    "messages",
    "audio",
    "turns",
    "task",
    "transcription",
    "reference",
    "instructions",
    "max_output_tokens",
    "temperature",
    "reasoning",
    "output_modalities",
    "voice",
    *jobtools.FIELDS,
    "expect",
    "metadata",
)


#: Saved prompts (``prompt: {"id": "pmpt_…"}``) are shut down from this day on (SDK 3.63.0).


def _service_shapes(obj: dict[str, Any]) -> None:
    """Name the service's own rules where a line borrows its shapes, before they read
    as merely unknown or mistyped fields."""
    prompt = obj.get("prompt")
    if isinstance(prompt, dict):
        saved = f" ({quote(prompt['id'])})" if isinstance(prompt.get("id"), str) else ""
        fail(
            "prompt",
            f"a saved prompt{saved}: saved prompts were shut down on "
            f"{SAVED_PROMPTS_SHUTDOWN.isoformat()}; "
            "write the prompt's text here as a string",
        )
    noise = obj.get("noise_reduction")
    if isinstance(noise, dict) and noise.get("type") not in NOISE_REDUCTION_TYPES:
        fail(
            "noise_reduction",
            f"an object needs type {' or '.join(NOISE_REDUCTION_TYPES)} "
            "(null turns noise reduction off); jobs do not set noise reduction yet, "
            "so leave the field out",
        )


def build_job(obj: dict[str, Any], job_id: str, line: int, base: Path, rules: JobRules) -> Job:
    """The job of a line whose JSON and id are good; raises :class:`Invalid` otherwise."""
    _service_shapes(obj)
    check_known(obj, _FIELDS, "")
    kind = _kind(obj)
    if "transcription" in obj and kind != "transcribe":
        fail("transcription", "only for audio jobs with task transcribe")
    if "reference" in obj and kind != "transcribe":
        fail("reference", "only for audio jobs with task transcribe (it scores the transcript)")
    if kind == "transcribe":
        for name in ("instructions", *_OPTION_FIELDS, *jobtools.FIELDS):
            if name in obj:
                fail(name, "not allowed with task transcribe (it produces no response)")
    prompt = nonempty_str("prompt", obj["prompt"]) if "prompt" in obj else None
    messages = _messages(obj["messages"]) if "messages" in obj else None
    instructions = string("instructions", obj["instructions"]) if "instructions" in obj else None
    options = _options(obj, rules)
    # A transcribe job makes no response: the run's tool defaults skip it.
    tools = jobtools.job_tools(obj, rules) if kind != "transcribe" else None
    # After the fields it is checked against: what the job can answer, and its tools.
    expect = read_expect(obj["expect"], kind, tools, options) if "expect" in obj else None
    return Job(
        id=job_id,
        line=line,
        kind=kind,
        prompt=prompt,
        messages=messages,
        instructions=instructions,
        options=options,
        metadata=_metadata(obj["metadata"]) if "metadata" in obj else None,
        audio=audio_path("audio", obj["audio"], base) if kind in _AUDIO_KINDS else None,
        transcription=_transcription(obj.get("transcription", {}), rules)
        if kind == "transcribe"
        else None,
        tools=tools,
        reference=reference_text(obj["reference"], base) if "reference" in obj else None,
        expect=expect,
        turns=parse_turns(obj["turns"], base) if kind == "conversation" else None,
    )


_AUDIO_KINDS = ("transcribe", "respond")
_INPUTS = ("prompt", "messages", "audio", "turns")


def _kind(obj: dict[str, Any]) -> JobKind:
    """Which input the job has; every combination but one input is a problem."""
    has_prompt, has_messages = "prompt" in obj, "messages" in obj
    if "turns" in obj:
        for name in (*_INPUTS[:3], "task"):
            if name in obj:
                fail(name, "not allowed with turns (the turns are the input)")
        return "conversation"
    if "task" in obj and "audio" not in obj:
        fail("task", "only for audio jobs (add audio, or remove task)")
    if "audio" not in obj:
        if has_prompt and has_messages:
            fail(None, "both prompt and messages given (a job takes one input)")
        if not has_prompt and not has_messages:
            fail(None, f"no input: expected one of {', '.join(_INPUTS)}")
        return "text"
    if has_prompt or has_messages:
        fail(
            "prompt" if has_prompt else "messages",
            "not allowed with audio (the audio is the input)",
        )
    if "task" not in obj:
        fail("task", f"required with audio: one of {', '.join(_TASKS)}")
    return one_of("task", obj["task"], _TASKS)


# --- field values -----------------------------------------------------------------------------


def _max_output_tokens(value: object, rules: JobRules) -> int | Literal["inf"]:
    if value == "inf":
        return "inf"
    cap = jobrules.output_cap(rules)
    if type(value) is not int or value < 1 or (cap is not None and value > cap):
        # Without a catalogue figure (a model it does not know) the endpoint decides.
        expected = f"1..{cap}" if cap is not None else "a positive integer"
        fail("max_output_tokens", f'expected {expected} or "inf" for {rules.model}, {got(value)}')
    return value


def _temperature(value: object, rules: JobRules) -> float:
    problem = jobrules.temperature_problem(rules)
    if problem is not None:
        fail("temperature", problem)
    low, high = jobrules.TEMPERATURE_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        fail("temperature", f"expected a number {low}..{high}, {got(value)}")
    return float(value)


def _reasoning(value: object, rules: JobRules) -> ReasoningEffort:
    problem = jobrules.ga_param_problem("reasoning", rules)
    if problem is not None:
        fail("reasoning", problem)
    if not isinstance(value, dict):
        fail("reasoning", f'expected an object such as {{"effort": "low"}}, {got(value)}')
    check_known(value, ("effort",), "reasoning.")
    if "effort" not in value:
        fail("reasoning.effort", "required")
    return one_of("reasoning.effort", value["effort"], _EFFORTS)


def _output_modalities(value: object) -> tuple[Modality, ...]:
    if value == ["text"]:
        return ("text",)
    if value == ["audio"]:
        return ("audio",)
    fail("output_modalities", f'expected ["text"] or ["audio"], {got(value)}')


_OPTION_FIELDS = ("max_output_tokens", "temperature", "reasoning", "output_modalities", "voice")


def _options(obj: dict[str, Any], rules: JobRules) -> ResponseOptions:
    if not any(name in obj for name in _OPTION_FIELDS):
        return _NO_OPTIONS
    return ResponseOptions(
        max_output_tokens=_max_output_tokens(obj["max_output_tokens"], rules)
        if "max_output_tokens" in obj
        else None,
        temperature=_temperature(obj["temperature"], rules) if "temperature" in obj else None,
        output_modalities=_output_modalities(obj["output_modalities"])
        if "output_modalities" in obj
        else None,
        voice=nonempty_str("voice", obj["voice"]) if "voice" in obj else None,
        reasoning_effort=_reasoning(obj["reasoning"], rules) if "reasoning" in obj else None,
    )


_NO_OPTIONS = ResponseOptions()


def _messages(value: object) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        fail("messages", f"expected a non-empty array of {{role, content}} objects, {got(value)}")
    return tuple(_message(f"messages[{i}]", item) for i, item in enumerate(value))


def _message(where: str, item: object) -> Message:
    if not isinstance(item, dict):
        fail(where, f"expected an object with role and content, {got(item)}")
    check_known(item, ("role", "content"), f"{where}.")
    for key in ("role", "content"):
        if key not in item:
            fail(f"{where}.{key}", "required")
    role = one_of(f"{where}.role", item["role"], _ROLES)
    return Message(role, nonempty_str(f"{where}.content", item["content"]))


def _transcription(value: object, rules: JobRules) -> TranscriptionOptions:
    if not isinstance(value, dict):
        fail("transcription", f"expected an object, {got(value)}")
    check_known(value, ("model", "language", "languages", "prompt"), "transcription.")
    model = _transcription_model(value["model"], rules) if "model" in value else None
    language = value.get("language")
    if "language" in value and (not isinstance(language, str) or not _LANGUAGE.fullmatch(language)):
        fail("transcription.language", f'expected a language code such as "en", {got(language)}')
    prompt = languages = None
    if "prompt" in value:
        _check_param("prompt", model, rules)
        prompt = string("transcription.prompt", value["prompt"])
    if "languages" in value:
        _check_param("languages", model, rules)
        languages = _languages(value["languages"])
    return TranscriptionOptions(model, language, prompt, languages)


def _transcription_model(value: object, rules: JobRules) -> str:
    name = nonempty_str("transcription.model", value)
    if models.lookup(name) is None:
        if rules.known_endpoint:
            usable = jobrules.usable_list("transcription", rules)
            fail("transcription.model", f"expected one of {usable}, {got(value)}")
        return name  # another endpoint's own model (a deployment name): it decides
    problem = jobrules.transcription_model_problem(name, rules)
    if problem is not None:
        fail("transcription.model", problem)
    return name


def _check_param(param: jobrules.TranscriptionParam, model: str | None, rules: JobRules) -> None:
    problem = jobrules.transcription_param_problem(param, model, rules)
    if problem is not None:
        fail(f"transcription.{param}", problem)


def _languages(value: object) -> tuple[str, ...]:
    where = "transcription.languages"
    if not isinstance(value, list) or not value:
        fail(where, f'expected a non-empty array of codes such as ["en", "fr"], {got(value)}')
    for i, code in enumerate(value):
        if not isinstance(code, str) or not _ISO_639_1.fullmatch(code):
            fail(f"{where}[{i}]", f'expected an ISO-639-1 code such as "en", {got(code)}')
    return tuple(value)


def _metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail("metadata", f"expected an object, {got(value)}")
    try:
        orjson.dumps(value)  # it is copied into the result: it must serialise back
    except orjson.JSONEncodeError as exc:
        fail("metadata", f"cannot be copied into the result: {exc}")
    return value
