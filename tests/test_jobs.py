"""Tests for rtbatch.jobs: the job model, the streaming reader and its validation.

Broken files are generated here with tmp_path; nothing binary is committed. Each
corpus case puts the bad line on line 3, after a valid job and a blank line, so
every case also checks that line numbers count blank lines.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from rtbatch.jobs import (
    Job,
    JobFileError,
    JobProblem,
    JobRules,
    Message,
    ResponseOptions,
    TranscriptionOptions,
    read_jobs,
    reader,
    usable_models,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "jobs"
FIELDS = (
    "id, custom_id, prompt, messages, audio, turns, task, transcription, reference, instructions, "
    "max_output_tokens, temperature, reasoning, output_modalities, voice, tools, tool_choice, "
    "parallel_tool_calls, tool_outputs, expect, metadata"
)
#: The date every read here is checked at: before any shutdown in the catalogue.
TODAY = dt.date(2026, 12, 1)


def write(tmp_path: Path, data: bytes | str, name: str = "jobs.jsonl") -> Path:
    """Write a job file (str is encoded as UTF-8) and return its path."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def lines(*objs: Any) -> str:
    """A JSONL text of the given objects, one per line."""
    return "".join(orjson.dumps(obj).decode() + "\n" for obj in objs)


def read(path: str | Path, **kwargs: Any) -> list[Job | JobProblem]:
    """Every item read_jobs yields for the file, checked for a GA run on TODAY by default."""
    kwargs.setdefault("rules", JobRules(today=TODAY))
    return list(read_jobs(path, **kwargs))


def only_problems(path: str | Path, **kwargs: Any) -> list[str]:
    """The problems of the file, as the CLI prints them."""
    return [str(item) for item in read(path, **kwargs) if isinstance(item, JobProblem)]


# --- the corpus of bad lines ------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
MODELS = (
    "whisper-1, gpt-transcribe, gpt-live-transcribe, gpt-4o-mini-transcribe, "
    "gpt-4o-mini-transcribe-2025-12-15, gpt-4o-transcribe, gpt-4o-transcribe-diarize, "
    "gpt-realtime-whisper"
)
BAD_STR = "expected a non-empty string, got an empty string"
NO_TRANSCRIBE = "not allowed with task transcribe (it produces no response)"
MAX_TOKENS = 'expected 1..4096 or "inf" for gpt-realtime-1.5, got'
MODALITIES = 'expected ["text"] or ["audio"], got'
ROLES = "expected one of system, user, assistant, got"
TASKS = "expected one of transcribe, respond, got"
MSGS = "expected a non-empty array of {role, content} objects, got"
LANGUAGE = 'expected a language code such as "en", got'


def j(**fields: Any) -> bytes:
    """A compact job line with id "a" and the given fields, in order."""
    return orjson.dumps({"id": "a", **fields})


def say(text: str) -> list[dict[str, str]]:
    """A one-message conversation."""
    return [{"role": "user", "content": text}]


def wav(task: object = "transcribe", **fields: Any) -> bytes:
    """An audio job line with id "a"."""
    return j(audio="a.wav", task=task, **fields)


# (bad line as bytes, field, message, job_id on the problem)
CORPUS: list[tuple[bytes, str | None, str, str | None]] = [
    # the line as a whole
    (b'{"id": "a", "prompt": "x"', None, "invalid JSON: unexpected end of data at column 26", None),
    (
        b'{"id": "a"} x',
        None,
        "invalid JSON: unexpected content after document at column 13",
        None,
    ),
    (
        b"{'id': 'a'}",
        None,
        "invalid JSON: unexpected character, expected a string key at column 2",
        None,
    ),
    (b'{"id":"a","prompt":"\xff"}', None, "not valid UTF-8 (byte 0xff at column 21)", None),
    ('{"id":"é'.encode() + b'\xc3"}', None, "not valid UTF-8 (byte 0xc3 at column 9)", None),
    (b'{"id":"a","prompt":"\xed\xa0\x80"}', None, "not valid UTF-8 (byte 0xed at column 21)", None),
    (b"[1, 2]", None, "expected a JSON object, got array", None),
    (b'"a job"', None, "expected a JSON object, got string", None),
    (b"42", None, "expected a JSON object, got integer", None),
    (b"null", None, "expected a JSON object, got null", None),
    (
        b'{"id":"a","prompt":' + DEEP + b"}",
        None,
        "invalid JSON: depth limit exceeded at column 1044",
        None,
    ),
    (DEEP, None, "invalid JSON: depth limit exceeded at column 1026", None),
    (
        b'{"id":"a","prompt":"' + b"y" * 100 + b'"',
        None,
        "invalid JSON: unexpected end of data at column 122",
        None,
    ),
    # id and custom_id
    (b'{"prompt": "x"}', "id", "required (or custom_id)", None),
    (b'{"id": "", "prompt": "x"}', "id", BAD_STR, None),
    (b'{"id": 12, "prompt": "x"}', "id", "expected a non-empty string, got 12 (integer)", None),
    (b'{"id": 1.5, "prompt": "x"}', "id", "expected a non-empty string, got 1.5 (number)", None),
    (b'{"id": true}', "id", "expected a non-empty string, got true (boolean)", None),
    (b'{"id": null}', "id", "expected a non-empty string, got null", None),
    (b'{"id": ["a"]}', "id", 'expected a non-empty string, got ["a"] (array)', None),
    (b'{"id": "' + b"x" * 513 + b'"}', "id", "longer than 512 characters (513)", None),
    (
        b'{"id": "a\\tb", "prompt": "x"}',
        "id",
        "contains a control character (U+0009 at position 2)",
        None,
    ),
    (
        b'{"id": "a\\u0085", "prompt": "x"}',
        "id",
        "contains a control character (U+0085 at position 2)",
        None,
    ),
    (b'{"custom_id": "", "prompt": "x"}', "custom_id", BAD_STR, None),
    (b'{"id": "a", "custom_id": "b"}', "custom_id", "give id or custom_id, not both", None),
    # unknown fields
    (
        j(prompt="x", instruction="y"),
        "instruction",
        f"unknown field; did you mean 'instructions'? (expected one of: {FIELDS})",
        "a",
    ),
    (
        j(prompt="x", modalities=["text"]),
        "modalities",
        f"unknown field; did you mean 'output_modalities'? (expected one of: {FIELDS})",
        "a",
    ),
    (j(prompt="x", zzz=1), "zzz", f"unknown field (expected one of: {FIELDS})", "a"),
    # input: prompt xor messages
    (
        j(prompt="x", messages=say("y")),
        None,
        "both prompt and messages given (a job takes one input)",
        "a",
    ),
    (j(instructions="x"), None, "no input: expected one of prompt, messages, audio, turns", "a"),
    (j(prompt=5), "prompt", "expected a non-empty string, got 5 (integer)", "a"),
    (j(prompt=""), "prompt", BAD_STR, "a"),
    # the service's shapes: saved prompts are shut down, noise_reduction needs its type
    (
        j(prompt={"id": "pmpt_123", "version": "2"}),
        "prompt",
        "a saved prompt ('pmpt_123'): saved prompts were shut down on 2026-11-30; write the "
        "prompt's text here as a string",
        "a",
    ),
    (
        j(prompt={"variables": {}}),
        "prompt",
        "a saved prompt: saved prompts were shut down on 2026-11-30; write the prompt's text "
        "here as a string",
        "a",
    ),
    *[
        (
            j(prompt="x", noise_reduction=noise),
            "noise_reduction",
            "an object needs type near_field or far_field (null turns noise reduction off); "
            "jobs do not set noise reduction yet, so leave the field out",
            "a",
        )
        for noise in ({}, {"type": "loud"}, {"strength": 0.5})
    ],
    (
        b'{"id":"a","prompt":' + b"[" * 500 + b"]" * 500 + b"}",
        "prompt",
        "expected a non-empty string, got array",
        "a",
    ),
    (j(messages=[]), "messages", f"{MSGS} [] (array)", "a"),
    (j(messages="hi"), "messages", f'{MSGS} "hi" (string)', "a"),
    (
        j(messages=["hi"]),
        "messages[0]",
        'expected an object with role and content, got "hi" (string)',
        "a",
    ),
    (
        j(messages=[*say("x"), *say("y"), {"role": "tool", "content": "z"}]),
        "messages[2].role",
        f'{ROLES} "tool" (string)',
        "a",
    ),
    (
        j(messages=[{"role": "User", "content": "x"}]),
        "messages[0].role",
        f'{ROLES} "User" (string)',
        "a",
    ),
    (j(messages=[{"role": 1, "content": "x"}]), "messages[0].role", f"{ROLES} 1 (integer)", "a"),
    (j(messages=[{"role": "user"}]), "messages[0].content", "required", "a"),
    (j(messages=[{"content": "x"}]), "messages[0].role", "required", "a"),
    (j(messages=say("")), "messages[0].content", BAD_STR, "a"),
    (
        j(messages=[{"role": "user", "content": [{"type": "text"}]}]),
        "messages[0].content",
        'expected a non-empty string, got [{"type":"text"}] (array)',
        "a",
    ),
    (
        j(messages=[{"role": "user", "content": "x", "name": "n"}]),
        "messages[0].name",
        "unknown field (expected one of: role, content)",
        "a",
    ),
    (
        j(messages=[{"role": "user", "contents": "x"}]),
        "messages[0].contents",
        "unknown field; did you mean 'content'? (expected one of: role, content)",
        "a",
    ),
    # instructions and response options
    (j(prompt="x", instructions=5), "instructions", "expected a string, got 5 (integer)", "a"),
    (
        j(prompt="x", max_output_tokens=True),
        "max_output_tokens",
        f"{MAX_TOKENS} true (boolean)",
        "a",
    ),
    (j(prompt="x", max_output_tokens=1.0), "max_output_tokens", f"{MAX_TOKENS} 1.0 (number)", "a"),
    (j(prompt="x", max_output_tokens=0), "max_output_tokens", f"{MAX_TOKENS} 0 (integer)", "a"),
    (
        j(prompt="x", max_output_tokens=4097),
        "max_output_tokens",
        f"{MAX_TOKENS} 4097 (integer)",
        "a",
    ),
    (
        j(prompt="x", max_output_tokens="INF"),
        "max_output_tokens",
        f'{MAX_TOKENS} "INF" (string)',
        "a",
    ),
    (
        j(prompt="x", temperature=0.8),
        "temperature",
        "the GA interface has no temperature; drop the field, or run with --beta",
        "a",
    ),
    (
        j(prompt="x", output_modalities=["text", "audio"]),
        "output_modalities",
        f'{MODALITIES} ["text","audio"] (array)',
        "a",
    ),
    (
        j(prompt="x", output_modalities="text"),
        "output_modalities",
        f'{MODALITIES} "text" (string)',
        "a",
    ),
    (j(prompt="x", voice=""), "voice", BAD_STR, "a"),
    (
        j(prompt="x", voice={"id": "voice_1"}),
        "voice",
        'expected a non-empty string, got {"id":"voice_1"} (object)',
        "a",
    ),
    # metadata
    (j(prompt="x", metadata=[1]), "metadata", "expected an object, got [1] (array)", "a"),
    (j(prompt="x", metadata=None), "metadata", "expected an object, got null", "a"),
    (
        j(prompt="x", metadata="m" * 60),
        "metadata",
        f'expected an object, got "{"m" * 38}… (string)',
        "a",
    ),
    (
        b'{"id":"a","prompt":"x","metadata":{"m":' + b"[" * 1000 + b"]" * 1000 + b"}}",
        "metadata",
        "cannot be copied into the result: Recursion limit reached",
        "a",
    ),
    # audio jobs
    (j(audio="a.wav"), "task", "required with audio: one of transcribe, respond", "a"),
    (j(prompt="x", task="respond"), "task", "only for audio jobs (add audio, or remove task)", "a"),
    (wav("translate"), "task", f'{TASKS} "translate" (string)', "a"),
    (wav(["respond"]), "task", f'{TASKS} ["respond"] (array)', "a"),
    (wav("respond", prompt="x"), "prompt", "not allowed with audio (the audio is the input)", "a"),
    (
        wav("respond", messages=[]),
        "messages",
        "not allowed with audio (the audio is the input)",
        "a",
    ),
    (j(audio="", task="respond"), "audio", BAD_STR, "a"),
    (j(audio=7, task="respond"), "audio", "expected a non-empty string, got 7 (integer)", "a"),
    (j(audio="a\x00.wav", task="respond"), "audio", "path contains a NUL character", "a"),
    (
        wav("respond", transcription={}),
        "transcription",
        "only for audio jobs with task transcribe",
        "a",
    ),
    (
        j(prompt="x", transcription={}),
        "transcription",
        "only for audio jobs with task transcribe",
        "a",
    ),
    (wav(voice="alloy"), "voice", NO_TRANSCRIBE, "a"),
    (wav(instructions="x"), "instructions", NO_TRANSCRIBE, "a"),
    (wav(temperature=0.8), "temperature", NO_TRANSCRIBE, "a"),
    (
        wav(transcription="whisper-1"),
        "transcription",
        'expected an object, got "whisper-1" (string)',
        "a",
    ),
    (
        wav(transcription={"languge": "en"}),
        "transcription.languge",
        "unknown field; did you mean 'language'? "
        "(expected one of: model, language, languages, prompt)",
        "a",
    ),
    (
        wav(transcription={"model": "gpt-4"}),
        "transcription.model",
        f'expected one of {MODELS}, got "gpt-4" (string)',
        "a",
    ),
    (
        wav(transcription={"language": "English"}),
        "transcription.language",
        f'{LANGUAGE} "English" (string)',
        "a",
    ),
    (
        wav(transcription={"language": "EN"}),
        "transcription.language",
        f'{LANGUAGE} "EN" (string)',
        "a",
    ),
    (
        wav(transcription={"prompt": 3}),
        "transcription.prompt",
        "expected a string, got 3 (integer)",
        "a",
    ),
]


@pytest.mark.parametrize(
    ("bad", "field", "message", "job_id"),
    CORPUS,
    ids=[f"{n:02d}-{case[1] or 'line'}" for n, case in enumerate(CORPUS)],
)
def test_corpus_of_bad_lines(
    tmp_path: Path, bad: bytes, field: str | None, message: str, job_id: str | None
) -> None:
    """Each bad line yields exactly its problem, on its line, and the jobs around it survive."""
    good = b'{"id": "good", "prompt": "fine"}\n'
    path = write(tmp_path, good + b"\n" + bad + b"\n" + b'{"id": "after", "prompt": "ok"}\n')
    items = read(path)
    assert [item.id for item in items if isinstance(item, Job)] == ["good", "after"]
    assert items[1] == JobProblem(str(path), 3, field, message, job_id)
    assert [item.line for item in items] == [1, 3, 4]


# --- jobs as built ----------------------------------------------------------------------------


def test_text_job_with_every_field(tmp_path: Path) -> None:
    """A (beta) text job keeps its input, instructions, options and metadata as given."""
    obj = {
        "id": "j1",
        "prompt": "Hello",
        "instructions": "",
        "max_output_tokens": "inf",
        "temperature": 1,
        "output_modalities": ["audio"],
        "voice": "marin",
        "metadata": {"a": [1, {"b": None}], "big": 18446744073709551615},
    }
    (job,) = read(write(tmp_path, lines(obj)), rules=JobRules("beta", "gpt-realtime", today=TODAY))
    assert job == Job(
        id="j1",
        line=1,
        kind="text",
        prompt="Hello",
        instructions="",
        options=ResponseOptions("inf", 1.0, ("audio",), "marin"),
        metadata={"a": [1, {"b": None}], "big": 18446744073709551615},
    )
    assert isinstance(job, Job)
    assert isinstance(job.options.temperature, float)


def test_messages_job_and_custom_id(tmp_path: Path) -> None:
    """A messages job becomes a tuple of Message; custom_id becomes the id."""
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    (job,) = read(
        write(tmp_path, lines({"custom_id": "c-1", "messages": msgs, "max_output_tokens": 5}))
    )
    assert job == Job(
        id="c-1",
        line=1,
        kind="text",
        messages=(
            Message("system", "Be brief."),
            Message("user", "Hi"),
            Message("assistant", "Hello"),
        ),
        options=ResponseOptions(max_output_tokens=5),
    )


def test_defaults_and_hashable(tmp_path: Path) -> None:
    """A bare prompt job has default options and no metadata; jobs are hashable."""
    (job,) = read(write(tmp_path, lines({"id": "x", "prompt": "p", "metadata": {"k": [1]}})))
    assert isinstance(job, Job)
    assert job.options == ResponseOptions()
    assert job.messages is None and job.audio is None and job.transcription is None
    assert hash(job) == hash(job)


def test_audio_jobs_resolve_paths_relative_to_the_job_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative audio paths are joined to the job file's directory, absolute ones are kept."""
    elsewhere = tmp_path / "elsewhere.wav"
    path = write(
        tmp_path,
        lines(
            {"id": "t", "audio": "clips/a.wav", "task": "transcribe"},
            {
                "id": "t2",
                "audio": "../b.mp3",
                "task": "transcribe",
                "transcription": {"model": "whisper-1", "language": "en", "prompt": ""},
            },
            {"id": "r", "audio": str(elsewhere), "task": "respond", "voice": "alloy"},
        ),
        name="sub/jobs.jsonl",
    )
    monkeypatch.chdir(tmp_path)
    t, t2, r = read("sub/jobs.jsonl")
    assert t == Job(
        id="t",
        line=1,
        kind="transcribe",
        audio=tmp_path / "sub" / "clips" / "a.wav",
        transcription=TranscriptionOptions(),
    )
    assert isinstance(t2, Job) and t2.audio == tmp_path / "sub" / ".." / "b.mp3"
    assert t2.transcription == TranscriptionOptions("whisper-1", "en", "")
    assert r == Job(
        id="r",
        line=3,
        kind="respond",
        audio=elsewhere,
        options=ResponseOptions(voice="alloy"),
    )
    assert path.parent == tmp_path / "sub"


def test_check_files(tmp_path: Path) -> None:
    """check_files reports missing files and non-files; existing files pass."""
    (tmp_path / "ok.wav").write_bytes(b"RIFF")
    (tmp_path / "dir.wav").mkdir()
    path = write(
        tmp_path,
        lines(
            {"id": "ok", "audio": "ok.wav", "task": "respond"},
            {"id": "missing", "audio": "missing.wav", "task": "transcribe"},
            {"id": "dir", "audio": "dir.wav", "task": "transcribe"},
        ),
    )
    assert only_problems(path) == []
    assert only_problems(path, check_files=True, probe=lambda _: 1.0) == [
        f"{path}:2: audio: file not found: {tmp_path / 'missing.wav'}",
        f"{path}:3: audio: not a regular file: {tmp_path / 'dir.wav'}",
    ]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_check_files_unreadable(tmp_path: Path) -> None:
    """check_files reports a file that cannot be opened for reading."""
    audio = tmp_path / "secret.wav"
    audio.write_bytes(b"RIFF")
    audio.chmod(0)
    path = write(tmp_path, lines({"id": "s", "audio": "secret.wav", "task": "respond"}))
    try:
        assert only_problems(path, check_files=True) == [
            f"{path}:1: audio: cannot read {audio}: Permission denied"
        ]
    finally:
        audio.chmod(0o600)


def test_check_files_open_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check_files reports a regular file whose open fails (simulated, so it runs as root too)."""
    audio = tmp_path / "locked.wav"
    audio.write_bytes(b"RIFF")
    path = write(tmp_path, lines({"id": "s", "audio": "locked.wav", "task": "respond"}))
    real_open = open

    def refuse(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file) == audio:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    items = read_jobs(path, check_files=True)  # the job file itself opens normally
    monkeypatch.setattr("builtins.open", refuse)
    assert [str(item) for item in items] == [
        f"{path}:1: audio: cannot read {audio}: Permission denied"
    ]


def test_check_files_comes_after_field_checks(tmp_path: Path) -> None:
    """A missing file is not reported for a line that already has a field problem."""
    path = write(tmp_path, lines({"id": "a", "audio": "nope.wav", "task": "respond", "voice": 1}))
    assert only_problems(path, check_files=True) == [
        f"{path}:1: voice: expected a non-empty string, got 1 (integer)"
    ]


# --- duplicates -------------------------------------------------------------------------------


def test_duplicate_ids(tmp_path: Path) -> None:
    """A reused id is a problem on the later line naming the first; ids of bad lines count too."""
    path = write(
        tmp_path,
        lines(
            {"id": "a", "prompt": "x"},
            {"id": "b", "prompt": ""},
            {"id": "a", "prompt": "y"},
            {"custom_id": "b", "prompt": "z"},
            {"id": "c", "prompt": "ok"},
        ),
    )
    items = read(path)
    assert items[1] == JobProblem(
        str(path), 2, "prompt", "expected a non-empty string, got an empty string", "b"
    )
    assert items[2] == JobProblem(str(path), 3, "id", "duplicate id 'a' (first on line 1)")
    assert items[3] == JobProblem(str(path), 4, "custom_id", "duplicate id 'b' (first on line 2)")
    assert isinstance(items[4], Job) and items[4].id == "c"


def test_duplicate_long_id_is_shortened(tmp_path: Path) -> None:
    """A long duplicated id is cut in the message."""
    long_id = "x" * 100
    path = write(tmp_path, lines({"id": long_id, "prompt": "a"}, {"id": long_id, "prompt": "b"}))
    assert only_problems(path) == [f"{path}:2: id: duplicate id '{'x' * 39}…' (first on line 1)"]


# --- the file as a whole ----------------------------------------------------------------------


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    """An empty file, or one of blank lines only, yields no items."""
    assert read(write(tmp_path, b"")) == []
    assert read(write(tmp_path, b"\n  \n\t\r\n\n", name="blank.jsonl")) == []


def test_blank_lines_count_for_line_numbers(tmp_path: Path) -> None:
    """Blank and whitespace-only lines are skipped but counted."""
    path = write(tmp_path, '\n\n{"id":"a","prompt":"x"}\n   \n{"id":"b","prompt":"y"}')
    assert [(item.line, item.id) for item in read(path) if isinstance(item, Job)] == [
        (3, "a"),
        (5, "b"),
    ]


def test_bom_on_first_line(tmp_path: Path) -> None:
    """A UTF-8 BOM is tolerated at the start of the file only."""
    job = b'{"id":"a","prompt":"x"}'
    path = write(
        tmp_path, b"\xef\xbb\xbf" + job + b"\n\xef\xbb\xbf" + job.replace(b"a", b"b") + b"\n"
    )
    first, second = read(path)
    assert isinstance(first, Job) and first.id == "a"
    assert (
        str(second)
        == f"{path}:2: invalid JSON: UTF-8 byte order mark (BOM) is not supported at column 1"
    )


def test_bom_then_blank_first_line(tmp_path: Path) -> None:
    """A BOM alone on the first line leaves a blank line."""
    path = write(tmp_path, b'\xef\xbb\xbf\r\n{"id":"a","prompt":"x"}\r\n')
    (job,) = read(path)
    assert isinstance(job, Job) and job.line == 2


def test_crlf_line_endings(tmp_path: Path) -> None:
    """CRLF files read like LF files, with the same line numbers and values."""
    path = write(tmp_path, b'{"id":"a","prompt":"x"}\r\n\r\n{"id":"b","prompt":"y\\r"}\r\n')
    a, b = read(path)
    assert isinstance(a, Job) and (a.line, a.prompt) == (1, "x")
    assert isinstance(b, Job) and (b.line, b.prompt) == (3, "y\r")


def test_last_line_without_newline(tmp_path: Path) -> None:
    """The last line needs no line ending."""
    (job,) = read(write(tmp_path, b'{"id":"a","prompt":"x"}'))
    assert isinstance(job, Job) and job.id == "a"


def test_long_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line over MAX_LINE_BYTES is one problem, skipped in chunks; a line at the cap passes."""
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 64)
    monkeypatch.setattr(reader, "_DISCARD_CHUNK_BYTES", 7)
    at_cap = b'{"id":"a","prompt":"' + b"x" * 42 + b'"}'
    assert len(at_cap) == 64
    over = at_cap.replace(b'"a"', b'"b"').replace(b'"}', b'y"}')
    path = write(
        tmp_path,
        at_cap
        + b"\n"
        + over
        + b"\n"
        + b"z" * 1000
        + b"\n"
        + at_cap.replace(b'"a"', b'"c"')
        + b"\n"
        + over,
    )
    assert [str(item) if isinstance(item, JobProblem) else item.id for item in read(path)] == [
        "a",
        f"{path}:2: line is longer than 64 bytes",
        f"{path}:3: line is longer than 64 bytes",
        "c",
        f"{path}:5: line is longer than 64 bytes",
    ]


def test_long_line_message_in_mib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap is named in MiB when it is a whole number of MiB."""
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1024 * 1024)
    path = write(tmp_path, b'{"id":"a","prompt":"' + b"x" * (1024 * 1024) + b'"}\n')
    assert only_problems(path) == [f"{path}:1: line is longer than 1 MiB"]
    assert reader.MAX_LINE_BYTES == 1024 * 1024
    monkeypatch.undo()
    assert str(JobProblem("f", 1, None, "x")) == "f:1: x"
    assert reader._size(reader.MAX_LINE_BYTES) == "16 MiB"


def test_problem_str() -> None:
    """A problem prints as path:line: field: message, or path:line: message."""
    problem = JobProblem(
        "jobs.jsonl", 17, "messages[2].role", "expected one of system, user, assistant"
    )
    assert (
        str(problem) == "jobs.jsonl:17: messages[2].role: expected one of system, user, assistant"
    )
    assert str(JobProblem("-", 3, None, "invalid JSON: x")) == "-:3: invalid JSON: x"


# --- opening, stdin, laziness -----------------------------------------------------------------


def test_missing_file_raises_at_call(tmp_path: Path) -> None:
    """A missing file raises JobFileError at the call, naming the file."""
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(JobFileError, match=r"nope\.jsonl: No such file or directory") as info:
        read_jobs(missing)
    assert info.value.path == str(missing)


def test_directory_raises(tmp_path: Path) -> None:
    """A directory given as the job file raises JobFileError."""
    with pytest.raises(JobFileError, match="Is a directory"):
        read_jobs(tmp_path)


class _Stdin(io.TextIOWrapper):
    """A text stdin over bytes, as sys.stdin is."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))


def test_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "-" reads standard input's bytes; problems name "-"; audio is relative to the cwd."""
    data = lines({"id": "a", "prompt": "x"}, {"id": "b", "audio": "a.wav", "task": "respond"})
    monkeypatch.setattr(sys, "stdin", _Stdin(data.encode() + b"\xff\n"))
    monkeypatch.chdir(tmp_path)
    a, b, bad = read("-")
    assert isinstance(a, Job) and a.id == "a"
    assert isinstance(b, Job) and b.audio == tmp_path / "a.wav"
    assert str(bad) == "-:3: not valid UTF-8 (byte 0xff at column 1)"


def test_stdin_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no standard input at all, "-" raises JobFileError."""
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(JobFileError, match="standard input is closed"):
        read_jobs("-")


class _OneLineThenFail(io.BytesIO):
    """A stream that fails the test if read past its first line."""

    def __init__(self, first: bytes, error: Exception) -> None:
        super().__init__(first)
        self.error = error
        self.reads = 0

    def readline(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return super().readline(size)


class _FakeStdin:
    """Just enough of sys.stdin: its binary buffer."""

    def __init__(self, buffer: io.BytesIO) -> None:
        self.buffer = buffer


def test_reading_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Taking the first job reads only the first line."""
    stream = _OneLineThenFail(b'{"id":"a","prompt":"x"}\n', AssertionError("read too far"))
    monkeypatch.setattr(sys, "stdin", _FakeStdin(stream))
    items = read_jobs("-")
    first = next(items)
    assert isinstance(first, Job) and first.id == "a"
    assert stream.reads == 1


def test_first_job_of_a_file_with_garbage_after(tmp_path: Path) -> None:
    """The first job is usable even when later lines are garbage."""
    path = write(tmp_path, b'{"id":"a","prompt":"x"}\n' + b"\xff\x00garbage" * 1000 + b"\n")
    items = read_jobs(path)
    first = next(items)
    assert isinstance(first, Job) and first.id == "a"
    items.close()  # type: ignore[attr-defined]


def test_read_error_midway_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that fails during iteration raises JobFileError, after the lines already read."""
    stream = _OneLineThenFail(b'{"id":"a","prompt":"x"}\n', OSError(5, "Input/output error"))
    monkeypatch.setattr(sys, "stdin", _FakeStdin(stream))
    items = read_jobs("-")
    assert isinstance(next(items), Job)
    with pytest.raises(JobFileError, match="cannot read job file -: Input/output error"):
        next(items)


def test_file_is_closed_when_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader closes the file when exhausted."""
    opened: list[io.BufferedReader] = []
    real_open = open

    def spy(*args: Any, **kwargs: Any) -> Any:
        f = real_open(*args, **kwargs)
        opened.append(f)
        return f

    monkeypatch.setattr("builtins.open", spy)
    path = write(tmp_path, lines({"id": "a", "prompt": "x"}))
    items: Iterator[Job | JobProblem] = read_jobs(path)
    assert not opened[0].closed
    list(items)
    assert opened[0].closed


# --- the example files ------------------------------------------------------------------------


def test_examples_are_valid() -> None:
    """jobs/demo.jsonl and jobs/messages.jsonl validate cleanly and show the format's range."""
    demo = read(EXAMPLES / "demo.jsonl")
    messages = read(EXAMPLES / "messages.jsonl")
    assert all(isinstance(item, Job) for item in demo + messages)
    assert len(demo) >= 12 and len(messages) >= 3
    assert all(isinstance(job, Job) and job.messages for job in messages)
    text = (EXAMPLES / "demo.jsonl").read_text()
    for word in (
        '"custom_id"',
        '"messages"',
        '"instructions"',
        '"metadata"',
        '"max_output_tokens"',
    ):
        assert word in text


def test_invalid_example_has_problems() -> None:
    """jobs/invalid.jsonl shows several different problems and one good job."""
    items = read(EXAMPLES / "invalid.jsonl")
    problems = [item for item in items if isinstance(item, JobProblem)]
    assert len(problems) >= 6
    assert len({p.message.split(" ")[0] for p in problems}) >= 5
    assert any(isinstance(item, Job) for item in items)


def test_docs_show_what_validate_prints() -> None:
    """docs/jobs.md's run of rtbatch validate on jobs/invalid.jsonl is the reader's output."""
    doc = (EXAMPLES.parent / "docs" / "jobs.md").read_text()
    shown = doc.split("$ rtbatch validate jobs/invalid.jsonl\n", 1)[1].split("```", 1)[0]
    problems = only_problems(
        EXAMPLES / "invalid.jsonl", check_files=True, display_name="jobs/invalid.jsonl"
    )
    assert shown.splitlines() == problems


def test_docs_list_the_transcription_models_of_each_interface() -> None:
    """docs/jobs.md lists, per interface, the transcription models the catalogue gives it."""
    doc = (EXAMPLES.parent / "docs" / "jobs.md").read_text()
    for dialect, name in (("ga", "GA"), ("beta", "Beta")):
        usable = usable_models("transcription", JobRules(dialect, today=TODAY))
        assert f"{name}: {', '.join(f'`{m}`' for m in usable)}." in doc
