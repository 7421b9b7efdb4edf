"""merge.py and ``rtbatch merge``: one line per job, in job-file order, problems reported."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from rtbatch import cli
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from rtbatch.jobs import JobProblem
from rtbatch.output.lock import RunLock
from rtbatch.output.outcome import Outcome, invalid_outcome
from rtbatch.shards import merge as merge_module
from rtbatch.shards.merge import MergeError, merge
from rtbatch.shards.partition import Shard, shard_of, shard_results_path


def _jobs(tmp_path: Path, ids: list[str], extra: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "jobs.jsonl"
    lines = [orjson.dumps({"id": i, "prompt": f"say {i}"}).decode() for i in ids]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def _line(job_id: str, status: str = "completed", **extra: Any) -> bytes:
    outcome = Outcome(job_id=job_id, status=status, kind="text", line=1, **extra)
    return outcome.to_json()


def _results(path: Path, lines: list[bytes], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(lines) + tail)
    return path


def _shard_files(tmp_path: Path, ids: list[str], count: int) -> list[Path]:
    """Each shard's lines, in reverse job order (the merge must restore it)."""
    paths = []
    for k in range(count):
        mine = [_line(i, output={"text": i}) for i in reversed(ids) if shard_of(i, count) == k]
        paths.append(_results(shard_results_path(tmp_path / "r.jsonl", Shard(k, count)), mine))
    return paths


IDS = [f"job-{i}" for i in range(40)]


def test_lines_come_out_once_in_job_file_order(tmp_path: Path) -> None:
    """Four shard files in scrambled order merge into one line per job, in job order, bytes kept."""
    jobs = _jobs(tmp_path, IDS)
    out = tmp_path / "merged.jsonl"
    report = merge(jobs, _shard_files(tmp_path, IDS, 4), out)
    assert report.complete and report.jobs == report.written == len(IDS)
    assert report.statuses == {"completed": len(IDS)}
    assert out.read_bytes() == b"".join(_line(i, output={"text": i}) for i in IDS)
    assert not report.absent_shards


def test_missing_jobs_are_named_with_line_and_shard(tmp_path: Path) -> None:
    """A job with no line is missing: named with its job-file line and its shard; not complete."""
    jobs = _jobs(tmp_path, IDS)
    paths = _shard_files(tmp_path, IDS, 2)
    lines = paths[1].read_bytes().splitlines(keepends=True)
    dropped = orjson.loads(lines.pop(3))["id"]
    paths[1].write_bytes(b"".join(lines))
    report = merge(jobs, paths, tmp_path / "out.jsonl")
    assert not report.complete
    assert report.missing.count == 1 and report.written == len(IDS) - 1
    (finding,) = report.missing.items
    assert finding.key == dropped and finding.line == IDS.index(dropped) + 1
    assert str(finding) == f"{jobs}:{finding.line}: job {dropped!r} has no result line (shard 1/2)"
    assert "incomplete" in report.render()


def test_duplicates_keep_the_first_and_are_reported(tmp_path: Path) -> None:
    """A job in two files keeps the line of the file given first; the second is reported."""
    jobs = _jobs(tmp_path, ["a", "b"])
    first = _results(tmp_path / "one.jsonl", [_line("a", "failed"), _line("b")])
    second = _results(tmp_path / "two.jsonl", [_line("a", "completed")])
    out = tmp_path / "out.jsonl"
    report = merge(jobs, [first, second], out)
    assert not report.complete and report.duplicated.count == 1
    (finding,) = report.duplicated.items
    assert (finding.path, finding.line, finding.key) == (second, 1, "a")
    assert f"kept its line from {first}" in finding.message
    assert out.read_bytes() == _line("a", "failed") + _line("b")


def test_unknown_ids_are_left_out(tmp_path: Path) -> None:
    """A line whose job is not in the job file is reported with its place and not written."""
    jobs = _jobs(tmp_path, ["a"])
    results = _results(tmp_path / "r.jsonl", [_line("ghost"), _line("a")])
    out = tmp_path / "out.jsonl"
    report = merge(jobs, [results], out)
    assert not report.complete and not report.missing.count
    assert [(f.line, f.key) for f in report.unknown.items] == [(1, "ghost")]
    assert out.read_bytes() == _line("a")


def test_torn_tail_is_ignored_and_its_shard_named(tmp_path: Path) -> None:
    """A torn last line is ignored with a warning naming the shard to rerun; its job is missing."""
    jobs = _jobs(tmp_path, ["a", "b"])
    path = shard_results_path(tmp_path / "r.jsonl", Shard(0, 1))
    _results(path, [_line("a")], tail=_line("b")[:-9])
    report = merge(jobs, [path], tmp_path / "out.jsonl")
    (torn,) = report.unreadable.items
    assert (torn.path, torn.line) == (path, 2)
    assert "torn last line" in torn.message and "rerun shard 0/1" in torn.message
    assert [f.key for f in report.missing.items] == ["b"]
    assert str(torn) in report.render()


def test_unreadable_lines_are_skipped(tmp_path: Path) -> None:
    """Lines that are not JSON objects with an id are reported and skipped; blank lines ignored."""
    jobs = _jobs(tmp_path, ["a"])
    bad = [b"not json\n", b"[1, 2]\n", b'{"status": "completed"}\n', b"\n", _line("a")]
    report = merge(jobs, [_results(tmp_path / "r.jsonl", bad)], tmp_path / "out.jsonl")
    assert report.complete
    assert [f.line for f in report.unreadable.items] == [1, 2, 3]


def test_invalid_lines_are_jobs_keyed_by_line(tmp_path: Path) -> None:
    """An invalid job line is a job keyed line:N: its --skip-invalid result merges in place."""
    jobs = _jobs(tmp_path, ["a"], extra=('{"id": "b", "bogus": 1}', '{"id": "c", "prompt": "x"}'))
    problem = JobProblem(str(jobs), 2, "bogus", "unknown field", "b")
    invalid = invalid_outcome(problem).to_json()
    results = _results(tmp_path / "r.jsonl", [_line("c"), invalid, _line("a")])
    out = tmp_path / "out.jsonl"
    assert merge(jobs, [results], out).complete
    assert out.read_bytes() == _line("a") + invalid + _line("c")
    results.write_bytes(_line("a") + _line("c"))
    (missing,) = merge(jobs, [results], out).missing.items
    assert missing.key == "line:2" and "--skip-invalid" in missing.message


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "b", "prompt": "x", "tool_choice": "required"}',  # its tools in --tools
        '{"id": "b", "prompt": "x", "temperature": 0.8}',  # a --beta run's job
    ],
)
def test_a_line_valid_only_with_the_run_s_options_merges_by_its_id(
    tmp_path: Path, line: str
) -> None:
    """Invalid here but a job in a run with --tools or --beta: its line, keyed by id, merges."""
    jobs = _jobs(tmp_path, ["a"], extra=(line, '{"id": "c", "prompt": "x"}'))
    results = _results(tmp_path / "r.jsonl", [_line("c"), _line("b"), _line("a")])
    out = tmp_path / "out.jsonl"
    report = merge(jobs, [results], out)
    assert report.complete and not report.unknown.count
    assert out.read_bytes() == _line("a") + _line("b") + _line("c")


def test_output_is_replaced_by_rename(tmp_path: Path) -> None:
    """An existing output is replaced by a new file (rename), and no temporary file is left."""
    jobs = _jobs(tmp_path, ["a"])
    results = _results(tmp_path / "r.jsonl", [_line("a")])
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"old\n")
    before = os.stat(out).st_ino
    merge(jobs, [results], out)
    assert out.read_bytes() == _line("a") and os.stat(out).st_ino != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.jsonl", "out.jsonl", "r.jsonl"]


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    """When the rename fails (OUT is a directory), the error names OUT and nothing is left over."""
    jobs = _jobs(tmp_path, ["a"])
    results = _results(tmp_path / "r.jsonl", [_line("a")])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MergeError, match=f"cannot write {out}"):
        merge(jobs, [results], out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.jsonl", "out", "r.jsonl"]
    assert not list(out.iterdir())


def test_a_running_shard_is_refused(tmp_path: Path) -> None:
    """A result file whose run lock is held is refused; a free lock file is fine, none is made."""
    jobs = _jobs(tmp_path, ["a"])
    results = _results(tmp_path / "r.jsonl", [_line("a")])
    other = _results(tmp_path / "s.jsonl", [])
    with RunLock(results), pytest.raises(MergeError, match="a run is still writing it"):
        merge(jobs, [results], tmp_path / "out.jsonl")
    assert merge(jobs, [results, other], tmp_path / "out.jsonl").complete
    assert not RunLock(other).path.exists()


def test_bad_usage_is_refused(tmp_path: Path) -> None:
    """A result file given twice, the output among the inputs, or no result file is an error."""
    jobs = _jobs(tmp_path, ["a"])
    results = _results(tmp_path / "r.jsonl", [_line("a")])
    with pytest.raises(MergeError, match="given twice"):
        merge(jobs, [results, tmp_path / "." / "r.jsonl"], tmp_path / "out.jsonl")
    with pytest.raises(MergeError, match="must not be one of the result files"):
        merge(jobs, [results], results)
    with pytest.raises(MergeError, match="at least one result file"):
        merge(jobs, [], tmp_path / "out.jsonl")
    with pytest.raises(MergeError, match="cannot read job file"):
        merge(tmp_path / "absent.jsonl", [results], tmp_path / "out.jsonl")


def test_absent_shard_files_are_named(tmp_path: Path) -> None:
    """When every file is named for a shard of N, the shards with no file given are listed."""
    ids = ["a", "b", "c", "d", "e", "f"]
    paths = _shard_files(tmp_path, ids, 3)
    report = merge(_jobs(tmp_path, ids), [paths[0], paths[2]], tmp_path / "out.jsonl")
    assert report.absent_shards == [Shard(1, 3)]
    assert "no result file given for shard 1/3" in report.render()
    assert {f.key for f in report.missing.items} == {i for i in ids if shard_of(i, 3) == 1}


def test_reported_findings_are_capped_counts_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap, findings are counted but not kept; the first ones are kept in job order."""
    monkeypatch.setattr(merge_module, "MAX_REPORTED", 3)
    jobs = _jobs(tmp_path, IDS)
    report = merge(jobs, [_results(tmp_path / "r.jsonl", [_line("job-5")])], tmp_path / "o")
    assert report.missing.count == len(IDS) - 1
    assert [f.key for f in report.missing.items] == ["job-0", "job-1", "job-2"]
    assert f"… and {len(IDS) - 4} more missing" in report.render()


def test_memory_does_not_hold_the_result_lines(tmp_path: Path) -> None:
    """Merging 4,000 jobs of 4 KB lines (16 MB) peaks below 4 MB: no line is held for long."""
    ids = [f"j{i}" for i in range(4_000)]
    jobs = _jobs(tmp_path, ids)
    padding = "x" * 4_000
    results = tmp_path / "r.jsonl"
    with results.open("wb") as f:
        for i in reversed(ids):
            f.write(_line(i, output={"text": padding}))
    tracemalloc.start()
    try:
        report = merge(jobs, [results], tmp_path / "out.jsonl")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.complete
    assert peak < 4_000_000, peak


def _cli(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.main, ["merge", *args], env=env, catch_exceptions=False)


def test_cli_complete_exits_0(tmp_path: Path) -> None:
    """A complete merge exits 0 and prints its summary on stderr."""
    jobs = _jobs(tmp_path, IDS)
    out = tmp_path / "out.jsonl"
    paths = [str(p) for p in _shard_files(tmp_path, IDS, 2)]
    result = _cli([str(jobs), *paths, "-o", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    assert f"merged {len(IDS)} of {len(IDS)} job(s)" in result.stderr
    assert out.read_bytes().count(b"\n") == len(IDS)


def test_cli_incomplete_exits_1_and_names_the_jobs(tmp_path: Path) -> None:
    """Missing and duplicated jobs exit 1, each named with its file and line; OUT is written."""
    jobs = _jobs(tmp_path, ["a", "b"])
    one = _results(tmp_path / "one.jsonl", [_line("a")])
    two = _results(tmp_path / "two.jsonl", [_line("a")])
    out = tmp_path / "out.jsonl"
    result = _cli([str(jobs), str(one), str(two), "-o", str(out)])
    assert result.exit_code == EXIT_FAILED
    assert f"{jobs}:2: job 'b' has no result line" in result.stderr
    assert f"{two}:1: job 'a' again" in result.stderr
    assert out.read_bytes() == _line("a")


def test_cli_output_from_the_environment(tmp_path: Path) -> None:
    """RTBATCH_MERGE_OUTPUT stands in for -o."""
    jobs = _jobs(tmp_path, ["a"])
    results = _results(tmp_path / "r.jsonl", [_line("a")])
    out = tmp_path / "env.jsonl"
    result = _cli([str(jobs), str(results)], env={"RTBATCH_MERGE_OUTPUT": str(out)})
    assert result.exit_code == EXIT_OK, result.output
    assert out.read_bytes() == _line("a")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["{jobs}", "{results}"], "Missing option '-o'"),
        (["{jobs}", "-o", "{out}"], "Missing argument 'RESULTS...'"),
        (["{jobs}", "{results}", "{results}", "-o", "{out}"], "given twice"),
        (["{jobs}", "{tmp}/absent.jsonl", "-o", "{out}"], "does not exist"),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    """Bad usage exits 2 with the reason on stderr, and writes nothing."""
    names = {
        "jobs": str(_jobs(tmp_path, ["a"])),
        "results": str(_results(tmp_path / "r.jsonl", [_line("a")])),
        "out": str(tmp_path / "out.jsonl"),
        "tmp": str(tmp_path),
    }
    result = _cli([arg.format(**names) for arg in args], env={"RTBATCH_MERGE_OUTPUT": ""})
    assert result.exit_code == EXIT_USAGE
    assert words in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
