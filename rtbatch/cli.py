"""The command line: thin translators from options to one library call.

Heavy modules (trio, the emulator, audio) are imported inside the commands so
that ``rtbatch --help``, paid by every cron and make invocation, stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from rtbatch import __version__
from rtbatch.cli_options import (
    API_KEY_FILE,
    BETA,
    EMULATE,
    FORMAT,
    JOBS_FILE,
    MAX_TOOL_ROUNDS_OPTION,
    TRANSCRIBE_MODEL,
    URL,
    F,
    engine_options,
    env,
    target_options,
)
from rtbatch.config import ApiKey, RetryPolicy, RunConfig, Target, Timeouts
from rtbatch.defaults import COMPARE_LATENCY_FIGURE, COMPARE_LISTED
from rtbatch.exitcodes import EPILOG

EMULATOR_KEY = "sk-emulator"


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
            timeouts=Timeouts(
                job_s=job_timeout, idle_s=idle_timeout, idle_learned=not _given("idle_timeout")
            ),
            retry=RetryPolicy(max_attempts=max_attempts, max_wait_s=max_wait),
            **params,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _given(name: str) -> bool:
    """Whether the user set the parameter (on the command line or in its variable)."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _exit(call: Callable[..., int], *args: Any) -> NoReturn:
    """Exit with what the library call returns; its ValueError is bad usage (exit 2)."""
    try:
        code = call(*args)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


@main.command(epilog=EPILOG)
@JOBS_FILE
@target_options
def validate(jobs_file: str, **params: Any) -> None:
    """Check a job file as a run with the same options would, without sending anything.

    Every problem is printed with its file, line and field. Exits 0 when the file is
    valid and 2 when any line (or the model) is not.
    """
    from rtbatch.commands import validate_command

    _exit(validate_command, jobs_file, _target(**params))


@main.command(epilog=EPILOG)
@JOBS_FILE
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Result file (JSONL, appended; '-' for stdout).",
    **{**env("OUTPUT"), "show_default": "JOBS.results.jsonl beside the job file"},
)
@target_options
@click.option("--instructions", help="Instructions for jobs that set none.", **env("INSTRUCTIONS"))
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Record invalid lines as failed results and run the rest.",
    **env("SKIP_INVALID"),
)
@click.option(
    "--audio-out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for audio answers (one WAV per job).",
    **env("AUDIO_OUT"),
)
@click.option(
    "--transcripts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for transcript files of transcribe jobs (one per format per job).",
    **env("TRANSCRIPTS"),
)
@FORMAT
@MAX_TOOL_ROUNDS_OPTION
@click.option(
    "--fail-on-check",
    is_flag=True,
    help="Exit 1 when a line of the result file did not pass its checks (a job's expect): "
    "this run's lines and those an earlier run settled.",
    **env("FAIL_ON_CHECK"),
)
@engine_options
def run(jobs_file: str, **params: Any) -> None:
    """Run every job of JOBS.jsonl and append one result line per job.

    Rerunning the same command resumes: completed jobs are skipped, failed ones
    run again, a torn last line is repaired. The API key comes from
    OPENAI_API_KEY or --api-key-file, never from an option.
    """
    from rtbatch.runner import run_command

    _exit(run_command, jobs_file, _run_config(**params))


@main.command(epilog=EPILOG)
@JOBS_FILE
@target_options
@MAX_TOOL_ROUNDS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON on stdout.")
def estimate(jobs_file: str, as_json: bool, max_tool_rounds: int, **params: Any) -> None:
    """Print what JOBS.jsonl is expected to cost, before anything is spent.

    Audio durations are probed; text tokens are estimated from the text; replies
    are assumed typical (with --emulate: the emulator's). The method and its stated
    error are printed with it.
    """
    from rtbatch.commands import estimate_command

    command = partial(estimate_command, as_json=as_json, max_tool_rounds=max_tool_rounds)
    _exit(command, jobs_file, _target(**params))


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
    **env("TRANSCRIBE_DIR"),
)
@FORMAT
@click.option(
    "--references",
    is_flag=True,
    help="Score each file's transcript against the text file beside it (call.mp3: "
    "call.txt), where there is one: word error rate per file and for the corpus.",
    **env("REFERENCES"),
)
@TRANSCRIBE_MODEL
@URL
@BETA
@EMULATE
@engine_options
def transcribe(paths: tuple[str, ...], output_dir: str, references: bool, **params: Any) -> None:
    """Transcribe audio files, folders (searched recursively) and globs.

    Each file becomes a job whose id is its path relative to the inputs' common
    root; transcripts are written per format under the output directory, long
    files cut at silences into segments. A rerun skips the files already done.
    Same engine, options, retries, pacing, summary and exit codes as ``run``.
    """
    from rtbatch.commands import transcribe_command

    command = partial(transcribe_command, references=references)
    _exit(command, paths, output_dir, _run_config(**params))


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
    **env("MERGE_OUTPUT"),
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


@main.command(
    epilog="Exit codes: 0 the catalogue printed (and, with --check, current); "
    "1 the catalogue is behind the endpoint; 2 bad usage; 3 the model list cannot be had."
)
@click.option(
    "--check",
    is_flag=True,
    help="Ask the endpoint's GET /v1/models (the host of --url) for shutdown dates and "
    "warn where the catalogue is behind; exits 1 when it is, 3 when the list cannot be had.",
)
@URL
@EMULATE
@API_KEY_FILE
def models(check: bool, url: str, emulate: bool, api_key_file: str | None) -> None:
    """Print the model catalogue: kind, dialects, lifecycle today, shutdown and replacement."""
    from rtbatch.commands import models_command

    key = _api_key(api_key_file, emulate=emulate) if check else None
    _exit(models_command, url, emulate, key)


_COMPARE_EPILOG = (
    "Exit codes: 0 B passes every gate given (or none was given); 1 B regresses past a "
    "gate; 2 bad usage, or a file that cannot be read or holds no result line."
)


def _gate(
    flag: str, dest: str, kind: click.ParamType[Any], metavar: str, text: str
) -> Callable[[F], F]:
    """A gate of ``compare``: off unless given, read from RTBATCH_<OPTION> too."""
    name = flag.removeprefix("--").upper().replace("-", "_")
    return click.option(flag, dest, type=kind, metavar=metavar, help=text, **env(name))


@main.command(epilog=_COMPARE_EPILOG)
@click.argument("a_file", metavar="A.jsonl", type=click.Path(exists=True, dir_okay=False))
@click.argument("b_file", metavar="B.jsonl", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON on stdout.")
@_gate(
    "--max-pass-rate-drop",
    "pass_rate_drop",
    click.FloatRange(min=0),
    "POINTS",
    "Fail when B's pass rate (lines whose checks passed, of lines with checks) is "
    "more than POINTS percentage points below A's.",
)
@_gate(
    "--max-completed-drop",
    "completed_drop",
    click.FloatRange(min=0),
    "POINTS",
    "Fail when B's share of completed lines is more than POINTS points below A's.",
)
@_gate(
    "--max-new-failures",
    "new_failures",
    click.IntRange(min=0),
    "N",
    "Fail when more than N ids that completed and passed their checks in A did not in B (0: any).",
)
@click.option(
    "--max-latency-increase",
    "latency",
    multiple=True,
    metavar="STAGE[@FIGURE]=PCT",
    help="Fail when B's FIGURE (p50, p90, p95, p99, max; default "
    f"{COMPARE_LATENCY_FIGURE}) of a latency STAGE "
    "(created, first_text, first_audio, done, transcript) is more than PCT % above A's. "
    "Repeatable: --max-latency-increase done=20 --max-latency-increase first_audio@p50=10.",
    **env("MAX_LATENCY_INCREASE"),
)
@_gate(
    "--max-cost-increase",
    "cost_increase",
    click.FloatRange(min=0),
    "PCT",
    "Fail when B's mean cost per priced job is more than PCT % above A's.",
)
@_gate(
    "--max-wer-increase",
    "wer_increase",
    click.FloatRange(min=0),
    "POINTS",
    "Fail when B's corpus word error rate is more than POINTS percentage points above A's.",
)
@click.option(
    "--list",
    "listed",
    type=click.IntRange(min=0),
    default=COMPARE_LISTED,
    help="Changed ids (and ids only in one file) the text lists of each kind; --json lists all.",
    **env("COMPARE_LIST"),
)
def compare(a_file: str, b_file: str, as_json: bool, listed: int, **gates: Any) -> None:
    """What changed from result file A to result file B, by id and overall.

    Counts by status, pass rate, latency percentiles by stage, cost, corpus WER;
    the ids whose status, checks or function calls changed, and those in one file
    only. Both files are streamed. Gates (off unless given) make B's regressions
    exit 1, for CI.
    """
    from rtbatch.commands import compare_command

    _exit(partial(compare_command, as_json=as_json, listed=listed), a_file, b_file, gates)


@main.command(
    epilog="Exit codes: 0 the page is written; 2 bad usage, or a file that cannot be read or "
    "holds no result line; 3 the page cannot be written."
)
@click.argument("results", metavar="RESULTS.jsonl", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="The HTML page (replaced whole if it exists).",
    **{**env("REPORT_OUTPUT"), "show_default": "NAME.report.html beside NAME.results.jsonl"},
)
def report(results: str, output: str | None) -> None:
    """Write one self-contained HTML page of a result file, to look at rather than read.

    The summary, latency histograms by stage, cost by model, failed jobs and jobs
    whose checks failed with their errors, transcripts with their WER, and players
    for saved spoken answers (linked relative to the page). No script, no network:
    inline CSS and SVG. The file is streamed, and the page's lists are bounded.
    """
    from rtbatch.commands import report_command

    _exit(report_command, results, output)


def _register() -> None:
    from rtbatch.emulator.cli import serve

    main.add_command(serve)


_register()
