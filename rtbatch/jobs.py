"""The job model and the streaming JSONL reader that validates job files.

A job file is JSON Lines: UTF-8, one JSON object per line, blank lines skipped
(they still count for line numbers). :func:`read_jobs` streams it line by line and
yields, in file order, a :class:`Job` for every valid line and a
:class:`JobProblem` for every bad one; the format itself is documented in
``docs/jobs.md``.

Memory: the file is never held whole. A line is read with a hard cap
(:data:`MAX_LINE_BYTES`); a longer line is skipped in chunks. The only state
kept from one line to the next is the index of ids already seen (id → first
line), needed to report duplicates: a compact :class:`~rtbatch.idindex.IdIndex`
of 18-36 bytes an id, and nothing else grows with the file.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, TypeVar, get_args

import orjson

from rtbatch.idindex import IdIndex

JobKind = Literal["text", "transcribe", "respond"]
Role = Literal["system", "user", "assistant"]
Modality = Literal["text", "audio"]

#: Longest line accepted, in bytes, without its final ``\n``. Read at call time,
#: so tests may patch it. Generous for text jobs (the service takes events up to
#: 15 MiB) while keeping one line's memory bounded.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: Longest id, in characters. Ids name result lines and audio output files.
MAX_ID_CHARS = 512
#: How much of an over-long line is read (and dropped) at a time, in bytes.
_DISCARD_CHUNK_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"

#: Output token cap accepted by both dialects: 1..4096, or "inf".
MAX_OUTPUT_TOKENS = 4096
#: Temperature range of the beta dialect (GA has no temperature).
TEMPERATURE_RANGE = (0.6, 1.2)
#: Transcription models the service accepts (see realtime-protocol.md).
TRANSCRIPTION_MODELS = (
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe-diarize",
    "whisper-1",
    "gpt-realtime-whisper",
    "gpt-transcribe",
    "gpt-live-transcribe",
)
_T = TypeVar("_T", bound=str)
_TASKS: tuple[Literal["transcribe", "respond"], ...] = ("transcribe", "respond")
_ROLES: tuple[Role, ...] = get_args(Role)
_MODALITIES: tuple[Modality, ...] = get_args(Modality)
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a multi-turn text job."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ResponseOptions:
    """Per-job response settings; ``None`` means the run's default."""

    max_output_tokens: int | Literal["inf"] | None = None
    temperature: float | None = None
    output_modalities: tuple[Modality, ...] | None = None
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """Settings of a transcribe job; ``None`` means the run's default."""

    model: str | None = None
    language: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One valid line of a job file.

    ``kind`` says which input is set: ``prompt`` or ``messages`` for ``"text"``,
    ``audio`` (an absolute path) for ``"transcribe"`` and ``"respond"``.
    ``transcription`` is set for every transcribe job and only for those.
    """

    id: str
    line: int
    kind: JobKind
    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    instructions: str | None = None
    options: ResponseOptions = ResponseOptions()
    metadata: dict[str, Any] | None = field(default=None, hash=False)
    audio: Path | None = None
    transcription: TranscriptionOptions | None = None


@dataclass(frozen=True, slots=True)
class JobProblem:
    """Why one line of a job file is not a job.

    ``field`` is a path into the line (``"messages[2].role"``, list indexes
    0-based) or ``None`` when the whole line is at fault. ``job_id`` is the
    line's id when it had a usable one (never for a duplicate id).
    """

    path: str
    line: int
    field: str | None
    message: str
    job_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.field is None:
            return f"{where}: {self.message}"
        return f"{where}: {self.field}: {self.message}"


class JobFileError(Exception):
    """Raised when the job file itself cannot be opened or read."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read job file {path}: {reason}")
        self.path = path
        self.reason = reason


def read_jobs(
    path: str | Path,
    *,
    check_files: bool = False,
    base_dir: Path | None = None,
    display_name: str | None = None,
) -> Iterator[Job | JobProblem]:
    """Stream a job file, yielding each line's :class:`Job` or :class:`JobProblem`.

    The file is opened at once and then read lazily, one line per item; it is
    closed when the iterator is exhausted or closed. Each bad line yields one
    problem (the first found). A line whose id was already used (by a valid or
    an invalid line) is a problem on the later line.

    Args:
        path: The job file; ``"-"`` reads standard input (relative audio paths
            are then relative to the working directory).
        check_files: Also check that each audio file exists, is a regular file
            and can be opened for reading.
        base_dir: Resolve relative audio paths against this directory instead
            (a spooled copy of standard input keeps the working directory).
        display_name: The file's name in problems, when it is not ``path``.

    Returns:
        An iterator over jobs and problems, in file order.

    Raises:
        JobFileError: The file cannot be opened (at the call) or a read fails
            (during iteration).
    """
    name = display_name or str(path)
    if str(path) == "-":
        if sys.stdin is None:
            raise JobFileError(name, "standard input is closed")
        return _read(sys.stdin.buffer, name, base_dir or Path.cwd(), check_files, ExitStack())
    # Open now, so a missing file fails at the call; the generator then owns the
    # file (pop_all hands it over) and closes it when it ends or is closed.
    with ExitStack() as stack:
        try:
            stream = stack.enter_context(open(path, "rb"))
        except OSError as exc:
            raise JobFileError(name, exc.strerror or str(exc)) from exc
        base = base_dir or Path(os.path.abspath(path)).parent
        return _read(stream, name, base, check_files, stack.pop_all())


def _read(
    stream: IO[bytes], name: str, base: Path, check_files: bool, owner: ExitStack
) -> Iterator[Job | JobProblem]:
    seen = IdIndex()  # id -> first line: the only state kept across lines
    with owner:
        for line, raw in _lines(stream, name):
            if raw is None:
                limit = _size(MAX_LINE_BYTES)
                yield JobProblem(name, line, None, f"line is longer than {limit}")
                continue
            if line == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if not raw.strip(b" \t\r"):
                continue
            try:
                obj = _parse_object(raw)
                job_id = _job_id(obj)
            except _Invalid as bad:
                yield JobProblem(name, line, bad.field, bad.message)
                continue
            first = seen.setdefault(job_id, line)
            if first != line:
                message = f"duplicate id {_quote(job_id)} (first on line {first})"
                yield JobProblem(name, line, _id_key(obj), message)
                continue
            try:
                yield _job(obj, job_id, line, base, check_files)
            except _Invalid as bad:
                yield JobProblem(name, line, bad.field, bad.message, job_id)


def _lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes without the line ending), or None for an over-long line."""
    line = 0
    while True:
        limit = MAX_LINE_BYTES
        try:
            chunk = stream.readline(limit + 1)
        except OSError as exc:
            raise JobFileError(name, exc.strerror or str(exc)) from exc
        if not chunk:
            return
        line += 1
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        elif len(chunk) > limit:
            # The line goes on past the cap: drop the rest without holding it.
            while chunk and not chunk.endswith(b"\n"):
                try:
                    chunk = stream.readline(_DISCARD_CHUNK_BYTES)
                except OSError as exc:
                    raise JobFileError(name, exc.strerror or str(exc)) from exc
            yield line, None
            continue
        yield line, chunk.removesuffix(b"\r")


# --- one line ---------------------------------------------------------------------------------


class _Invalid(Exception):
    """A line's first problem; caught by the reader and turned into a JobProblem."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message


def _fail(field: str | None, message: str) -> NoReturn:
    raise _Invalid(field, message)


def _parse_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            column = len(raw[: bad.start].decode("utf-8")) + 1
            _fail(None, f"not valid UTF-8 (byte 0x{raw[bad.start]:02x} at column {column})")
        _fail(None, f"invalid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(value, dict):
        _fail(None, f"expected a JSON object, got {_json_type(value)}")
    return value


def _id_key(obj: dict[str, Any]) -> str:
    return "custom_id" if "custom_id" in obj and "id" not in obj else "id"


def _job_id(obj: dict[str, Any]) -> str:
    if "id" in obj and "custom_id" in obj:
        _fail("custom_id", "give id or custom_id, not both")
    key = _id_key(obj)
    if key not in obj:
        _fail("id", "required (or custom_id)")
    value = _nonempty_str(key, obj[key])
    if len(value) > MAX_ID_CHARS:
        _fail(key, f"longer than {MAX_ID_CHARS} characters ({len(value)})")
    control = _CONTROL.search(value)
    if control is not None:
        code = f"U+{ord(control.group()):04X}"
        _fail(key, f"contains a control character ({code} at position {control.start() + 1})")
    return value


# Every top-level field, in the order of the reference in docs/jobs.md.
_FIELDS = (
    "id",
    "custom_id",
    "prompt",
    "messages",
    "audio",
    "task",
    "transcription",
    "instructions",
    "max_output_tokens",
    "temperature",
    "output_modalities",
    "voice",
    "metadata",
)


def _job(obj: dict[str, Any], job_id: str, line: int, base: Path, check_files: bool) -> Job:
    _check_known(obj, _FIELDS, "")
    kind = _kind(obj)
    if "transcription" in obj and kind != "transcribe":
        _fail("transcription", "only for audio jobs with task transcribe")
    if kind == "transcribe":
        for name in ("instructions", *_OPTION_FIELDS):
            if name in obj:
                _fail(name, "not allowed with task transcribe (it produces no response)")
    job = Job(
        id=job_id,
        line=line,
        kind=kind,
        prompt=_nonempty_str("prompt", obj["prompt"]) if "prompt" in obj else None,
        messages=_messages(obj["messages"]) if "messages" in obj else None,
        instructions=_str("instructions", obj["instructions"]) if "instructions" in obj else None,
        options=_options(obj),
        metadata=_metadata(obj["metadata"]) if "metadata" in obj else None,
        audio=_audio_path(obj["audio"], base) if kind != "text" else None,
        transcription=_transcription(obj.get("transcription", {}))
        if kind == "transcribe"
        else None,
    )
    # The file system last: only for a job that is otherwise valid.
    if check_files and job.audio is not None:
        _check_readable(job.audio)
    return job


def _kind(obj: dict[str, Any]) -> JobKind:
    """Which input the job has; every combination but one input is a problem."""
    has_prompt, has_messages = "prompt" in obj, "messages" in obj
    if "task" in obj and "audio" not in obj:
        _fail("task", "only for audio jobs (add audio, or remove task)")
    if "audio" not in obj:
        if has_prompt and has_messages:
            _fail(None, "both prompt and messages given (a job takes one input)")
        if not has_prompt and not has_messages:
            _fail(None, "no input: expected one of prompt, messages, audio")
        return "text"
    if has_prompt or has_messages:
        _fail(
            "prompt" if has_prompt else "messages",
            "not allowed with audio (the audio is the input)",
        )
    if "task" not in obj:
        _fail("task", f"required with audio: one of {', '.join(_TASKS)}")
    return _one_of("task", obj["task"], _TASKS)


def _check_known(obj: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for key in obj:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {_quote(close[0])}?" if close else ""
            _fail(f"{prefix}{key}", f"unknown field{hint} (expected one of: {', '.join(known)})")


# --- field values -----------------------------------------------------------------------------


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        _fail(name, f"expected a string, {_got(value)}")
    return value


def _nonempty_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        _fail(name, f"expected a non-empty string, {_got(value)}")
    return value


def _one_of(name: str, value: object, choices: tuple[_T, ...]) -> _T:
    for choice in choices:
        if isinstance(value, str) and value == choice:
            return choice
    _fail(name, f"expected one of {', '.join(choices)}, {_got(value)}")


def _max_output_tokens(value: object) -> int | Literal["inf"]:
    if value == "inf":
        return "inf"
    if type(value) is not int or not 1 <= value <= MAX_OUTPUT_TOKENS:
        _fail("max_output_tokens", f'expected 1..{MAX_OUTPUT_TOKENS} or "inf", {_got(value)}')
    return value


def _temperature(value: object) -> float:
    low, high = TEMPERATURE_RANGE
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        _fail("temperature", f"expected a number {low}..{high}, {_got(value)}")
    return float(value)


def _output_modalities(value: object) -> tuple[Modality, ...]:
    if value == ["text"]:
        return ("text",)
    if value == ["audio"]:
        return ("audio",)
    _fail("output_modalities", f'expected ["text"] or ["audio"], {_got(value)}')


_OPTION_FIELDS = ("max_output_tokens", "temperature", "output_modalities", "voice")


def _options(obj: dict[str, Any]) -> ResponseOptions:
    if not any(name in obj for name in _OPTION_FIELDS):
        return _NO_OPTIONS
    return ResponseOptions(
        max_output_tokens=_max_output_tokens(obj["max_output_tokens"])
        if "max_output_tokens" in obj
        else None,
        temperature=_temperature(obj["temperature"]) if "temperature" in obj else None,
        output_modalities=_output_modalities(obj["output_modalities"])
        if "output_modalities" in obj
        else None,
        voice=_nonempty_str("voice", obj["voice"]) if "voice" in obj else None,
    )


_NO_OPTIONS = ResponseOptions()


def _messages(value: object) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        _fail("messages", f"expected a non-empty array of {{role, content}} objects, {_got(value)}")
    return tuple(_message(f"messages[{i}]", item) for i, item in enumerate(value))


def _message(where: str, item: object) -> Message:
    if not isinstance(item, dict):
        _fail(where, f"expected an object with role and content, {_got(item)}")
    _check_known(item, ("role", "content"), f"{where}.")
    for key in ("role", "content"):
        if key not in item:
            _fail(f"{where}.{key}", "required")
    role = _one_of(f"{where}.role", item["role"], _ROLES)
    return Message(role, _nonempty_str(f"{where}.content", item["content"]))


def _audio_path(value: object, base: Path) -> Path:
    text = _nonempty_str("audio", value)
    if "\x00" in text:
        _fail("audio", "path contains a NUL character")
    return base / text


def _check_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        _fail("audio", f"file not found: {path}")
    except OSError as exc:
        _fail("audio", f"cannot read {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(mode):
        _fail("audio", f"not a regular file: {path}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        _fail("audio", f"cannot read {path}: {exc.strerror or exc}")


def _transcription(value: object) -> TranscriptionOptions:
    if not isinstance(value, dict):
        _fail("transcription", f"expected an object, {_got(value)}")
    _check_known(value, ("model", "language", "prompt"), "transcription.")
    model = None
    if "model" in value:
        model = _one_of("transcription.model", value["model"], TRANSCRIPTION_MODELS)
    language = value.get("language")
    if "language" in value and (not isinstance(language, str) or not _LANGUAGE.fullmatch(language)):
        _fail("transcription.language", f'expected a language code such as "en", {_got(language)}')
    prompt = _str("transcription.prompt", value["prompt"]) if "prompt" in value else None
    return TranscriptionOptions(model=model, language=language, prompt=prompt)


def _metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail("metadata", f"expected an object, {_got(value)}")
    try:
        orjson.dumps(value)  # it is copied into the result: it must serialise back
    except orjson.JSONEncodeError as exc:
        _fail("metadata", f"cannot be copied into the result: {exc}")
    return value


# --- message text -----------------------------------------------------------------------------

_SNIPPET_CHARS = 40


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _got(value: object) -> str:
    """``got 12 (integer)``: the offending value, shortened, and its JSON type."""
    if value == "":
        return "got an empty string"
    kind = _json_type(value)
    if value is None:
        return "got null"
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested too deeply to print
        return f"got {kind}"
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return f"got {text} ({kind})"


def _quote(text: str) -> str:
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return f"'{text}'"


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"
