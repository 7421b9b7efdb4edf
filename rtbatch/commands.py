"""The other commands' library calls: ``validate``, ``estimate``, ``transcribe``, ``models``.

Each checks its input by the same rules a run would apply (:func:`rtbatch.runner.job_rules`)
and returns the exit code; ``transcribe`` turns its PATHs into a job file and runs it.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import orjson
import trio

from rtbatch import catalogue_check
from rtbatch.config import RunConfig, Target
from rtbatch.defaults import MAX_TOOL_ROUNDS
from rtbatch.exitcodes import EXIT_FAILED, EXIT_FATAL, EXIT_OK, EXIT_USAGE
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


def transcribe_command(
    paths: tuple[str, ...], out_dir: str, config: RunConfig, *, references: bool = False
) -> int:
    """``rtbatch transcribe``: audio files, folders and globs to transcript files in OUT_DIR.

    The inputs become a job file in OUT_DIR (ids: paths relative to their common
    root, stable across reruns), run like ``rtbatch run`` with its results in
    OUT_DIR/results.jsonl; so a rerun skips the inputs already done. With
    ``references``, each file with a ``.txt`` beside it is scored against it (WER).

    Raises:
        ValueError: a PATH matches no audio file, or an option is refused.
    """
    from dataclasses import replace

    from rtbatch.audio.discover import find_audio, write_job_file

    directory = Path(out_dir)
    jobs_file = directory / TRANSCRIBE_JOBS
    count = write_job_file(find_audio(paths), jobs_file, references=references)
    log.info("transcribe: %d audio file(s); jobs in %s", count, jobs_file)
    config = replace(config, output=str(directory / TRANSCRIBE_RESULTS), transcripts=directory)
    return run_command(str(jobs_file), config)


def estimate_command(
    jobs_file: str, target: Target, *, as_json: bool, max_tool_rounds: int = MAX_TOOL_ROUNDS
) -> int:
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
                max_tool_rounds=max_tool_rounds,
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


def models_command(url: str, emulate: bool, api_key: str | None) -> int:
    """``rtbatch models``: the catalogue; with a key, checked against the endpoint's list.

    Returns:
        0 when the catalogue agrees with the endpoint (or was only printed), 1 when it
        is behind (each difference printed), 3 when the list could not be had.
    """
    today = dt.date.today()
    print(catalogue_check.table(today))
    if api_key is None:
        return EXIT_OK
    return trio.run(_check_models, url, emulate, api_key, today)


async def _check_models(url: str, emulate: bool, api_key: str, today: dt.date) -> int:
    async with trio.open_nursery() as nursery:
        if emulate:
            from rtbatch.emulator import EmulatorConfig, serve

            url = (await nursery.start(serve, EmulatorConfig())).url
        list_url = catalogue_check.models_url(url)
        try:
            listed = await trio.to_thread.run_sync(catalogue_check.fetch_models, list_url, api_key)
        except catalogue_check.CheckFailed as exc:
            print(f"rtbatch: cannot check the catalogue: {exc}", file=sys.stderr)
            return EXIT_FATAL
        finally:
            nursery.cancel_scope.cancel()
    notes = catalogue_check.behind(listed, today)
    for note in notes:
        print(f"rtbatch: warning: {note}", file=sys.stderr)
    verdict = f"the catalogue is behind in {len(notes)} place(s)" if notes else "up to date"
    print(f"{list_url}: {len(listed)} model(s) listed; {verdict}", file=sys.stderr)
    return EXIT_FAILED if notes else EXIT_OK


#: ``compare``'s gates as the command line gives them (``latency``: the raw texts).
CompareGates = dict[str, Any]


def compare_command(
    path_a: str, path_b: str, gates: CompareGates, *, as_json: bool, listed: int
) -> int:
    """``rtbatch compare``: what changed from A to B, judged by the gates given.

    Returns:
        1 when B regresses past a gate, else 0; 2 when a file cannot be read.

    Raises:
        ValueError: a gate's text is malformed (bad usage).
    """
    from rtbatch.evals import compare_view
    from rtbatch.evals.compare import compare
    from rtbatch.evals.gates import Gates, judge, latency_gate
    from rtbatch.evals.records import ResultFileError

    chosen = Gates(**{**gates, "latency": tuple(latency_gate(g) for g in gates["latency"])})
    try:
        found = compare(path_a, path_b)
    except ResultFileError as exc:
        print(f"rtbatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verdicts = judge(chosen, found.a.totals, found.b.totals, found.new_failures)
    if as_json:
        data = orjson.dumps(compare_view.to_dict(found, verdicts), option=orjson.OPT_INDENT_2)
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
    else:
        print(compare_view.render(found, verdicts, listed=listed))
    return EXIT_FAILED if any(v.failed for v in verdicts) else EXIT_OK


def report_path(results: str) -> Path:
    """The page's default path: ``NAME.report.html`` beside ``NAME.results.jsonl``."""
    path = Path(results)
    stem = path.name.removesuffix(".jsonl").removesuffix(".results")
    return path.with_name(f"{stem}.report.html")


def report_command(results: str, output: str | None) -> int:
    """``rtbatch report``: a result file as one self-contained HTML page.

    Returns:
        0 when the page is written; 2 when the result file cannot be read; 3 when
        the page cannot be written.
    """
    from rtbatch.evals.records import ResultFileError
    from rtbatch.evals.report import page
    from rtbatch.evals.report_data import collect
    from rtbatch.output.atomic import write_whole

    target = Path(output) if output else report_path(results)
    try:
        data = collect(results)
    except ResultFileError as exc:
        print(f"rtbatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        write_whole(target, [page(data, target).encode("utf-8")])
    except OSError as exc:
        print(f"rtbatch: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FATAL
    if (warning := data.unreadable.warning()) is not None:
        print(f"rtbatch: {results}: {warning}", file=sys.stderr)
    print(f"rtbatch: report of {data.totals.lines} line(s) in {target}", file=sys.stderr)
    return EXIT_OK
