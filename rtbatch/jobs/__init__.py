"""Job files: the job model, the streaming JSONL reader and its validation.

A job file is JSON Lines: UTF-8, one JSON object per line, blank lines skipped
(they still count for line numbers). :func:`read_jobs` streams it line by line and
yields, in file order, a :class:`Job` for every valid line and a
:class:`JobProblem` for every bad one, naming file, line and field; the format is
documented in ``docs/jobs.md``.

A line is checked twice: for its form (:mod:`~rtbatch.jobs.fields`), and for what
the run it is read for can send (:mod:`~rtbatch.jobs.rules`, from the model
catalogue): the :class:`JobRules` passed to :func:`read_jobs` name the dialect, the
models and the kind of endpoint, so that a file that validates is one the run will
not refuse job by job. The run's own models are checked once, by
:func:`model_problem` and :func:`shutdown_warning`.

Modules: :mod:`~rtbatch.jobs.model` (the data), :mod:`~rtbatch.jobs.reader` (the
file, its lines and ids, and the audio files they name), :mod:`~rtbatch.jobs.fields`
(one line), :mod:`~rtbatch.jobs.tools` (function calling fields and the ``--tools``
file), :mod:`~rtbatch.jobs.turns` (a conversation's turns), :mod:`~rtbatch.jobs.checks`
(the problems' wording), :mod:`~rtbatch.jobs.rules`
(the dialect's and the models' rules).
"""

from rtbatch.jobs.model import (
    FunctionChoice,
    Job,
    JobKind,
    JobProblem,
    Message,
    Modality,
    ReasoningEffort,
    ResponseOptions,
    Role,
    ScriptedOutput,
    ToolChoice,
    ToolFields,
    Tools,
    TranscriptionOptions,
    Turn,
)
from rtbatch.jobs.reader import JobFileError, Probe, read_jobs
from rtbatch.jobs.rules import JobRules, model_problem, shutdown_warning, usable_models
from rtbatch.jobs.tools import ToolFileError, read_tool_file

__all__ = [
    "FunctionChoice",
    "Job",
    "JobFileError",
    "JobKind",
    "JobProblem",
    "JobRules",
    "Message",
    "Modality",
    "Probe",
    "ReasoningEffort",
    "ResponseOptions",
    "Role",
    "ScriptedOutput",
    "ToolChoice",
    "ToolFields",
    "ToolFileError",
    "Tools",
    "TranscriptionOptions",
    "Turn",
    "model_problem",
    "read_jobs",
    "read_tool_file",
    "shutdown_warning",
    "usable_models",
]
