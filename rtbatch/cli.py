"""The command line: thin translators from options to one library call.

Heavy modules (trio, the emulator, audio) are imported inside the commands so
that ``rtbatch --help``, paid by every cron and make invocation, stays fast.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from rtbatch import __version__
from rtbatch.config import (
    AT_LEAST_ONE,
    ATTEMPTS,
    CONCURRENCY,
    NOT_NEGATIVE,
    POSITIVE,
    SEGMENT_MS,
    ApiKey,
    Bounds,
    RetryPolicy,
    RunConfig,
    Target,
    Timeouts,
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
    IDLE_TIMEOUT_S,
    JOB_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_SEGMENT_MS,
    MAX_WAIT_S,
    SIGNAL_GRACE_S,
)
from rtbatch.exitcodes import EPILOG, EXIT_BUDGET, EXIT_TRY_LATER
from rtbatch.output.formats import FORMATS, parse_formats

EMULATOR_KEY = "sk-emulator"

F = TypeVar("F", bound=Callable[..., Any])

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(value: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h30m`` → seconds.

    Raises:
        ValueError: not a duration; the message shows the forms expected.
    """
    match = _DURATION.match(value.strip())
    if not value.strip() or not match or not any(match.groups()):
        raise ValueError(f"expected a duration like 90s, 15m or 1h30m, got {value!r}")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s


class Bounded(click.ParamType[float]):
    """A number in the range the config checks (:class:`~rtbatch.config.Bounds`)."""

    def __init__(self, kind: type[int] | type[float], bounds: Bounds) -> None:
        self.kind, self.bounds = kind, bounds
        self.name = f"{kind.__name__.upper()} {bounds}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"expected {self.kind.__name__}, got {value!r}", param, ctx)
        if (problem := self.bounds.problem(number)) is not None:
            self.fail(problem, param, ctx)
        return number


class Duration(click.ParamType[float]):
    """A duration (``90``, ``90s``, ``15m``, ``1h30m``) in the config's range and unit.

    Args:
        bounds: The range, in the config's unit.
        unit_s: Seconds per unit of the config's field (1/1000 for a ``_ms`` field).
    """

    name = "DURATION"

    def __init__(self, bounds: Bounds = POSITIVE, *, unit_s: float = 1.0) -> None:
        self.bounds, self.unit_s = bounds, unit_s

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):  # already converted (a library caller's value)
            return value
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        amount = seconds / self.unit_s
        if self.unit_s != 1.0:
            amount = round(amount)
        if (problem := self.bounds.problem(amount)) is not None:
            self.fail(problem if self.unit_s == 1.0 else f"too short ({problem} ms)", param, ctx)
        return amount


class Formats(click.ParamType[tuple[str, ...]]):
    """A ``--format`` list, read by :func:`rtbatch.output.formats.parse_formats`."""

    name = "LIST"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_formats(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _setup_logging(verbose: int, quiet: bool) -> None:
    import logging

    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    fmt = "rtbatch: %(message)s" if sys.stderr.isatty() else "%(asctime)s %(levelname)s %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    if verbose < 2:
        logging.getLogger("trio-websocket").setLevel(logging.WARNING)
    if verbose < 1:
        # An embedded emulator's per-connection lines are noise in a run's log.
        logging.getLogger("rtbatch.emulator").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="rtbatch")
def main() -> None:
    """Run batches of jobs through the OpenAI Realtime API, or its local emulator."""


def _env(name: str) -> dict[str, Any]:
    return {"envvar": f"RTBATCH_{name}", "show_envvar": True, "show_default": True}


def _seconds(value: float) -> str:
    """A duration default as ``--help`` shows it (``300s``); click converts it like input."""
    return f"{value:g}s"


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Options shared by several commands, declared once, applied in the order listed."""

    def apply(command: F) -> F:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


# --- option groups, stated once and shared by the commands ---------------------------------------

_URL = click.option(
    "--url", default=DEFAULT_URL, help="Realtime WebSocket endpoint.", **_env("URL")
)
_BETA = click.option(
    "--beta",
    "dialect",
    is_flag=True,
    callback=lambda ctx, param, beta: "beta" if beta else "ga",
    help="Speak the beta dialect (OpenAI-Beta: realtime=v1); its models are the defaults.",
    **_env("BETA"),
)
_EMULATE = click.option(
    "--emulate",
    is_flag=True,
    help="Against the built-in emulator (run: started on an ephemeral local port).",
    **_env("EMULATE"),
)
_MODEL = click.option(
    "--model",
    default="",
    help="Realtime model.",
    **{**_env("MODEL"), "show_default": f"{DEFAULT_MODEL}; {DEFAULT_BETA_MODEL} with --beta"},
)
_TRANSCRIPTION_MODEL = click.option(
    "--transcription-model",
    default="",
    help="Transcription model for jobs that name none.",
    **{
        **_env("TRANSCRIPTION_MODEL"),
        "show_default": (
            f"{DEFAULT_TRANSCRIPTION_MODEL}; {DEFAULT_BETA_TRANSCRIPTION_MODEL} with --beta"
        ),
    },
)
#: What a job file is checked against (validate, estimate, run): a :class:`Target`.
_target_options = _options(_URL, _MODEL, _TRANSCRIPTION_MODEL, _BETA, _EMULATE)

_FORMAT = click.option(
    "--format",
    "formats",
    type=Formats(),
    default=",".join(FORMATS),
    help="Transcript file formats, any of txt,srt,vtt,json (run: with --transcripts).",
    **_env("FORMAT"),
)

#: How a run runs (run, transcribe): the rest of a :class:`RunConfig`.
_engine_options = _options(
    click.option(
        "-c",
        "--concurrency",
        type=Bounded(int, CONCURRENCY),
        default=DEFAULT_CONCURRENCY,
        help="Connections (and jobs) in flight.",
        **_env("CONCURRENCY"),
    ),
    click.option(
        "--api-key-file",
        type=click.Path(exists=True, dir_okay=False),
        help="Read the API key from this file instead of OPENAI_API_KEY.",
        **_env("API_KEY_FILE"),
    ),
    click.option(
        "--summary",
        "summary_file",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Also write the run summary as JSON to this file.",
        **_env("SUMMARY"),
    ),
    click.option(
        "--max-attempts",
        type=Bounded(int, ATTEMPTS),
        default=MAX_ATTEMPTS,
        help="Attempts per job for transient failures.",
        **_env("MAX_ATTEMPTS"),
    ),
    click.option(
        "--job-timeout",
        type=Duration(),
        default=_seconds(JOB_TIMEOUT_S),
        help="Deadline of one attempt of one job (seconds, or 90s, 5m).",
        **_env("JOB_TIMEOUT"),
    ),
    click.option(
        "--idle-timeout",
        type=Duration(),
        default=_seconds(IDLE_TIMEOUT_S),
        help="Give an attempt up as stalled after this long without a server event.",
        **_env("IDLE_TIMEOUT"),
    ),
    click.option(
        "--deadline",
        "deadline_s",
        type=Duration(),
        help="Stop the run after this long (e.g. 50m); unfinished jobs run next time.",
        **_env("DEADLINE"),
    ),
    click.option(
        "--grace",
        "grace_s",
        type=Duration(NOT_NEGATIVE),
        default=_seconds(SIGNAL_GRACE_S),
        help="After a first SIGINT/SIGTERM, how long in-flight jobs may take.",
        **_env("GRACE"),
    ),
    click.option(
        "--max-wait",
        type=Duration(NOT_NEGATIVE),
        default=_seconds(MAX_WAIT_S),
        help="Longest wait for a rate limit to reset; a later reset stops the run with exit "
        f"{EXIT_TRY_LATER}.",
        **_env("MAX_WAIT"),
    ),
    click.option(
        "--rpm",
        type=Bounded(int, AT_LEAST_ONE),
        help="Cap on requests started per minute.",
        **_env("RPM"),
    ),
    click.option(
        "--tpm", type=Bounded(int, AT_LEAST_ONE), help="Cap on tokens per minute.", **_env("TPM")
    ),
    click.option(
        "--max-cost",
        "max_cost_usd",
        type=Bounded(float, POSITIVE),
        help="Spend cap in USD: no job starts once spend plus in-flight estimates would pass it "
        f"(exit {EXIT_BUDGET}; a rerun continues).",
        **_env("MAX_COST"),
    ),
    click.option(
        "--retry-failed/--no-retry-failed",
        default=True,
        help="On a rerun, run again the jobs an earlier run recorded as failed.",
        **_env("RETRY_FAILED"),
    ),
    click.option(
        "--language", help="Language hint (ISO-639-1) for transcription jobs.", **_env("LANGUAGE")
    ),
    click.option(
        "--audio-format",
        type=click.Choice(AUDIO_FORMATS),
        default=DEFAULT_AUDIO_FORMAT,
        help="Input audio sent to the service: 24 kHz PCM16 or 8 kHz G.711.",
        **_env("AUDIO_FORMAT"),
    ),
    click.option(
        "--max-segment",
        "max_segment_ms",
        type=Duration(SEGMENT_MS, unit_s=1 / 1000),
        default=_seconds(MAX_SEGMENT_MS / 1000),
        help="Longest audio segment sent as one item; long files are cut at silences.",
        **_env("MAX_SEGMENT"),
    ),
    click.option(
        "--seed", type=int, help="Seed for retry jitter (reproducible runs).", **_env("SEED")
    ),
    click.option(
        "--shard",
        metavar="K/N",
        help="Run only shard K of N (K counts from 0: 0/4 to 3/4), the jobs whose id hashes to "
        "K, into RESULTS.shard-K-of-N.jsonl beside -o; --rpm, --tpm and --max-cost are divided "
        "by N. Default: from JOB_COMPLETION_INDEX with --shards, or SLURM_ARRAY_TASK_ID.",
        **_env("SHARD"),
    ),
    click.option(
        "--shards",
        metavar="N",
        type=Bounded(int, AT_LEAST_ONE),
        help="The number of shards N, for an index from JOB_COMPLETION_INDEX (required there) "
        "or SLURM_ARRAY_TASK_ID (checked against SLURM_ARRAY_TASK_COUNT).",
        **_env("SHARDS"),
    ),
    click.option(
        "-v", "--verbose", count=True, help="More log output (-vv for debug).", **_env("VERBOSE")
    ),
    click.option(
        "-q", "--quiet", is_flag=True, help="Only warnings and the summary.", **_env("QUIET")
    ),
)


def _target(**params: Any) -> Target:
    """The :class:`Target` of a command that sends nothing (no key), from its parameters.

    Raises:
        click.UsageError: a value the config refuses (exit 2).
    """
    try:
        return Target(**params)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _run_config(
    *,
    verbose: int,
    quiet: bool,
    api_key_file: str | None,
    job_timeout: float,
    idle_timeout: float,
    max_attempts: int,
    max_wait: float,
    **params: Any,
) -> RunConfig:
    """The one :class:`RunConfig` of a run, from the command's parameters (named as its fields).

    Raises:
        click.UsageError: no API key, or a value the config refuses (exit 2).
    """
    _setup_logging(verbose, quiet)
    try:
        return RunConfig(
            api_key=ApiKey(_api_key(api_key_file, emulate=params["emulate"])),
            timeouts=Timeouts(job_s=job_timeout, idle_s=idle_timeout),
            retry=RetryPolicy(max_attempts=max_attempts, max_wait_s=max_wait),
            **params,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _exit(call: Callable[..., int], *args: Any) -> NoReturn:
    """Exit with what the library call returns; its ValueError is bad usage (exit 2)."""
    try:
        code = call(*args)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


_JOBS_FILE = click.argument(
    "jobs_file", metavar="JOBS.jsonl", type=click.Path(dir_okay=False, allow_dash=True)
)


@main.command(epilog=EPILOG)
@_JOBS_FILE
@_target_options
def validate(jobs_file: str, **params: Any) -> None:
    """Check a job file as a run with the same options would, without sending anything.

    Every problem is printed with its file, line and field. Exits 0 when the file is
    valid and 2 when any line (or the model) is not.
    """
    from rtbatch.commands import validate_command

    _exit(validate_command, jobs_file, _target(**params))


@main.command(epilog=EPILOG)
@_JOBS_FILE
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Result file (JSONL, appended; '-' for stdout).",
    **{**_env("OUTPUT"), "show_default": "JOBS.results.jsonl beside the job file"},
)
@_target_options
@click.option("--instructions", help="Instructions for jobs that set none.", **_env("INSTRUCTIONS"))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Record invalid lines as failed results and run the rest.",
    **_env("SKIP_INVALID"),
)
@click.option(
    "--audio-out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for audio answers (one WAV per job).",
    **_env("AUDIO_OUT"),
)
@click.option(
    "--transcripts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for transcript files of transcribe jobs (one per format per job).",
    **_env("TRANSCRIPTS"),
)
@_FORMAT
@_engine_options
def run(jobs_file: str, **params: Any) -> None:
    """Run every job of JOBS.jsonl and append one result line per job.

    Rerunning the same command resumes: completed jobs are skipped, failed ones
    run again, a torn last line is repaired. The API key comes from
    OPENAI_API_KEY or --api-key-file, never from an option.
    """
    from rtbatch.runner import run_command

    _exit(run_command, jobs_file, _run_config(**params))


@main.command(epilog=EPILOG)
@_JOBS_FILE
@_target_options
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON on stdout.")
def estimate(jobs_file: str, as_json: bool, **params: Any) -> None:
    """Print what JOBS.jsonl is expected to cost, before anything is spent.

    Audio durations are probed; text tokens are estimated from the text; replies
    are assumed typical (with --emulate: the emulator's). The method and its stated
    error are printed with it.
    """
    from rtbatch.commands import estimate_command

    sys.exit(estimate_command(jobs_file, _target(**params), as_json=as_json))


_WHISPER_EXAMPLES = """\b
Examples (as a whisper user would start):
  rtbatch transcribe call.mp3                    # transcripts/call.{txt,srt,vtt,json}
  rtbatch transcribe recordings/ -o out --format srt,txt
  rtbatch transcribe 'calls/**/*.wav' -c 16 --language en
"""


@main.command(epilog=_WHISPER_EXAMPLES + "\n" + EPILOG)
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@click.option(
    "-o",
    "--output-dir",
    default="transcripts",
    type=click.Path(file_okay=False),
    help="Where the transcript files, the job file and results.jsonl go.",
    **_env("TRANSCRIBE_DIR"),
)
@_FORMAT
@click.option(
    "--model",
    "transcription_model",
    default="",
    help="Transcription model.",
    **{
        **_env("TRANSCRIPTION_MODEL"),
        "show_default": (
            f"{DEFAULT_TRANSCRIPTION_MODEL}; {DEFAULT_BETA_TRANSCRIPTION_MODEL} with --beta"
        ),
    },
)
@_URL
@_BETA
@_EMULATE
@_engine_options
def transcribe(paths: tuple[str, ...], output_dir: str, **params: Any) -> None:
    """Transcribe audio files, folders (searched recursively) and globs.

    Each file becomes a job whose id is its path relative to the inputs' common
    root; transcripts are written per format under the output directory, long
    files cut at silences into segments. A rerun skips the files already done.
    Same engine, options, retries, pacing, summary and exit codes as ``run``.
    """
    from rtbatch.commands import transcribe_command

    _exit(transcribe_command, paths, output_dir, _run_config(**params))


def _api_key(key_file: str | None, *, emulate: bool) -> str:
    if key_file:
        key = Path(key_file).read_text(encoding="utf-8").strip()
        if not key:
            raise click.BadParameter("the file is empty", param_hint="--api-key-file")
        return key
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if key:
        return key
    if emulate:
        return EMULATOR_KEY
    raise click.UsageError("no API key: set OPENAI_API_KEY or pass --api-key-file")


@main.command()
@click.argument("jobs_file", metavar="JOBS.jsonl", type=click.Path(exists=True, dir_okay=False))
@click.argument(
    "result_files",
    metavar="RESULTS...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The merged result file (replaced atomically if it exists).",
    **_env("MERGE_OUTPUT"),
)
def merge(jobs_file: str, result_files: tuple[str, ...], output: str) -> None:
    """Combine shard result files into one, in the order of JOBS.jsonl.

    Checks that every job has exactly one result line; reports, with file and
    line, the jobs missing or duplicated, lines of jobs not in JOBS.jsonl, and
    torn or unreadable lines (rerun that shard). The output is written in every
    case. Exits 0 when every job is there exactly once, 1 when not (rerun the
    shards named, then merge again), and 2 on bad usage or an unreadable, busy
    or changing file.
    """
    from rtbatch.shards.merge import MergeError, merge_command

    try:
        code = merge_command(jobs_file, result_files, output)
    except MergeError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


def _register() -> None:
    from rtbatch.emulator.cli import serve

    main.add_command(serve)


_register()
