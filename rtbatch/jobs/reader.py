"""The streaming reader: a job file, line by line, into jobs and problems.

Memory: the file is never held whole. A line is read with a hard cap
(:data:`MAX_LINE_BYTES`); a longer line is skipped in chunks. The only state
kept from one line to the next is the index of ids already seen (id → first
line), needed to report duplicates: a compact :class:`~rtbatch.idindex.IdIndex`
of 18-36 bytes an id, and nothing else grows with the file (the run's rules are
fixed for the whole read, and audio durations are probed one file at a time).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rtbatch.errors import BadAudio
from rtbatch.idindex import IdIndex
from rtbatch.jobs.fields import Invalid, build_job, fail, id_key, job_id_of, parse_object, quote
from rtbatch.jobs.model import Job, JobProblem
from rtbatch.jobs.rules import JobRules, audio_limit

#: Seconds of audio in a file; raises :class:`~rtbatch.errors.BadAudio` when it cannot tell.
Probe = Callable[[Path], float]

#: Longest line accepted, in bytes, without its final ``\n``. Read at call time,
#: so tests may patch it. Generous for text jobs (the service takes events up to
#: 15 MiB) while keeping one line's memory bounded.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: How much of an over-long line is read (and dropped) at a time, in bytes.
_DISCARD_CHUNK_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class JobFileError(Exception):
    """Raised when the job file itself cannot be opened or read."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read job file {path}: {reason}")
        self.path = path
        self.reason = reason


def read_jobs(
    path: str | Path,
    *,
    rules: JobRules | None = None,
    check_files: bool = False,
    probe: Probe | None = None,
    base_dir: Path | None = None,
    display_name: str | None = None,
) -> Iterator[Job | JobProblem]:
    """Stream a job file, yielding each line's :class:`Job` or :class:`JobProblem`.

    The file is opened at once and then read lazily, one line per item; it is
    closed when the iterator is exhausted or closed. Each bad line yields one
    problem (the first found). A line whose id was already used (by a valid or
    an invalid line) is a problem on the later line.

    Args:
        path: The job file; ``"-"`` reads standard input (relative audio paths
            are then relative to the working directory).
        rules: The run the file is checked for (dialect, models, endpoint);
            default ``JobRules()``: GA, the default models, OpenAI's endpoint.
        check_files: Also check that each audio file exists, is a regular file
            and can be opened for reading, and that a respond job's audio fits
            the run model's context (which probes its duration).
        probe: How to measure a file's duration in seconds (raising
            :class:`~rtbatch.errors.BadAudio`); default
            :func:`rtbatch.audio.duration_s`. Used only with ``check_files``.
        base_dir: Resolve relative audio paths against this directory instead
            (a spooled copy of standard input keeps the working directory).
        display_name: The file's name in problems, when it is not ``path``.

    Returns:
        An iterator over jobs and problems, in file order.

    Raises:
        JobFileError: The file cannot be opened (at the call) or a read fails
            (during iteration).
    """
    name = display_name or str(path)
    checks = _Checks(rules or JobRules(), check_files, probe or _audio_duration_s)
    if str(path) == "-":
        if sys.stdin is None:
            raise JobFileError(name, "standard input is closed")
        return _read(sys.stdin.buffer, name, base_dir or Path.cwd(), checks, ExitStack())
    # Open now, so a missing file fails at the call; the generator then owns the
    # file (pop_all hands it over) and closes it when it ends or is closed.
    with ExitStack() as stack:
        try:
            stream = stack.enter_context(open(path, "rb"))
        except OSError as exc:
            raise JobFileError(name, exc.strerror or str(exc)) from exc
        base = base_dir or Path(os.path.abspath(path)).parent
        return _read(stream, name, base, checks, stack.pop_all())


@dataclass(frozen=True, slots=True)
class _Checks:
    """What every line of one read is checked against."""

    rules: JobRules
    files: bool
    probe: Probe


def _audio_duration_s(path: Path) -> float:
    """The default probe, :func:`rtbatch.audio.duration_s`."""
    # Imported on first use: the audio stack costs more start-up time than a text
    # file's whole check.
    from rtbatch.audio.decode import duration_s

    return duration_s(path)


def _read(
    stream: IO[bytes], name: str, base: Path, checks: _Checks, owner: ExitStack
) -> Iterator[Job | JobProblem]:
    seen = IdIndex()  # id -> first line: the only state kept across lines
    with owner:
        for line, raw in _lines(stream, name):
            if raw is None:
                limit = _size(MAX_LINE_BYTES)
                yield JobProblem(name, line, None, f"line is longer than {limit}")
                continue
            if line == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if not raw.strip(b" \t\r"):
                continue
            try:
                obj = parse_object(raw)
                job_id = job_id_of(obj)
            except Invalid as bad:
                yield JobProblem(name, line, bad.field, bad.message)
                continue
            first = seen.setdefault(job_id, line)
            if first != line:
                message = f"duplicate id {quote(job_id)} (first on line {first})"
                yield JobProblem(name, line, id_key(obj), message)
                continue
            try:
                job = build_job(obj, job_id, line, base, checks.rules)
                # The file system last: only for a job that is otherwise valid.
                if checks.files and job.audio is not None:
                    _check_files(job, job.audio, checks)
                if checks.files and job.turns is not None:
                    _check_turn_files(job, checks)
                yield job
            except Invalid as bad:
                yield JobProblem(name, line, bad.field, bad.message, job_id)


def _lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes without the line ending), or None for an over-long line."""
    line = 0
    while True:
        limit = MAX_LINE_BYTES
        try:
            chunk = stream.readline(limit + 1)
        except OSError as exc:
            raise JobFileError(name, exc.strerror or str(exc)) from exc
        if not chunk:
            return
        line += 1
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        elif len(chunk) > limit:
            # The line goes on past the cap: drop the rest without holding it.
            while chunk and not chunk.endswith(b"\n"):
                try:
                    chunk = stream.readline(_DISCARD_CHUNK_BYTES)
                except OSError as exc:
                    raise JobFileError(name, exc.strerror or str(exc)) from exc
            yield line, None
            continue
        yield line, chunk.removesuffix(b"\r")


# --- the files a job names ---------------------------------------------------------------


def _check_files(job: Job, audio: Path, checks: _Checks) -> None:
    _check_readable(audio)
    if job.kind == "respond":
        _check_fits(job, audio, checks)


def _check_fits(job: Job, audio: Path, checks: _Checks) -> None:
    """A respond job's audio must fit the run model's context with room for the answer."""
    limit = audio_limit(job.options.max_output_tokens, checks.rules)
    if limit is None:
        return  # no context figure to hold it to: the file need not be probed
    problem = limit.problem(_duration_s("audio", audio, checks))
    if problem is not None:
        fail("audio", problem)


def _check_turn_files(job: Job, checks: _Checks) -> None:
    """A conversation's audio turns: each file readable, and all of them together fitting
    the run model's context as one respond job's audio must (the last turn reads them all)."""
    audio = [(f"turns[{i}].audio", t.audio) for i, t in enumerate(job.turns or ()) if t.audio]
    for where, path in audio:
        _check_readable(path, where)
    limit = audio_limit(job.options.max_output_tokens, checks.rules)
    if limit is None or not audio:
        return
    problem = limit.problem(sum(_duration_s(where, path, checks) for where, path in audio))
    if problem is not None:
        fail("turns", f"the audio turns together: {problem}")


def _duration_s(where: str, audio: Path, checks: _Checks) -> float:
    try:
        return checks.probe(audio)
    except BadAudio as exc:
        # The probe's messages name the file already; say which file where they do not.
        reason = exc.message if str(audio) in exc.message else f"{audio}: {exc.message}"
        fail(where, f"cannot measure the duration: {reason}")


def _check_readable(path: Path, where: str = "audio") -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        fail(where, f"file not found: {path}")
    except OSError as exc:
        fail(where, f"cannot read {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(mode):
        fail(where, f"not a regular file: {path}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        fail(where, f"cannot read {path}: {exc.strerror or exc}")


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"
