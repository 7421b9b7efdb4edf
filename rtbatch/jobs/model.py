"""The job model: what a valid line of a job file becomes, and why a bad one is not a job."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

JobKind = Literal["text", "transcribe", "respond"]
Role = Literal["system", "user", "assistant"]
Modality = Literal["text", "audio"]
ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]


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
    reasoning_effort: ReasoningEffort | None = None


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """Settings of a transcribe job; ``None`` means the run's default."""

    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    #: Possible languages, ISO-639-1 codes, for the models that take them.
    languages: tuple[str, ...] | None = None


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
