"""Merge shard result files into one result file, in job-file order.

``rtbatch merge JOBS.jsonl RESULTS... -o OUT`` checks that every job of the job
file has exactly one result line among the RESULTS, and writes those lines to OUT
in the order of the job file. Jobs are keyed as a run keys them
(:func:`rtbatch.output.resume.job_key`): the id, or ``line:N`` for an invalid line, whose
result exists only if the run had ``--skip-invalid``. The job file is read without the
run's options, so a line invalid here may have been a job in the run (its functions in
``--tools``, its ``temperature`` for ``--beta``, its cap for ``--model``): such a line is
found by its id as well, and merge needs none of those options.

What is written, and what is reported (each with file and line):

- a job with no result line is *missing*: OUT lacks it;
- a second line for a job is *duplicated*: the first one found wins, in the order
  the RESULTS are given and then in file order;
- a line whose job is not in the job file is *unknown*: left out;
- a torn last line (the run writing it was killed) or any line that is not a JSON
  object with an id is *unreadable*: ignored, and its job is then missing until
  that shard is rerun (the rerun repairs its file and finishes the job).

The merge is complete when nothing is missing, duplicated or unknown. OUT is
written in every case, to a temporary file renamed into place, so a reader never
sees half a file; the exit code says whether it is complete.

Memory stays flat in the size of the lines: the job file is read twice, streaming,
and between the passes only a compact index is held, per job an 18-36 byte hash
entry (:class:`~rtbatch.idindex.IdIndex`, job key → position in the job file),
the byte offset of its result line (8 bytes) and the number of the file holding
it (2 bytes). The second pass seeks to each line and copies it. At a million jobs
that is about 50 MB, whatever the outputs weigh.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK
from rtbatch.idindex import IdIndex
from rtbatch.jobs import Job, JobFileError, JobProblem, read_jobs
from rtbatch.output.atomic import AtomicFile
from rtbatch.output.lock import LockBusy, RunLock
from rtbatch.output.resume import job_key, record_key
from rtbatch.shards.partition import Shard, shard_from_results_path, shard_of

#: Findings kept per kind for the report; the counts are always exact.
MAX_REPORTED = 100
#: Most result files in one merge: their numbers are kept in 16 bits, and each is
#: held open for the whole merge.
MAX_RESULT_FILES = 65_535
#: Most jobs in one job file: positions are kept in 32 bits, one value reserved.
MAX_JOBS = (1 << 32) - 2
#: Output buffer, in bytes: lines are copied one by one, written in large blocks.
_WRITE_BUFFER_BYTES = 1 << 20
_NO_LINE = -1


class MergeError(Exception):
    """Raised when the merge cannot be done: a file unreadable, busy or changed, or bad usage."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with one line: where it is, which job, and what is wrong."""

    path: Path
    line: int
    key: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(slots=True)
class Findings:
    """The findings of one kind: the exact count and the first :data:`MAX_REPORTED`."""

    count: int = 0
    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        """Count a finding, and keep it while fewer than the cap are kept."""
        self.count += 1
        if len(self.items) < MAX_REPORTED:
            self.items.append(finding)


@dataclass(slots=True)
class MergeReport:
    """What :func:`merge` found and wrote."""

    jobs_path: Path
    out_path: Path
    jobs: int = 0
    written: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    missing: Findings = field(default_factory=Findings)
    duplicated: Findings = field(default_factory=Findings)
    unknown: Findings = field(default_factory=Findings)
    unreadable: Findings = field(default_factory=Findings)
    absent_shards: list[Shard] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every job is there exactly once, and nothing else is."""
        return not (self.missing.count or self.duplicated.count or self.unknown.count)

    def render(self) -> str:
        """Greppable lines for stderr: each finding kept, then a summary."""
        lines: list[str] = []
        for kind, findings in (
            ("unreadable", self.unreadable),
            ("unknown", self.unknown),
            ("duplicated", self.duplicated),
            ("missing", self.missing),
        ):
            lines.extend(str(finding) for finding in findings.items)
            if findings.count > len(findings.items):
                lines.append(f"… and {findings.count - len(findings.items)} more {kind}")
        lines.extend(f"no result file given for shard {shard}" for shard in self.absent_shards)
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        lines.append(
            f"merged {self.written} of {self.jobs} job(s) of {self.jobs_path} into "
            f"{self.out_path} ({statuses or 'none'}): {self.missing.count} missing, "
            f"{self.duplicated.count} duplicated, {self.unknown.count} unknown, "
            f"{self.unreadable.count} unreadable line(s)"
        )
        if not self.complete:
            lines.append("incomplete: rerun the shards named above, then merge again")
        return "\n".join(lines)


@dataclass(slots=True)
class _Source:
    """One result file, open for the whole merge."""

    path: Path
    stream: IO[bytes]
    shard: Shard | None


class _Places:
    """Where each job's result line is: file number and byte offset, by job position."""

    __slots__ = ("files", "offsets")

    def __init__(self, jobs: int) -> None:
        self.offsets = array("q", [_NO_LINE]) * jobs
        self.files = array("H", bytes(2 * jobs))


def merge(jobs_path: Path, result_paths: Sequence[Path], out_path: Path) -> MergeReport:
    """Combine result files into ``out_path``, one line per job, in job-file order.

    While it reads, the merge holds a shared lock on each result file's run lock
    (when one exists), so it refuses a file a run is still writing, and a run
    cannot start on it meanwhile.

    Args:
        jobs_path: The job file the results belong to (read twice, so not stdin).
        result_paths: The result files, e.g. every ``RESULTS.shard-K-of-N.jsonl``.
        out_path: The merged result file; replaced atomically if it exists.

    Returns:
        The report; ``report.complete`` says whether every job is there once.

    Raises:
        MergeError: A file cannot be read or written, a run holds a result
            file's lock, a file changed during the merge, a result file is
            given twice, or the output is one of the inputs.
    """
    _check_paths(result_paths, out_path)
    with ExitStack() as stack:
        for path in result_paths:
            _hold_lock(path, stack)
        sources = [
            _Source(path, _open(path, stack), shard_from_results_path(path))
            for path in result_paths
        ]
        merger = _Merger(jobs_path, sources, MergeReport(jobs_path=jobs_path, out_path=out_path))
        for number in range(len(sources)):
            merger.scan(number)
        merger.write(out_path)
    return merger.report


def merge_command(jobs_file: str, result_files: Sequence[str], output: str) -> int:
    """The ``rtbatch merge`` command: merge, print the report on stderr, return the exit code.

    Returns:
        ``EXIT_OK`` when the merge is complete; ``EXIT_FAILED`` when a job is
        missing or duplicated or a line's job is unknown (OUT is still written).

    Raises:
        MergeError: As :func:`merge`; the CLI turns it into a usage error (exit 2).
    """
    report = merge(Path(jobs_file), [Path(p) for p in result_files], Path(output))
    print(report.render(), file=sys.stderr)
    return EXIT_OK if report.complete else EXIT_FAILED


def _check_paths(result_paths: Sequence[Path], out_path: Path) -> None:
    if not result_paths:
        raise MergeError("give at least one result file")
    if len(result_paths) > MAX_RESULT_FILES:
        raise MergeError(f"at most {MAX_RESULT_FILES} result files, got {len(result_paths)}")
    seen: dict[Path, Path] = {}
    for path in result_paths:
        real = path.resolve()
        if real in seen:
            also = "" if seen[real] == path else f" (as {seen[real]} too)"
            raise MergeError(f"{path}: result file given twice{also}")
        seen[real] = path
    if out_path.resolve() in seen:
        raise MergeError(f"{out_path}: the output must not be one of the result files")


def _hold_lock(path: Path, stack: ExitStack) -> None:
    lock = RunLock(path, shared=True)
    try:
        stack.enter_context(lock)
    except LockBusy as exc:
        raise MergeError(f"{exc}: merge when it ends") from None
    except OSError as exc:
        raise MergeError(f"{lock.path}: cannot open: {exc.strerror}") from exc


def _open(path: Path, stack: ExitStack) -> IO[bytes]:
    try:
        return stack.enter_context(path.open("rb"))
    except OSError as exc:
        raise MergeError(f"cannot read result file {path}: {exc.strerror}") from exc


def _jobs(jobs_path: Path) -> Iterator[tuple[int, str, bool, str | None]]:
    """(line, key, valid, id) of every line of the job file, valid or not, in file order.

    ``id`` is an invalid line's id when it has a usable one: the run may have
    keyed the line by it (see :meth:`_Merger.__init__`).
    """
    try:
        for item in read_jobs(jobs_path):
            also = item.job_id if isinstance(item, JobProblem) else None
            yield item.line, job_key(item), isinstance(item, Job), also
    except JobFileError as exc:
        raise MergeError(str(exc)) from exc


class _Merger:
    """One merge: the job index, where each job's line is, and the report."""

    def __init__(self, jobs_path: Path, sources: Sequence[_Source], report: MergeReport) -> None:
        self.jobs_path = jobs_path
        self.sources = sources
        self.report = report
        self.index = IdIndex()  # job key -> position in the job file
        for line, key, _, also in _jobs(jobs_path):
            # read_jobs makes every id unique; only an id spelled like an invalid
            # line's key (``line:N``) can meet another job's key.
            if self.index.setdefault(key, report.jobs) != report.jobs:
                raise MergeError(f"{jobs_path}:{line}: job key {key!r} is used twice")
            if also is not None:
                # A line is read here without the run's options (--tools, --beta,
                # --model): one invalid here may have been a job there, whose line
                # the run keyed by its id. Either key finds the line's place.
                self.index.setdefault(also, report.jobs)
            report.jobs += 1
            if report.jobs > MAX_JOBS:
                raise MergeError(f"{jobs_path}: more than {MAX_JOBS} jobs")
        self.places = _Places(report.jobs)
        self.shard_count = _shard_count(sources)
        if self.shard_count is not None:
            named = {source.shard for source in sources}
            report.absent_shards = [
                shard
                for k in range(self.shard_count)
                if (shard := Shard(k, self.shard_count)) not in named
            ]

    def scan(self, number: int) -> None:
        """Note where each job's line is in one result file; report the lines that do not fit."""
        source, report, places = self.sources[number], self.report, self.places
        path = source.path
        offset = 0
        try:
            for line, raw in enumerate(source.stream, start=1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                if not raw.endswith(b"\n"):
                    rerun = f"shard {source.shard}" if source.shard else "the run writing it"
                    message = (
                        "torn last line ignored (the run writing it was killed): "
                        f"rerun {rerun} to repair it and finish that job"
                    )
                    report.unreadable.add(Finding(path, line, None, message))
                    continue
                record = _parse(raw)
                key = record_key(record) if record is not None else None
                if key is None:
                    message = "not a result line (a JSON object with an id): ignored"
                    report.unreadable.add(Finding(path, line, None, message))
                    continue
                position = self._position(key)
                if position is None:
                    message = f"job {key!r} is not in {self.jobs_path}: left out"
                    report.unknown.add(Finding(path, line, key, message))
                    continue
                if places.offsets[position] != _NO_LINE:
                    first = self.sources[places.files[position]].path
                    message = f"job {key!r} again: kept its line from {first}"
                    report.duplicated.add(Finding(path, line, key, message))
                    continue
                places.offsets[position] = start
                places.files[position] = number
        except OSError as exc:
            raise MergeError(f"cannot read result file {path}: {exc.strerror}") from exc

    def write(self, out_path: Path) -> None:
        """Copy each job's line to a temporary file in job-file order, then rename it to OUT."""
        try:
            with AtomicFile(out_path) as out:
                self._copy(out.stream)
                out.commit()
        except OSError as exc:
            raise MergeError(f"cannot write {out_path}: {exc.strerror}") from exc

    def _copy(self, out: IO[bytes]) -> None:
        report, places = self.report, self.places
        missing: list[int] = []  # positions of the first missing jobs, to be named
        for position in range(report.jobs):
            offset = places.offsets[position]
            if offset == _NO_LINE:
                report.missing.count += 1
                if len(missing) < MAX_REPORTED:
                    missing.append(position)
                continue
            source = self.sources[places.files[position]]
            raw = _line_at(source, offset)
            record = _parse(raw)
            key = record_key(record) if record is not None else None
            if record is None or key is None or self._position(key) != position:
                raise MergeError(f"{source.path}: changed during the merge; merge again")
            out.write(raw)
            report.written += 1
            report.statuses[str(record.get("status"))] += 1
        self._name_missing(missing)

    def _name_missing(self, positions: list[int]) -> None:
        """Find the line and key of the missing jobs kept for the report (a partial pass)."""
        if not positions:
            return
        count, wanted = self.shard_count, set(positions)
        for position, (line, key, valid, _) in enumerate(_jobs(self.jobs_path)):
            if self._position(key) != position:
                raise MergeError(f"{self.jobs_path}: changed during the merge; merge again")
            if position not in wanted:
                continue
            notes = [f"shard {shard_of(key, count)}/{count}"] if count else []
            if not valid:
                notes.append("a run records one only with --skip-invalid")
            what = f"job {key!r}" if valid else "invalid line"
            message = f"{what} has no result line" + (f" ({'; '.join(notes)})" if notes else "")
            # The count is already exact: only the finding itself is kept here.
            self.report.missing.items.append(Finding(self.jobs_path, line, key, message))
            if position == positions[-1]:
                break

    def _position(self, key: str) -> int | None:
        """The job's position in the job file, or None when the key is not a job."""
        # One probe, not two (a membership test, then a look-up): an unknown key
        # is recorded at the impossible position ``jobs``, which it then keeps.
        position = self.index.setdefault(key, self.report.jobs)
        return None if position == self.report.jobs else position


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _shard_count(sources: Sequence[_Source]) -> int | None:
    """N, when every result file is named for a shard of the same N."""
    counts = {source.shard.count if source.shard else None for source in sources}
    return counts.pop() if len(counts) == 1 else None


def _line_at(source: _Source, offset: int) -> bytes:
    try:
        source.stream.seek(offset)
        return source.stream.readline()
    except OSError as exc:
        raise MergeError(f"cannot read result file {source.path}: {exc.strerror}") from exc
