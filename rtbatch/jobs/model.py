"""The job model: what a valid line of a job file becomes, and why a bad one is not a job."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

JobKind = Literal["text", "transcribe", "respond", "conversation"]
Role = Literal["system", "user", "assistant"]
Modality = Literal["text", "audio"]
ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a multi-turn text job."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One user turn of a conversation: its text, or its audio (an absolute path)."""

    text: str | None = None
    audio: Path | None = None


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


ToolMode = Literal["auto", "none", "required"]


@dataclass(frozen=True, slots=True)
class FunctionChoice:
    """A ``tool_choice`` that forces one declared function (the protocol layer spells it)."""

    name: str


ToolChoice = ToolMode | FunctionChoice


@dataclass(frozen=True, slots=True)
class ScriptedOutput:
    """One scripted answer of a function: its output, for calls whose arguments match.

    ``match`` is None for a case that answers every call; otherwise each of its keys
    must be in the call's arguments with an equal value (objects compare as subsets).
    """

    output: Any = field(hash=False)
    match: Mapping[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class Tools:
    """A job's function calling: the run's ``--tools`` defaults with its own fields over them.

    Attributes:
        definitions: the function tools, as sent (``type``, ``name``, …).
        choice: the first response's ``tool_choice``; None leaves the service's default.
        parallel_tool_calls: None leaves the model's default.
        outputs: function name -> its scripted answers, tried in order.
    """

    definitions: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    outputs: Mapping[str, tuple[ScriptedOutput, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ToolFields:
    """The tool fields one source gives (a job line, or the ``--tools`` file); None where absent."""

    definitions: tuple[Mapping[str, Any], ...] | None = field(default=None, hash=False)
    choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    outputs: Mapping[str, tuple[ScriptedOutput, ...]] | None = field(default=None, hash=False)


# --- expectations: the checks of a job's ``expect`` (evaluated by rtbatch.evals.checks) ------


@dataclass(frozen=True, slots=True)
class Contains:
    """The answer's text contains ``needle`` (case-folded both sides with ``ignore_case``)."""

    name: ClassVar[str] = "contains"
    needle: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class NotContains:
    """The answer's text does not contain ``needle``."""

    name: ClassVar[str] = "not_contains"
    needle: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class Regex:
    """``pattern`` matches somewhere in the answer's text (``re.search``)."""

    name: ClassVar[str] = "regex"
    pattern: re.Pattern[str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class ToolCalled:
    """Some call of the function ``function`` had arguments that ``arguments`` matches
    (a subset, as ``tool_outputs`` cases match; None: any arguments)."""

    name: ClassVar[str] = "tool_called"
    function: str
    arguments: Mapping[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class NoToolCall:
    """No call of ``function`` (None: no call at all)."""

    name: ClassVar[str] = "no_tool_call"
    function: str | None = None


@dataclass(frozen=True, slots=True)
class MaxLatency:
    """A latency stage (or ``total``, the line's ``latency_ms``) took at most ``ms``."""

    name: ClassVar[str] = "max_latency_ms"
    stage: str
    ms: int


@dataclass(frozen=True, slots=True)
class MaxCost:
    """The line's ``cost_usd`` is at most ``usd``."""

    name: ClassVar[str] = "max_cost_usd"
    usd: float


@dataclass(frozen=True, slots=True)
class MinWords:
    """The answer's text has at least ``count`` words (whitespace-separated)."""

    name: ClassVar[str] = "min_words"
    count: int


@dataclass(frozen=True, slots=True)
class MaxWords:
    """The answer's text has at most ``count`` words."""

    name: ClassVar[str] = "max_words"
    count: int


Check = (
    Contains
    | NotContains
    | Regex
    | ToolCalled
    | NoToolCall
    | MaxLatency
    | MaxCost
    | MinWords
    | MaxWords
)


@dataclass(frozen=True, slots=True)
class Job:
    """One valid line of a job file.

    ``kind`` says which input is set: ``prompt`` or ``messages`` for ``"text"``,
    ``audio`` (an absolute path) for ``"transcribe"`` and ``"respond"``, ``turns``
    for ``"conversation"``.
    ``transcription`` is set for every transcribe job and only for those;
    ``tools`` for a job that declares functions (its own, or the run's defaults);
    ``expect`` for a job with checks, one :data:`Check` per assertion, in the order
    of ``docs/jobs.md``.
    ``reference`` for a transcribe job scored against a text (its text, read).
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
    tools: Tools | None = None
    expect: tuple[Check, ...] | None = None
    reference: str | None = field(default=None, hash=False, repr=False)
    turns: tuple[Turn, ...] | None = None


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
