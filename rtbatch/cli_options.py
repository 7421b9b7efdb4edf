"""The command line's options, declared once and shared by the commands that take them.

Every option has ``help=``, its default shown, and an ``RTBATCH_*`` variable; the
defaults are :mod:`rtbatch.defaults`' and the ranges :mod:`rtbatch.config`'s, so
neither is written here again. The commands themselves are in :mod:`rtbatch.cli`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from rtbatch.cli_types import Bounded, Duration, Formats
from rtbatch.config import (
    AT_LEAST_ONE,
    ATTEMPTS,
    CONCURRENCY,
    NOT_NEGATIVE,
    POSITIVE,
    SEGMENT_MS,
    TOOL_ROUNDS,
)
from rtbatch.defaults import (
    AUDIO_FORMATS,
    DEFAULT_AUDIO_FORMAT,
    DEFAULT_BETA_MODEL,
    DEFAULT_BETA_TRANSCRIPTION_MODEL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_URL,
    IDLE_FLOOR_S,
    IDLE_TIMEOUT_S,
    JOB_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_SEGMENT_MS,
    MAX_TOOL_ROUNDS,
    MAX_WAIT_S,
    SIGNAL_GRACE_S,
)
from rtbatch.exitcodes import EXIT_BUDGET, EXIT_TRY_LATER
from rtbatch.output.formats import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def env(name: str) -> dict[str, Any]:
    return {"envvar": f"RTBATCH_{name}", "show_envvar": True, "show_default": True}


def _seconds(value: float) -> str:
    """A duration default as ``--help`` shows it (``300s``); click converts it like input."""
    return f"{value:g}s"


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Options shared by several commands, declared once, applied in the order listed."""

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


# --- option groups, stated once and shared by the commands ---------------------------------------

URL = click.option("--url", default=DEFAULT_URL, help="Realtime WebSocket endpoint.", **env("URL"))
BETA = click.option(
    "--beta",
    "dialect",
    is_flag=True,
    callback=lambda ctx, param, beta: "beta" if beta else "ga",
    help="Speak the beta dialect (OpenAI-Beta: realtime=v1); its models are the defaults.",
    **env("BETA"),
)
EMULATE = click.option(
    "--emulate",
    is_flag=True,
    help="Against the built-in emulator (run: started on an ephemeral local port).",
    **env("EMULATE"),
)
MODEL = click.option(
    "--model",
    default="",
    help="Realtime model.",
    **{**env("MODEL"), "show_default": f"{DEFAULT_MODEL}; {DEFAULT_BETA_MODEL} with --beta"},
)
# Shown as the default of both spellings: run's --transcription-model and
# transcribe's --model.
_TRANSCRIPTION_DEFAULTS = (
    f"{DEFAULT_TRANSCRIPTION_MODEL}; {DEFAULT_BETA_TRANSCRIPTION_MODEL} with --beta"
)
TRANSCRIPTION_MODEL = click.option(
    "--transcription-model",
    default="",
    help="Transcription model for jobs that name none.",
    **{**env("TRANSCRIPTION_MODEL"), "show_default": _TRANSCRIPTION_DEFAULTS},
)
#: ``rtbatch transcribe``'s own spelling: every job there is a transcription.
TRANSCRIBE_MODEL = click.option(
    "--model",
    "transcription_model",
    default="",
    help="Transcription model.",
    **{**env("TRANSCRIPTION_MODEL"), "show_default": _TRANSCRIPTION_DEFAULTS},
)
TOOLS = click.option(
    "--tools",
    "tools_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file of function calling defaults (tools, tool_choice, parallel_tool_calls, "
    "tool_outputs), merged under each job's own.",
    **env("TOOLS"),
)
#: What a job file is checked against (validate, estimate, run): a :class:`Target`.
target_options = options(URL, MODEL, TRANSCRIPTION_MODEL, BETA, EMULATE, TOOLS)
#: ``rtbatch run``'s bound on a tool job's rounds.
MAX_TOOL_ROUNDS_OPTION = click.option(
    "--max-tool-rounds",
    type=Bounded(int, TOOL_ROUNDS),
    default=MAX_TOOL_ROUNDS,
    help="Tool rounds (calls answered, then a new response) per job; past them it is incomplete.",
    **env("MAX_TOOL_ROUNDS"),
)

FORMAT = click.option(
    "--format",
    "formats",
    type=Formats(),
    default=",".join(FORMATS),
    help="Transcript file formats, any of txt,srt,vtt,json (run: with --transcripts).",
    **env("FORMAT"),
)

API_KEY_FILE = click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the API key from this file instead of OPENAI_API_KEY.",
    **env("API_KEY_FILE"),
)

#: How a run runs (run, transcribe): the rest of a :class:`RunConfig`.
engine_options = options(
    click.option(
        "-c",
        "--concurrency",
        type=Bounded(int, CONCURRENCY),
        default=DEFAULT_CONCURRENCY,
        help="Connections (and jobs) in flight.",
        **env("CONCURRENCY"),
    ),
    API_KEY_FILE,
    click.option(
        "--summary",
        "summary_file",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Also write the run summary as JSON to this file.",
        **env("SUMMARY"),
    ),
    click.option(
        "--max-attempts",
        type=Bounded(int, ATTEMPTS),
        default=MAX_ATTEMPTS,
        help="Attempts per job for transient failures.",
        **env("MAX_ATTEMPTS"),
    ),
    click.option(
        "--job-timeout",
        type=Duration(),
        default=_seconds(JOB_TIMEOUT_S),
        help="Deadline of one attempt of one job (seconds, or 90s, 5m).",
        **env("JOB_TIMEOUT"),
    ),
    click.option(
        "--idle-timeout",
        type=Duration(),
        default=_seconds(IDLE_TIMEOUT_S),
        help="Give an attempt up as stalled after this long without a server event. "
        "Unset, the run allows twice the longest silence of its recent answers (at least "
        f"{IDLE_FLOOR_S:g} s) once five have come, up to this default.",
        **env("IDLE_TIMEOUT"),
    ),
    click.option(
        "--deadline",
        "deadline_s",
        type=Duration(),
        help="Stop the run after this long (e.g. 50m); unfinished jobs run next time.",
        **env("DEADLINE"),
    ),
    click.option(
        "--grace",
        "grace_s",
        type=Duration(NOT_NEGATIVE),
        default=_seconds(SIGNAL_GRACE_S),
        help="After a first SIGINT/SIGTERM, how long in-flight jobs may take.",
        **env("GRACE"),
    ),
    click.option(
        "--max-wait",
        type=Duration(NOT_NEGATIVE),
        default=_seconds(MAX_WAIT_S),
        help="Longest wait for a rate limit to reset; a later reset stops the run with exit "
        f"{EXIT_TRY_LATER}.",
        **env("MAX_WAIT"),
    ),
    click.option(
        "--rpm",
        type=Bounded(int, AT_LEAST_ONE),
        help="Cap on requests started per minute.",
        **env("RPM"),
    ),
    click.option(
        "--tpm", type=Bounded(int, AT_LEAST_ONE), help="Cap on tokens per minute.", **env("TPM")
    ),
    click.option(
        "--max-cost",
        "max_cost_usd",
        type=Bounded(float, POSITIVE),
        help="Spend cap in USD: no job starts once spend plus in-flight estimates would pass it "
        f"(exit {EXIT_BUDGET}; a rerun continues).",
        **env("MAX_COST"),
    ),
    click.option(
        "--retry-failed/--no-retry-failed",
        default=True,
        help="On a rerun, run again the jobs an earlier run recorded as failed.",
        **env("RETRY_FAILED"),
    ),
    click.option(
        "--language", help="Language hint (ISO-639-1) for transcription jobs.", **env("LANGUAGE")
    ),
    click.option(
        "--audio-format",
        type=click.Choice(AUDIO_FORMATS),
        default=DEFAULT_AUDIO_FORMAT,
        help="Input audio sent to the service: 24 kHz PCM16 or 8 kHz G.711.",
        **env("AUDIO_FORMAT"),
    ),
    click.option(
        "--max-segment",
        "max_segment_ms",
        type=Duration(SEGMENT_MS, unit_s=1 / 1000),
        default=_seconds(MAX_SEGMENT_MS / 1000),
        help="Longest audio segment sent as one item; long files are cut at silences.",
        **env("MAX_SEGMENT"),
    ),
    click.option(
        "--seed", type=int, help="Seed for retry jitter (reproducible runs).", **env("SEED")
    ),
    click.option(
        "--shard",
        metavar="K/N",
        help="Run only shard K of N (K counts from 0: 0/4 to 3/4), the jobs whose id hashes to "
        "K, into RESULTS.shard-K-of-N.jsonl beside -o; --rpm, --tpm and --max-cost are divided "
        "by N. Default: from JOB_COMPLETION_INDEX with --shards, or SLURM_ARRAY_TASK_ID.",
        **env("SHARD"),
    ),
    click.option(
        "--shards",
        metavar="N",
        type=Bounded(int, AT_LEAST_ONE),
        help="The number of shards N, for an index from JOB_COMPLETION_INDEX (required there) "
        "or SLURM_ARRAY_TASK_ID (checked against SLURM_ARRAY_TASK_COUNT).",
        **env("SHARDS"),
    ),
    click.option(
        "-v", "--verbose", count=True, help="More log output (-vv for debug).", **env("VERBOSE")
    ),
    click.option(
        "-q", "--quiet", is_flag=True, help="Only warnings and the summary.", **env("QUIET")
    ),
)


JOBS_FILE = click.argument(
    "jobs_file", metavar="JOBS.jsonl", type=click.Path(dir_okay=False, allow_dash=True)
)
