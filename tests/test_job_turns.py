"""jobs/turns.py and the reader: a conversation's turns, each problem named by file, line, field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson

from rtbatch.jobs import Job, JobProblem, JobRules, Turn, read_jobs

TODAY = dt.date(2026, 12, 7)
AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"


def _read(tmp: Path, *lines: object, **kw: Any) -> list[Job | JobProblem]:
    path = tmp / "chats.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return list(read_jobs(path, rules=JobRules(today=TODAY), **kw))


def test_turns_make_a_conversation_job_relative_to_the_file(tmp_path: Path) -> None:
    """Text and audio turns, in order; an audio path is relative to the job file's directory."""
    line = {"id": "c", "turns": [{"text": "Hi"}, {"audio": "clip.wav"}], "instructions": ""}
    (job,) = _read(tmp_path, line)
    assert isinstance(job, Job) and job.kind == "conversation"
    assert job.turns == (Turn(text="Hi"), Turn(audio=tmp_path / "clip.wav"))
    assert (job.prompt, job.messages, job.audio) == (None, None, None)


def test_every_bad_turn_is_named_by_file_line_and_field(tmp_path: Path) -> None:
    """Each problem reads FILE:LINE: FIELD: MESSAGE, the first of its line."""
    lines = [
        {"id": "a", "turns": "hello"},
        {"id": "b", "turns": []},
        {"id": "c", "turns": ["hello"]},
        {"id": "d", "turns": [{"text": "x"}, {"text": "y", "audio": "z.wav"}]},
        {"id": "e", "turns": [{"txt": "x"}]},
        {"id": "f", "turns": [{"text": ""}]},
        {"id": "g", "turns": [{"text": "x"}], "prompt": "y"},
        {"id": "h", "turns": [{"text": "x"}], "audio": "a.wav", "task": "respond"},
        {"id": "i", "turns": [{"text": "x"}], "task": "respond"},
        {"id": "j", "turns": [{"text": "x"}], "transcription": {}},
        {"id": "k", "turns": [{"text": "x"}, {"audio": "missing.wav"}]},
        {"id": "l", "turns": [{"text": "x"}], "temperature": 0.8},
    ]
    name = tmp_path / "chats.jsonl"
    problems = [str(p) for p in _read(tmp_path, *lines, check_files=True)]
    expected_array = 'expected a non-empty array of {"text": …} or {"audio": …} turns'
    assert problems == [
        f'{name}:1: turns: {expected_array}, got "hello" (string)',
        f"{name}:2: turns: {expected_array}, got [] (array)",
        f'{name}:3: turns[0]: expected an object {{"text": …}} or {{"audio": …}}, '
        'got "hello" (string)',
        f"{name}:4: turns[1]: give text or audio (one a turn)",
        f"{name}:5: turns[0].txt: unknown field; did you mean 'text'? "
        "(expected one of: text, audio)",
        f"{name}:6: turns[0].text: expected a non-empty string, got an empty string",
        f"{name}:7: prompt: not allowed with turns (the turns are the input)",
        f"{name}:8: audio: not allowed with turns (the turns are the input)",
        f"{name}:9: task: not allowed with turns (the turns are the input)",
        f"{name}:10: transcription: only for audio jobs with task transcribe",
        f"{name}:11: turns[1].audio: file not found: {tmp_path / 'missing.wav'}",
        f"{name}:12: temperature: the GA interface has no temperature; drop the field, "
        "or run with --beta",
    ]


def test_audio_turns_together_must_fit_the_model_s_context(tmp_path: Path) -> None:
    """Two turns of 1,500 s each pass one by one and fail together (gpt-realtime-1.5: 2,764.8 s)."""
    line = {"id": "long", "turns": [{"audio": str(AUDIO / "hello.wav")}] * 2}
    (problem,) = _read(tmp_path, line, check_files=True, probe=lambda _: 1500.0)
    assert isinstance(problem, JobProblem) and problem.field == "turns"
    assert problem.message.startswith("the audio turns together: 3,000.0 s of audio is more")
    (job,) = _read(
        tmp_path, {**line, "turns": line["turns"][:1]}, check_files=True, probe=lambda _: 1500.0
    )
    assert isinstance(job, Job)
