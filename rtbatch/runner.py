"""``rtbatch run`` as one library call: check the file, lock, resume, run, summarise."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rtbatch.config import ApiKey, RetryPolicy, RunConfig, Timeouts
from rtbatch.exitcodes import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_USAGE
from rtbatch.jobs import Job, JobFileError, JobProblem, read_jobs

log = logging.getLogger("rtbatch")

MAX_PROBLEMS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What ``rtbatch run`` was asked to do."""

    jobs_path: Path
    output: Path | None  # None: stdout
    config: RunConfig
    emulate: bool = False
    summary_path: str | None = None
    stdin_spool: bool = False

    def read(self) -> Iterator[Job | JobProblem]:
        """The job file's items; a spooled stdin reads as ``-`` from the working directory."""
        if self.stdin_spool:
            return read_jobs(self.jobs_path, base_dir=Path.cwd(), display_name="-")
        return read_jobs(self.jobs_path)


def default_output(jobs_path: Path) -> Path:
    """``jobs.jsonl`` → ``jobs.results.jsonl`` beside it."""
    return jobs_path.with_name(jobs_path.stem + ".results.jsonl")


def build_request(
    jobs_file: str, options: dict[str, Any], *, api_key: str, stdin_spool: bool = False
) -> RunRequest:
    """Turn the command's options into a request.

    Raises:
        ValueError: an option value the config refuses; the message names it.
    """
    jobs_path = Path(jobs_file)
    output_opt = options.get("output")
    if output_opt == "-" or (output_opt is None and stdin_spool):
        output = None
    else:
        output = Path(output_opt) if output_opt else default_output(jobs_path)
    config = RunConfig(
        api_key=ApiKey(api_key),
        url=options["url"],
        model=options["model"],
        dialect="beta" if options.get("beta") else "ga",
        concurrency=options["concurrency"],
        instructions=options.get("instructions"),
        timeouts=Timeouts(job_s=options["job_timeout"]),
        retry=RetryPolicy(max_attempts=options["max_attempts"]),
        rpm=options.get("rpm"),
        tpm=options.get("tpm"),
        deadline_s=options.get("deadline"),
        grace_s=options["grace"],
        retry_failed=options["retry_failed"],
        skip_invalid=options["skip_invalid"],
        audio_out=Path(options["audio_out"]) if options.get("audio_out") else None,
        transcription_model=options["transcription_model"],
        language=options.get("language"),
        audio_format=options["audio_format"],
        seed=options.get("seed"),
    )
    return RunRequest(
        jobs_path=jobs_path,
        output=output,
        config=config,
        emulate=bool(options.get("emulate")),
        summary_path=options.get("summary_file"),
        stdin_spool=stdin_spool,
    )


def check_file(request: RunRequest) -> tuple[int, list[JobProblem]]:
    """Read the whole file once: the number of valid jobs and every problem."""
    jobs = 0
    problems: list[JobProblem] = []
    for item in request.read():
        if isinstance(item, Job):
            jobs += 1
        else:
            problems.append(item)
    return jobs, problems


def execute(request: RunRequest) -> int:
    """Run the request to the end; return the process exit code."""
    from rtbatch.results import LockBusy, RunLock

    try:
        total, problems = check_file(request)
    except JobFileError as exc:
        print(f"rtbatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if problems and not request.config.skip_invalid:
        _print_problems(problems)
        print(
            f"rtbatch: refusing to run: {len(problems)} invalid line(s); fix them, or pass "
            "--skip-invalid to record them as failed and run the rest",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        if request.output is None:
            return _run(request, total + len(problems))
        with RunLock(request.output):
            return _run(request, total + len(problems))
    except LockBusy as exc:
        print(f"rtbatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the result file or its lock cannot be created or read
        print(f"rtbatch: {exc.filename or request.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def _print_problems(problems: list[JobProblem]) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(problem, file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        print(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more", file=sys.stderr)


def _run(request: RunRequest, total: int) -> int:
    import trio

    from rtbatch.pool import Run
    from rtbatch.progress import reporter
    from rtbatch.results import ResultFile, ResumeIndex, prepare_resume

    index = ResumeIndex()
    if request.output is not None:
        index = prepare_resume(request.output, retry_failed=request.config.retry_failed)
        if index.done:
            log.info("resuming %s: %d job(s) already settled", request.output, len(index.done))
    results = ResultFile.open(request.output)
    run = Run(
        config=request.config,
        source=request.read(),
        results=results,
        done=index.done,
        total=total,
        handle_signals=True,
        emulator=_emulator_config() if request.emulate else None,
        progress=reporter(),
    )
    try:
        report = trio.run(run.run)
    except KeyboardInterrupt:
        print("rtbatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        results.close()
    print(report.summary.render(), file=sys.stderr)
    _write_summary(request.summary_path, report.summary.to_dict())
    if report.fatal is not None:
        print(f"rtbatch: stopped by a run-fatal error: {report.fatal.message}", file=sys.stderr)
        return EXIT_FATAL
    return report.exit_code


def _emulator_config() -> Any:
    from rtbatch.emulator import EmulatorConfig

    return EmulatorConfig()


def _write_summary(path: str | None, summary: dict[str, Any]) -> None:
    if not path:
        return
    data = orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(path).write_bytes(data)
