"""The command line: thin translators from options to one library call.

Heavy modules (trio, the emulator, audio) are imported inside the commands so
that ``rtbatch --help``, paid by every cron and make invocation, stays fast.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from rtbatch import __version__
from rtbatch.defaults import (
    AUDIO_FORMATS,
    DEFAULT_AUDIO_FORMAT,
    DEFAULT_CONCURRENCY,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_URL,
    IDLE_TIMEOUT_S,
    JOB_TIMEOUT_S,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_SEGMENT_MS,
    MAX_WAIT_S,
    SIGNAL_GRACE_S,
)
from rtbatch.exitcodes import EPILOG
from rtbatch.output.formats import FORMATS

EMULATOR_KEY = "sk-emulator"

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(value: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h30m`` → seconds."""
    match = _DURATION.match(value.strip())
    if not value.strip() or not match or not any(match.groups()):
        raise ValueError(f"expected a duration like 90s, 15m or 1h30m, got {value!r}")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise ValueError("the duration must be positive")
    return seconds


class Duration(click.ParamType[float]):
    """A click type for durations."""

    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
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
    return {"envvar": f"RTBATCH_{name}", "show_envvar": True}


# Options that several commands share, stated once.
_FORMAT = click.option(
    "--format",
    "formats",
    default=",".join(FORMATS),
    show_default=True,
    help="Transcript file formats, any of txt,srt,vtt,json (run: with --transcripts).",
    **_env("FORMAT"),
)
_CONCURRENCY = click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Connections (and jobs) in flight.",
    **_env("CONCURRENCY"),
)
_MODEL = click.option(
    "--model", default=DEFAULT_MODEL, show_default=True, help="Realtime model.", **_env("MODEL")
)
_TRANSCRIPTION_MODEL = click.option(
    "--transcription-model",
    default=DEFAULT_TRANSCRIPTION_MODEL,
    show_default=True,
    help="Transcription model for jobs that name none.",
    **_env("TRANSCRIPTION_MODEL"),
)


@main.command(epilog=EPILOG)
@click.argument("jobs_file", metavar="JOBS.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    help="The endpoint the run will use.",
    **_env("URL"),
)
@_MODEL
@_TRANSCRIPTION_MODEL
@click.option("--beta", is_flag=True, help="Check for the beta dialect.", **_env("BETA"))
@click.option(
    "--emulate", is_flag=True, help="Check for a run against the emulator.", **_env("EMULATE")
)
def validate(
    jobs_file: str, url: str, model: str, transcription_model: str, beta: bool, emulate: bool
) -> None:
    """Check a job file as a run with the same options would, without sending anything.

    Every problem is printed with its file, line and field. Exits 0 when the file is
    valid and 2 when any line (or the model) is not.
    """
    from rtbatch.commands import validate_command

    sys.exit(
        validate_command(
            jobs_file,
            url=url,
            model=model,
            transcription_model=transcription_model,
            beta=beta,
            emulate=emulate,
        )
    )


@main.command(epilog=EPILOG)
@click.argument("jobs_file", metavar="JOBS.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Result file (JSONL, appended; '-' for stdout). "
    "Default: JOBS.results.jsonl next to the job file.",
    **_env("OUTPUT"),
)
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    help="Realtime WebSocket endpoint.",
    **_env("URL"),
)
@_MODEL
@_CONCURRENCY
@click.option("--instructions", help="Instructions for jobs that set none.", **_env("INSTRUCTIONS"))
@click.option(
    "--beta",
    is_flag=True,
    help="Speak the beta dialect (OpenAI-Beta: realtime=v1).",
    **_env("BETA"),
)
@click.option(
    "--emulate",
    is_flag=True,
    help="Run against the built-in emulator on an ephemeral local port.",
    **_env("EMULATE"),
)
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the API key from this file instead of OPENAI_API_KEY.",
    **_env("API_KEY_FILE"),
)
@click.option(
    "--summary",
    "summary_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also write the run summary as JSON to this file.",
    **_env("SUMMARY"),
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 100),
    default=MAX_ATTEMPTS,
    show_default=True,
    help="Attempts per job for transient failures.",
    **_env("MAX_ATTEMPTS"),
)
@click.option(
    "--job-timeout",
    type=Duration(),
    default=JOB_TIMEOUT_S,
    show_default=True,
    help="Deadline of one attempt of one job (seconds, or 90s, 5m).",
    **_env("JOB_TIMEOUT"),
)
@click.option(
    "--idle-timeout",
    type=Duration(),
    default=IDLE_TIMEOUT_S,
    show_default=True,
    help="Give an attempt up as stalled after this long without a server event.",
    **_env("IDLE_TIMEOUT"),
)
@click.option(
    "--deadline",
    type=Duration(),
    help="Stop the run after this long (e.g. 50m); unfinished jobs run next time.",
    **_env("DEADLINE"),
)
@click.option(
    "--grace",
    type=Duration(),
    default=SIGNAL_GRACE_S,
    show_default=True,
    help="After a first SIGINT/SIGTERM, how long in-flight jobs may take.",
    **_env("GRACE"),
)
@click.option(
    "--max-wait",
    type=Duration(),
    default=MAX_WAIT_S,
    show_default=True,
    help="Longest wait for a rate limit to reset; a later reset stops the run with exit 75.",
    **_env("MAX_WAIT"),
)
@click.option(
    "--rpm", type=click.IntRange(1), help="Cap on requests started per minute.", **_env("RPM")
)
@click.option("--tpm", type=click.IntRange(1), help="Cap on tokens per minute.", **_env("TPM"))
@click.option(
    "--retry-failed/--no-retry-failed",
    default=True,
    show_default=True,
    help="On a rerun, run again the jobs an earlier run recorded as failed.",
    **_env("RETRY_FAILED"),
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Record invalid lines as failed results and run the rest.",
    **_env("SKIP_INVALID"),
)
@click.option(
    "--audio-out",
    type=click.Path(file_okay=False),
    help="Directory for audio answers (one WAV per job).",
    **_env("AUDIO_OUT"),
)
@_TRANSCRIPTION_MODEL
@click.option(
    "--language", help="Language hint (ISO-639-1) for transcription jobs.", **_env("LANGUAGE")
)
@click.option(
    "--audio-format",
    type=click.Choice(AUDIO_FORMATS),
    default=DEFAULT_AUDIO_FORMAT,
    show_default=True,
    help="Input audio sent to the service: 24 kHz PCM16 or 8 kHz G.711.",
    **_env("AUDIO_FORMAT"),
)
@click.option("--seed", type=int, help="Seed for retry jitter (reproducible runs).", **_env("SEED"))
@click.option(
    "--transcripts",
    type=click.Path(file_okay=False),
    help="Directory for transcript files of transcribe jobs (one per format per job).",
    **_env("TRANSCRIPTS"),
)
@_FORMAT
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0, min_open=True),
    help="Spend cap in USD: no job starts once spend plus in-flight estimates would pass it "
    "(exit 4; a rerun continues).",
    **_env("MAX_COST"),
)
@click.option(
    "--max-segment",
    type=Duration(),
    default=MAX_SEGMENT_MS / 1000,
    show_default=True,
    help="Longest audio segment sent as one item; long files are cut at silences.",
    **_env("MAX_SEGMENT"),
)
@click.option(
    "--shard",
    metavar="K/N",
    help="Run only shard K of N (K counts from 0: 0/4 to 3/4), the jobs whose id hashes to K, "
    "into RESULTS.shard-K-of-N.jsonl beside -o; --rpm and --tpm are divided by N. "
    "Default: from JOB_COMPLETION_INDEX with --shards, or SLURM_ARRAY_TASK_ID.",
    **_env("SHARD"),
)
@click.option(
    "--shards",
    metavar="N",
    type=click.IntRange(1),
    help="The number of shards N, for an index from JOB_COMPLETION_INDEX (required there) "
    "or SLURM_ARRAY_TASK_ID (checked against SLURM_ARRAY_TASK_COUNT).",
    **_env("SHARDS"),
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and the summary.")
def run(
    jobs_file: str, verbose: int, quiet: bool, api_key_file: str | None, **options: Any
) -> None:
    """Run every job of JOBS.jsonl and append one result line per job.

    Rerunning the same command resumes: completed jobs are skipped, failed ones
    run again, a torn last line is repaired. The API key comes from
    OPENAI_API_KEY or --api-key-file, never from an option.
    """
    from rtbatch.runner import RunOptions, run_command

    _setup_logging(verbose, quiet)
    parsed = RunOptions(**options)
    api_key = _api_key(api_key_file, emulate=parsed.emulate)
    try:
        code = run_command(jobs_file, parsed, api_key=api_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


@main.command(epilog=EPILOG)
@click.argument("jobs_file", metavar="JOBS.jsonl", type=click.Path(dir_okay=False, allow_dash=True))
@_MODEL
@_TRANSCRIPTION_MODEL
@click.option(
    "--emulate",
    is_flag=True,
    help="Estimate what a run against the emulator will report (its reply lengths).",
    **_env("EMULATE"),
)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON on stdout.")
def estimate(
    jobs_file: str, model: str, transcription_model: str, emulate: bool, as_json: bool
) -> None:
    """Print what JOBS.jsonl is expected to cost, before anything is spent.

    Audio durations are probed; text tokens are estimated from the text; replies
    are assumed typical. The method and its stated error are printed with it.
    """
    from rtbatch.commands import estimate_command

    sys.exit(
        estimate_command(
            jobs_file,
            model=model,
            transcription_model=transcription_model,
            emulate=emulate,
            as_json=as_json,
        )
    )


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
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the transcript files, the job file and results.jsonl go.",
    **_env("TRANSCRIBE_DIR"),
)
@_FORMAT
@_CONCURRENCY
@click.option(
    "--model",
    "transcription_model",
    default=DEFAULT_TRANSCRIPTION_MODEL,
    show_default=True,
    help="Transcription model.",
    **_env("TRANSCRIPTION_MODEL"),
)
@click.option("--language", help="Language hint (ISO-639-1).", **_env("LANGUAGE"))
@click.option(
    "--url",
    default=DEFAULT_URL,
    show_default=True,
    help="Realtime WebSocket endpoint.",
    **_env("URL"),
)
@click.option(
    "--emulate", is_flag=True, help="Run against the built-in emulator.", **_env("EMULATE")
)
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False), help="API key file.")
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0, min_open=True),
    help="Spend cap in USD (divided among shards); exit 4 when reached.",
    **_env("MAX_COST"),
)
@click.option(
    "--shard", metavar="K/N", help="Transcribe only shard K of N (see run --help).", **_env("SHARD")
)
@click.option(
    "--shards",
    metavar="N",
    type=click.IntRange(1),
    help="N, with JOB_COMPLETION_INDEX or Slurm's array variables.",
    **_env("SHARDS"),
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and the summary.")
def transcribe(
    paths: tuple[str, ...],
    output_dir: str,
    verbose: int,
    quiet: bool,
    api_key_file: str | None,
    **given: Any,
) -> None:
    """Transcribe audio files, folders (searched recursively) and globs.

    Each file becomes a job whose id is its path relative to the inputs' common
    root; transcripts are written per format under the output directory, long
    files cut at silences into segments. A rerun skips the files already done.
    Same engine, retries, pacing, summary and exit codes as ``run``.
    """
    from rtbatch.commands import transcribe_command
    from rtbatch.runner import RunOptions

    _setup_logging(verbose, quiet)
    # Every other setting as `run` would take it (its defaults and RTBATCH_* variables),
    # so each default is stated once, on `run`.
    parsed = run.make_context("run", ["-"], resilient_parsing=True).params
    for name in ("jobs_file", "verbose", "quiet", "api_key_file"):
        parsed.pop(name, None)
    options = RunOptions(**{**parsed, **given})
    api_key = _api_key(api_key_file, emulate=options.emulate)
    try:
        code = transcribe_command(paths, output_dir, options, api_key=api_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


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
