"""The other commands' library calls: ``validate``, ``estimate`` and ``transcribe``.

Each checks its input by the same rules a run would apply (:func:`rtbatch.runner.job_rules`)
and returns the exit code; ``transcribe`` turns its PATHs into a job file and runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from rtbatch.config import RunConfig, Target
from rtbatch.exitcodes import EXIT_OK, EXIT_USAGE
from rtbatch.jobs import Job, JobFileError, read_jobs
from rtbatch.runner import (
    ModelUnusable,
    checked,
    estimate_assumptions,
    job_rules,
    log,
    model_check,
    run_command,
    spooled,
)


def validate_command(jobs_file: str, target: Target) -> int:
    """``rtbatch validate``: check a file by the rules the same run would apply.

    Audio files are opened and probed (a respond job's audio must fit the model's
    context). Prints every problem; returns the exit code.
    """
    rules = job_rules(target)
    if (problem := model_check(rules)) is not None:
        print(f"rtbatch: {problem}", file=sys.stderr)
        return EXIT_USAGE
    jobs = problems = 0
    with spooled(jobs_file) as (path, spool):
        name = "-" if spool else path
        try:
            items = read_jobs(
                path,
                rules=rules,
                check_files=True,
                base_dir=Path.cwd() if spool else None,
                display_name=name,
            )
            for item in checked(items, rules):
                if isinstance(item, Job):
                    jobs += 1
                else:
                    problems += 1
                    print(item, file=sys.stderr)
        except (JobFileError, ModelUnusable) as exc:
            print(f"rtbatch: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(f"{name}: {jobs} valid job(s), {problems} problem(s)", file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


TRANSCRIBE_JOBS = "transcribe.jobs.jsonl"
TRANSCRIBE_RESULTS = "results.jsonl"


def transcribe_command(paths: tuple[str, ...], out_dir: str, config: RunConfig) -> int:
    """``rtbatch transcribe``: audio files, folders and globs to transcript files in OUT_DIR.

    The inputs become a job file in OUT_DIR (ids: paths relative to their common
    root, stable across reruns), run like ``rtbatch run`` with its results in
    OUT_DIR/results.jsonl; so a rerun skips the inputs already done.

    Raises:
        ValueError: a PATH matches no audio file, or an option is refused.
    """
    from dataclasses import replace

    from rtbatch.audio.discover import find_audio, write_job_file

    directory = Path(out_dir)
    jobs_file = directory / TRANSCRIBE_JOBS
    count = write_job_file(find_audio(paths), jobs_file)
    log.info("transcribe: %d audio file(s); jobs in %s", count, jobs_file)
    config = replace(config, output=str(directory / TRANSCRIBE_RESULTS), transcripts=directory)
    return run_command(str(jobs_file), config)


def estimate_command(jobs_file: str, target: Target, *, as_json: bool) -> int:
    """``rtbatch estimate``: the expected cost of a job file, before anything is spent."""
    from rtbatch.estimate import estimate

    rules = job_rules(target)
    if (problem := model_check(rules)) is not None:
        print(f"rtbatch: {problem}", file=sys.stderr)
        return EXIT_USAGE
    with spooled(jobs_file) as (path, spool):
        try:
            items = read_jobs(
                path,
                rules=rules,
                base_dir=Path.cwd() if spool else None,
                display_name="-" if spool else None,
            )
            found = estimate(
                checked(items, rules),
                model=target.model,
                transcription_model=target.transcription_model,
                assumptions=estimate_assumptions(emulate=target.emulate),
            )
        except (JobFileError, ModelUnusable) as exc:
            print(f"rtbatch: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(found.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    else:
        print(found.render())
    return EXIT_OK
