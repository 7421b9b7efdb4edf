"""What a run accepts of a job: the rules of its dialect and of its models.

:mod:`~rtbatch.jobs.fields` checks that a line is well formed; this module says
whether the run it is read for can send it. GA has no temperature;
``max_output_tokens`` is capped by the run model; ``reasoning``, transcription
``prompt`` and ``languages`` only go to the models that take them; a transcription
model must be one the dialect reaches; a respond job's audio must fit the run
model's context. Every fact is the model catalogue's (:mod:`rtbatch.models`): this
module only applies them, so that ``rtbatch validate`` gives the answer a run
would, before anything is sent.

Endpoints come in two kinds. On OpenAI's (and the emulator's default mode) the
catalogue is the whole truth: an unknown model is an error, and a model past its
shutdown date is refused. Elsewhere (Azure deployment names, compatible servers) a
model the catalogue does not know passes, and shutdown dates, which are OpenAI's
schedule, do not apply; a model the catalogue does know keeps its kind, dialects,
limits and parameters there too.

The run model's own problems (unknown, shut down, wrong kind or dialect) are the
runner's to report, once, through :func:`model_problem`; the checks of a job line only
use the run model's limits, and pass where the catalogue has none.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Literal

from rtbatch import models
from rtbatch.defaults import DEFAULT_MODEL, DEFAULT_TRANSCRIPTION_MODEL
from rtbatch.jobs.model import ToolFields
from rtbatch.models import DialectName, Model, ModelKind

#: Temperature range of the beta dialect; GA has no temperature.
TEMPERATURE_RANGE = (0.6, 1.2)
#: Tokens a respond job keeps free in the context beyond its answer's cap: the
#: instructions and the items' framing. A guess for instructions of ordinary length;
#: a longer one can still overflow, and the service then says so.
CONTEXT_MARGIN_TOKENS = 256

TranscriptionParam = Literal["prompt", "languages"]
_DIALECT_NAMES: dict[DialectName, str] = {"ga": "GA", "beta": "beta"}


@dataclass(frozen=True, slots=True)
class JobRules:
    """The run a job file is checked for.

    Attributes:
        dialect: The interface the run speaks, ``"ga"`` or ``"beta"``.
        model: The run's realtime model (its limits cap respond and text jobs).
        transcription_model: The run's transcription model, for transcribe jobs
            that do not name one.
        known_endpoint: True for OpenAI's endpoint and the emulator's default mode,
            where the catalogue's rules hold whole; False for other endpoints,
            where models the catalogue does not know pass and shutdowns do not apply.
        today: The date lifecycles are read at.
        tools: The run-wide function calling defaults (``--tools FILE``), merged
            under each job's own fields.
    """

    dialect: DialectName = "ga"
    model: str = DEFAULT_MODEL
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL
    known_endpoint: bool = True
    today: dt.date = field(default_factory=dt.date.today)
    tools: ToolFields | None = None


# --- the run's models -------------------------------------------------------------------------


def model_problem(model: str, rules: JobRules, *, kind: ModelKind = "realtime") -> str | None:
    """Why a run cannot use ``model`` as its ``kind`` model, or None when it can.

    Args:
        model: A model id (or, off OpenAI's endpoint, a deployment name).
        rules: The run; its dialect, endpoint kind and date apply.
        kind: ``"realtime"`` for the run model, ``"transcription"`` for the run's
            transcription model.

    Returns:
        One sentence naming the model, e.g. ``"gpt-realtime-2 is not available in the
        beta interface (it is GA only)"``; None for a usable model, and for a model the
        catalogue does not know on another endpoint (the caller notes that once).
    """
    row = models.lookup(model)
    if row is None:
        if not rules.known_endpoint:
            return None
        ids = [m.id for m in models.models_of(kind)]
        close = difflib.get_close_matches(model, ids, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {kind} model {model!r}{hint} (expected one of: {usable_list(kind, rules)})"
    if row.kind != kind:
        return f"{model} is a {row.kind} model, not a {kind} model"
    return _row_problem(row, rules)


def shutdown_warning(model: str, today: dt.date | None = None) -> str | None:
    """The warning for a model whose shutdown is announced but not yet past.

    Args:
        model: A model id.
        today: The date to read the lifecycle at (default: today).

    Returns:
        ``"gpt-realtime shuts down on 2027-01-20; use gpt-realtime-1.5"``, or None for
        a current model, one already shut down (:func:`model_problem` refuses it) and
        one the catalogue does not know.
    """
    row = models.lookup(model)
    if row is None or row.shutdown is None:
        return None
    if row.lifecycle(today or dt.date.today()) != "deprecated":
        return None
    return f"{model} shuts down on {row.shutdown.isoformat()}{_use(row)}"


def usable_models(kind: ModelKind, rules: JobRules) -> tuple[str, ...]:
    """The catalogue's ids of one kind that the run's dialect reaches, in catalogue order.

    On OpenAI's endpoint the models already shut down are left out.
    """
    return tuple(m.id for m in models.models_of(kind) if _row_problem(m, rules) is None)


def usable_list(kind: ModelKind, rules: JobRules) -> str:
    """:func:`usable_models` as messages list them: ``"a, b"`` or ``"none in the … interface"``."""
    return ", ".join(usable_models(kind, rules)) or _none_in(rules)


def _none_in(rules: JobRules) -> str:
    return f"none in the {_DIALECT_NAMES[rules.dialect]} interface"


def _row_problem(row: Model, rules: JobRules) -> str | None:
    """A known model's problem for this run: shut down, or out of the dialect's reach."""
    if rules.known_endpoint and row.lifecycle(rules.today) == "shut_down":
        on = f" on {row.shutdown.isoformat()}" if row.shutdown is not None else ""
        return f"{row.id} was shut down{on}{_use(row)}"
    if rules.dialect not in row.dialects:
        speaks = " and ".join(_DIALECT_NAMES[d] for d in ("ga", "beta") if d in row.dialects)
        where = _DIALECT_NAMES[rules.dialect]
        return f"{row.id} is not available in the {where} interface (it is {speaks} only)"
    return None


def _use(row: Model) -> str:
    return f"; use {row.replacement}" if row.replacement else ""


# --- a job's fields ---------------------------------------------------------------------------


def temperature_problem(rules: JobRules) -> str | None:
    """Why a job may not set ``temperature`` in this run (GA has none), or None."""
    if rules.dialect == "ga":
        return "the GA interface has no temperature; drop the field, or run with --beta"
    return None


def output_cap(rules: JobRules) -> int | None:
    """The run model's most output tokens, or None where the catalogue has no figure."""
    row = _run_row(rules)
    return row.max_output_tokens if row is not None else None


GaModelParam = Literal["reasoning", "parallel_tool_calls"]


def ga_param_problem(param: GaModelParam, rules: JobRules) -> str | None:
    """Why a job may not set ``reasoning`` or ``parallel_tool_calls`` in this run, or None.

    The beta dialect has neither; in GA only models that accept the field take it (a
    model the catalogue does not know passes).
    """
    if rules.dialect == "beta":
        return f"the beta interface has no {param} (it is GA only)"
    row = _run_row(rules)
    if row is None or row.accepts(param):
        return None
    return f"{row.id} does not take {param} (models that do: {_takers(param, rules)})"


def transcription_model_problem(name: str, rules: JobRules) -> str | None:
    """Why a job's ``transcription.model`` cannot be used in this run, or None.

    Args:
        name: The model the job names.
        rules: The run.

    Returns:
        A sentence for a realtime model, a model out of the dialect's reach or one
        shut down; None for a usable model and for a model the catalogue does not
        know (the caller decides on those with ``rules.known_endpoint``).
    """
    row = models.lookup(name)
    if row is None:
        return None
    if row.kind != "transcription":
        return f"{name} is a realtime model, not a transcription model"
    return _row_problem(row, rules)


def transcription_param_problem(
    param: TranscriptionParam, job_model: str | None, rules: JobRules
) -> str | None:
    """Why a transcribe job may not set ``transcription.<param>``, or None.

    Args:
        param: ``"prompt"`` or ``"languages"``.
        job_model: The model the job names, or None for the run's.
        rules: The run.

    Returns:
        ``"gpt-realtime-whisper does not take a prompt (models that do: …)"``, naming
        the run's model as such when the job names none; None when the model takes
        the parameter or the catalogue does not know the model.
    """
    name = job_model or rules.transcription_model
    row = models.lookup(name)
    if row is None or row.kind != "transcription" or row.accepts(param):
        return None
    whose = name if job_model else f"{name} (the run's transcription model)"
    noun = "a prompt" if param == "prompt" else "languages"
    return f"{whose} does not take {noun} (models that do: {_takers(param, rules)})"


@dataclass(frozen=True, slots=True)
class AudioLimit:
    """How much audio a respond job's one item may hold in the run model's context.

    The audio counts at :data:`models.USER_AUDIO_TOKENS_PER_S`; the context must also
    hold the answer and :data:`CONTEXT_MARGIN_TOKENS`, together ``kept_tokens``.
    """

    model: str
    context_tokens: int
    kept_tokens: int

    @property
    def seconds(self) -> float:
        """The longest audio that fits."""
        return (self.context_tokens - self.kept_tokens) / models.USER_AUDIO_TOKENS_PER_S

    def problem(self, duration_s: float) -> str | None:
        """Why ``duration_s`` seconds of audio do not fit, or None when they do."""
        if duration_s <= self.seconds:
            return None
        return (
            f"{duration_s:,.1f} s of audio is more than {self.model} can take in one item "
            f"({self.seconds:,.1f} s: a context of {self.context_tokens:,} tokens at "
            f"{models.USER_AUDIO_TOKENS_PER_S} tokens per second of audio, less "
            f"{self.kept_tokens:,} kept for the answer); split the file, or use task transcribe"
        )


def audio_limit(
    max_output_tokens: int | Literal["inf"] | None, rules: JobRules
) -> AudioLimit | None:
    """The run model's limit on a respond job's audio, or None where the catalogue has none.

    Args:
        max_output_tokens: The job's cap on its answer; None or ``"inf"`` keep room
            for the model's maximum.
        rules: The run.
    """
    row = _run_row(rules)
    if row is None or row.context_tokens is None:
        return None
    answer = max_output_tokens if isinstance(max_output_tokens, int) else row.max_output_tokens
    return AudioLimit(row.id, row.context_tokens, (answer or 0) + CONTEXT_MARGIN_TOKENS)


def _run_row(rules: JobRules) -> Model | None:
    """The run model's row when it is a realtime model the catalogue knows."""
    row = models.lookup(rules.model)
    return row if row is not None and row.kind == "realtime" else None


def _takers(param: models.Param, rules: JobRules) -> str:
    kind: ModelKind = (
        "realtime" if param in ("reasoning", "parallel_tool_calls") else "transcription"
    )
    usable = set(usable_models(kind, rules))
    takers = [m.id for m in models.models_of(kind) if m.accepts(param) and m.id in usable]
    return ", ".join(takers) or _none_in(rules)
