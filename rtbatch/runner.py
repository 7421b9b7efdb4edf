"""``rtbatch run`` as one library call: check the file, lock, resume, run, summarise.

The composition lives here: the command line hands over one frozen
:class:`~rtbatch.config.RunConfig`; this module resolves its shard and result file
(:class:`RunRequest`), checks the whole job file before anything is sent, takes the
result file's lock, repairs and indexes it for resume, starts the emulator for
``--emulate`` (the pool only ever sees a URL), runs the pool and reports. Nothing
ends in a traceback: an unexpected error prints one line and exits with
:data:`~rtbatch.exitcodes.EXIT_INTERNAL`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from rtbatch.config import RunConfig, Target
from rtbatch.exitcodes import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE
from rtbatch.jobs import (
    Job,
    JobFileError,
    JobProblem,
    JobRules,
    model_problem,
    read_jobs,
    read_tool_file,
    shutdown_warning,
)
from rtbatch.models import ModelKind, lookup
from rtbatch.output.checkpoint import Checkpoint
from rtbatch.shards import apply as sharding
from rtbatch.shards import partition as shards

if TYPE_CHECKING:
    from rtbatch.run import RunReport

log = logging.getLogger("rtbatch")

MAX_PROBLEMS_SHOWN = 50
OPENAI_HOST = "api.openai.com"
STDIN_SPOOL_PREFIX = "rtbatch-stdin-"


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the runner resolved from a :class:`~rtbatch.config.RunConfig`.

    Nothing here is a setting: the file actually read (a spooled stdin), the shard and
    its result file, the rules the file is checked by, and the config the pool gets
    (this shard's share of the limits).
    """

    jobs_path: Path
    output: Path | None  # None: stdout
    config: RunConfig
    stdin_spool: bool = False
    rules: JobRules | None = None
    shard: shards.Shard | None = None  # None: every job of the file

    def read(self, counts: list[int] | None = None) -> Iterator[Job | JobProblem]:
        """The job file's items (this shard's only); a spooled stdin reads as ``-``.

        The check, the total and the run all read through here, so a shard never
        counts, refuses or sends another shard's lines.

        Args:
            counts: with a shard, one zero per shard: every shard's items are counted in.
        """
        if self.stdin_spool:
            items = read_jobs(
                self.jobs_path, rules=self.rules, base_dir=Path.cwd(), display_name="-"
            )
        else:
            items = read_jobs(self.jobs_path, rules=self.rules)
        return items if self.shard is None else sharding.owned(items, self.shard, counts)


def job_rules(config: Target) -> JobRules:
    """The rules a job file is checked by for this run.

    The catalogue's rules hold whole on OpenAI's endpoint and on the emulator's
    default mode (which answers as OpenAI does); ``--beta --emulate`` emulates a
    compatible server, and other endpoints (Azure deployments, gateways) may name
    models the catalogue does not know. The ``--tools`` defaults are read here,
    by the same rules (``parallel_tool_calls`` depends on the model).

    Raises:
        ToolFileError: the ``--tools`` file is unreadable or a field of it is bad
            (a ValueError: the command line reports it as bad usage, exit 2).
    """
    openai = urlsplit(config.url).hostname == OPENAI_HOST
    emulate = config.emulate
    known = (emulate and config.dialect == "ga") or (openai and not emulate)
    rules = JobRules(
        dialect=config.dialect,
        model=config.model,
        transcription_model=config.transcription_model,
        known_endpoint=known,
    )
    if config.tools_file is None:
        return rules
    return replace(rules, tools=read_tool_file(config.tools_file, rules))


def model_check(rules: JobRules, kind: ModelKind = "realtime") -> str | None:
    """Why the run's own model of ``kind`` cannot be used (exit 2), warning of shutdowns.

    The realtime model is checked before the file is read; the transcription model
    only once a job needs it (:func:`checked`), so a file without transcribe jobs
    never fails on it.
    """
    name, model = (
        ("--model", rules.model)
        if kind == "realtime"
        else ("--transcription-model", rules.transcription_model)
    )
    problem = model_problem(model, rules, kind=kind)
    if problem is not None:
        return f"{name}: {problem}"
    warning = shutdown_warning(model, rules.today) if rules.known_endpoint else None
    if warning is not None:
        log.warning("%s: %s", name, warning)
    if not rules.known_endpoint and lookup(model) is None:
        log.info(
            "%s: %s is not in rtbatch's model catalogue; its limits are not checked", name, model
        )
    return None


class ModelUnusable(Exception):
    """Raised when a job needs a run model that cannot be used; the message says why."""


def checked(items: Iterable[Job | JobProblem], rules: JobRules) -> Iterator[Job | JobProblem]:
    """The items, checking the run's transcription model at the first job that needs it.

    Raises:
        ModelUnusable: a transcribe job names no model and the run's is unusable.
    """
    needed = False
    for item in items:
        transcription = item.transcription if isinstance(item, Job) else None
        if not needed and transcription is not None and not transcription.model:
            needed = True
            if (problem := model_check(rules, "transcription")) is not None:
                raise ModelUnusable(f"line {item.line} is a transcribe job: {problem}")
        yield item


def default_output(jobs_path: Path) -> Path:
    """``jobs.jsonl`` → ``jobs.results.jsonl`` beside it."""
    return jobs_path.with_name(jobs_path.stem + ".results.jsonl")


def build_request(jobs_file: str, config: RunConfig, *, stdin_spool: bool = False) -> RunRequest:
    """Resolve the run's shard, result file and rules; divide the limits among shards.

    Raises:
        ValueError: a shard that cannot be worked out
            (:class:`~rtbatch.shards.partition.ShardError`), or limits it cannot
            divide; the message names the option.
    """
    shard = sharding.resolve(config.shard, config.shards)
    jobs_path = Path(jobs_file)
    if config.output == "-" or (config.output is None and stdin_spool):
        output = None
    else:
        output = Path(config.output) if config.output else default_output(jobs_path)
    output = sharding.shard_output(output, shard)
    if shard is not None:
        config = replace(
            config,
            rpm=sharding.per_shard(config.rpm, shard, "--rpm"),
            tpm=sharding.per_shard(config.tpm, shard, "--tpm"),
            max_cost_usd=sharding.per_shard(config.max_cost_usd, shard, "--max-cost"),
            account_share=1 / shard.count,
        )
    return RunRequest(
        jobs_path=jobs_path,
        output=output,
        config=config,
        stdin_spool=stdin_spool,
        rules=job_rules(config),
        shard=shard,
    )


@contextlib.contextmanager
def spooled(jobs_file: str) -> Iterator[tuple[str, bool]]:
    """The job file to read, spooling standard input (``-``) to a private file first.

    A run reads the file twice (check, then run), so stdin is copied once. The copy
    holds prompts: it is removed when the block ends, however it ends.
    """
    if jobs_file != "-":
        yield jobs_file, False
        return
    fd, path = tempfile.mkstemp(prefix=STDIN_SPOOL_PREFIX, suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as f:
            while chunk := sys.stdin.buffer.read(1 << 20):
                f.write(chunk)
        yield path, True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def run_command(jobs_file: str, config: RunConfig) -> int:
    """The whole ``rtbatch run``: the exit code.

    Raises:
        ValueError: bad usage (a shard, or limits, that cannot be worked out); nothing
            was sent.
    """
    with spooled(jobs_file) as (path, spool):
        return execute(build_request(path, config, stdin_spool=spool))


def check_file(request: RunRequest) -> tuple[int, list[JobProblem], tuple[int, ...]]:
    """Read the whole file once: the number of valid jobs, every problem, and the work.

    A transcription model a job names whose shutdown is announced is warned of once.
    The work is every shard's lines in the file, this shard's first (empty unsharded).

    Raises:
        JobFileError: the file cannot be read.
        ModelUnusable: a job needs the run's transcription model, which is unusable.
    """
    jobs = 0
    problems: list[JobProblem] = []
    warned: set[str] = set()
    counts = [0] * request.shard.count if request.shard is not None else []
    items = request.read(counts)
    for item in items if request.rules is None else checked(items, request.rules):
        if isinstance(item, Job):
            jobs += 1
            model = item.transcription.model if item.transcription else None
            if model and model not in warned:
                warned.add(model)
                if (warning := shutdown_warning(model)) is not None:
                    log.warning("line %d: transcription.model: %s", item.line, warning)
        else:
            problems.append(item)
    work = () if request.shard is None else sharding.own_first(counts, request.shard)
    return jobs, problems, work


def execute(request: RunRequest) -> int:
    """Run the request to the end; return the process exit code."""
    try:
        return _execute(request)
    except Exception as exc:  # the last boundary: a bug of ours, as one clear line
        log.debug("internal error", exc_info=exc)
        print(f"rtbatch: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


def _execute(request: RunRequest) -> int:
    from rtbatch.output.lock import LockBusy, RunLock

    if request.rules is not None and (problem := model_check(request.rules)):
        print(f"rtbatch: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if request.config.emulate and request.config.dialect == "beta":
        log.warning(
            "--beta: OpenAI's service refuses the beta interface since 2026-05-12; the "
            "emulator answers as a compatible server that still speaks it"
        )
    try:
        total, problems, work = check_file(request)
    except (JobFileError, ModelUnusable) as exc:
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
            return _run(request, total + len(problems), work)
        with RunLock(request.output):
            return _run(request, total + len(problems), work)
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


def _run(request: RunRequest, total: int, work: tuple[int, ...]) -> int:
    import trio

    from rtbatch.output.results import ResultFile
    from rtbatch.output.resume import ResumeIndex, prepare_resume

    index = ResumeIndex()
    if request.output is not None:
        index = prepare_resume(request.output, retry_failed=request.config.retry_failed)
        if index.done:
            log.info("resuming %s: %d job(s) already settled", request.output, len(index.done))
    results = ResultFile.open(request.output)
    checkpoint = _open_checkpoint(request.output, index.done)
    try:
        report = trio.run(_main, request, results, index, total, work, checkpoint)
    except KeyboardInterrupt:
        print("rtbatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        results.close()
        if checkpoint is not None:
            checkpoint.close()
    print(report.summary.render(), file=sys.stderr)
    _write_summary(request.config.summary_file, report.summary.to_dict())
    if report.fatal is not None:
        print(f"rtbatch: stopped by a run-fatal error: {report.fatal.message}", file=sys.stderr)
    elif report.try_later is not None:
        when = f" in {report.resets_in_s:.0f} s" if report.resets_in_s else " later"
        print(
            f"rtbatch: stopped: {report.try_later.message}; the limit resets{when}; "
            "rerun the same command then to continue",
            file=sys.stderr,
        )
    return report.exit_code


def _open_checkpoint(output: Path | None, done: Any) -> Checkpoint | None:
    """The long files' segment checkpoint beside the result file, without settled jobs.

    A run killed between a job's result line and forgetting its segments leaves
    them behind: they are forgotten here, since the result file settles the job.
    """
    if output is None:
        return None
    checkpoint = Checkpoint.open(output)
    for job_id in checkpoint.pending():
        if job_id in done:
            checkpoint.forget(job_id)
    return checkpoint


async def _main(
    request: RunRequest,
    results: Any,
    index: Any,
    total: int,
    work: tuple[int, ...],
    checkpoint: Checkpoint | None,
) -> RunReport:
    """The run, behind an emulator for ``--emulate`` (started first, stopped last)."""
    import trio

    from rtbatch.progress import reporter
    from rtbatch.run import Run

    async with trio.open_nursery() as nursery:
        config = request.config
        if config.emulate:
            config = await _start_emulator(nursery, config)
        run = Run(
            config=config,
            source=request.read(),
            results=results,
            done=index.done,
            settled_failed_checks=index.failed_checks,
            total=total,
            shard_work=work,
            handle_signals=True,
            progress=reporter(),
            checkpoint=checkpoint,
            **_budget(config),
        )
        report = await run.run()
        nursery.cancel_scope.cancel()
    return report


def _budget(config: RunConfig) -> dict[str, Any]:
    """The ``--max-cost`` budget and the estimator that prices each job before it starts."""
    if config.max_cost_usd is None:
        return {}
    from rtbatch.budget import Budget
    from rtbatch.estimate import Estimator

    return {
        "budget": Budget(config.max_cost_usd),
        "estimator": Estimator(
            model=config.model,
            transcription_model=config.transcription_model,
            instructions=config.instructions,
            assumptions=estimate_assumptions(emulate=config.emulate),
            max_tool_rounds=config.max_tool_rounds,
        ),
    }


def estimate_assumptions(*, emulate: bool) -> Any:
    """The estimator's assumptions: OpenAI's typical replies, or the emulator's own."""
    from rtbatch.estimate import DEFAULT_ASSUMPTIONS, Assumptions, text_tokens

    if not emulate:
        return DEFAULT_ASSUMPTIONS
    from rtbatch.emulator import EmulatorConfig, default_instructions

    return Assumptions(
        reply_tokens=EmulatorConfig().reply_words + 1,
        session_instructions_tokens=text_tokens(default_instructions()),
    )


async def _start_emulator(nursery: Any, config: RunConfig) -> RunConfig:
    from rtbatch.emulator import EmulatorConfig, serve

    emulator = await nursery.start(serve, EmulatorConfig(accept_beta=config.dialect == "beta"))
    return replace(config, url=emulator.url)


def _write_summary(path: str | None, summary: dict[str, Any]) -> None:
    if not path:
        return
    data = orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(path).write_bytes(data)
