"""rtbatch.output.checkpoint: finished segments and turns recorded beside the result file,
across crashes."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rtbatch.output.checkpoint import (
    COMPACT_MIN_DEAD_BYTES,
    Checkpoint,
    checkpoint_path,
    contiguous,
)
from rtbatch.output.transcript import SegmentRecord
from rtbatch.output.turns import TurnRecord, contiguous_turns

SECOND = 24_000  # samples


def seg(index: int, text: str = "", *, length_s: int = 10) -> SegmentRecord:
    """Segment ``index`` of equal ``length_s`` segments, from sample 0."""
    start = index * length_s * SECOND
    usage = {"type": "tokens", "input_tokens": index + 1}
    return SegmentRecord(index, start, start + length_s * SECOND, text or f"part {index}", usage)


def turn(index: int, text: str = "", key: str = "") -> TurnRecord:
    """Turn ``index`` of a conversation, its output entry as a line holds it."""
    output = {"turn": index + 1, "status": "completed", "text": text or f"answer {index}"}
    return TurnRecord(index, key or f"k{index}", output)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A result file's path (the file itself is not needed)."""
    return tmp_path / "out" / "results.jsonl"


def test_the_file_lies_beside_the_result_file(results: Path) -> None:
    """RESULTS.jsonl gets RESULTS.jsonl.segments in the same directory."""
    assert checkpoint_path(results) == results.parent / "results.jsonl.segments"


def test_recorded_segments_come_back_in_order(results: Path) -> None:
    """finished() gives the recorded segments in index order, whatever the recording order."""
    with Checkpoint.open(results) as checkpoint:
        for index in (1, 0, 2):
            checkpoint.record("a", seg(index))
        assert checkpoint.finished("a") == [seg(0), seg(1), seg(2)]
        assert checkpoint.finished("other") == []


def test_finished_is_the_contiguous_run_from_sample_zero(results: Path) -> None:
    """A missing index or a gap in samples ends what may be skipped."""
    with Checkpoint.open(results) as checkpoint:
        for index in (0, 1, 3):
            checkpoint.record("gap", seg(index))
        checkpoint.record("late", seg(1))  # no segment 0
        checkpoint.record("moved", seg(0))
        checkpoint.record("moved", SegmentRecord(1, 5 * SECOND * 10, 6 * SECOND * 10, "x"))
        assert checkpoint.finished("gap") == [seg(0), seg(1)]
        assert checkpoint.finished("late") == []
        assert checkpoint.finished("moved") == [seg(0)]


def test_no_file_until_the_first_record(results: Path) -> None:
    """Opening creates nothing; the first record creates the file."""
    checkpoint = Checkpoint.open(results)
    assert not checkpoint.path.exists()
    checkpoint.record("a", seg(0))
    assert checkpoint.path.exists()
    checkpoint.close()


def test_each_record_is_one_line_with_the_os_at_once(results: Path) -> None:
    """Every record is a whole JSON line in the file before record() returns."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("calls/a.mp3", seg(0, "héllo"))
        lines = checkpoint.path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith(b"\n")
    assert orjson.loads(lines[0]) == {
        "job": "calls/a.mp3",
        "index": 0,
        "start_sample": 0,
        "end_sample": 10 * SECOND,
        "text": "héllo",
        "usage": {"type": "tokens", "input_tokens": 1},
    }


def test_reopen_after_a_crash_keeps_what_was_recorded(results: Path) -> None:
    """Records survive the object being dropped without close (a kill), and reopen intact."""
    checkpoint = Checkpoint.open(results)
    for index in range(3):
        checkpoint.record("a", seg(index))
    checkpoint.record("b", seg(0))
    del checkpoint
    gc.collect()
    with Checkpoint.open(results) as again:
        assert again.finished("a") == [seg(0), seg(1), seg(2)]
        assert again.finished("b") == [seg(0)]
        assert again.pending() == ["a", "b"]
        assert again.dropped_lines == 0


def test_records_survive_kill_9(results: Path) -> None:
    """A process killed by SIGKILL right after recording leaves every record readable."""
    script = f"""
import os, signal
from pathlib import Path
from rtbatch.output.checkpoint import Checkpoint
from rtbatch.output.transcript import SegmentRecord
from rtbatch.output.turns import TurnRecord, contiguous_turns
checkpoint = Checkpoint.open(Path({str(results)!r}))
for index in range(3):
    checkpoint.record("a", SegmentRecord(index, index * 10, index * 10 + 10, f"t{{index}}"))
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == -9
    with Checkpoint.open(results) as checkpoint:
        assert [s.text for s in checkpoint.finished("a")] == ["t0", "t1", "t2"]


def test_a_torn_last_line_is_dropped_and_cut_off(results: Path) -> None:
    """A half-written last line is ignored, and truncated so the next line starts clean."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(0))
        checkpoint.record("a", seg(1))
    path = checkpoint_path(results)
    whole = path.stat().st_size
    with path.open("ab") as f:
        f.write(b'{"job": "a", "index": 2, "start_sam')
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.finished("a") == [seg(0), seg(1)]
        assert path.stat().st_size == whole
        checkpoint.record("a", seg(2))
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.finished("a") == [seg(0), seg(1), seg(2)]
        assert checkpoint.dropped_lines == 0


def test_damaged_whole_lines_are_skipped_and_counted(results: Path) -> None:
    """A complete line that is not a valid record is skipped; the others still count."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(0))
    path = checkpoint_path(results)
    with path.open("ab") as f:
        f.write(b"not json\n")
        f.write(b'{"job": "a", "index": 1, "start_sample": 5, "end_sample": 2, "text": "x"}\n')
        f.write(b'{"job": "a", "index": 1}\n')
        f.write(b"[1, 2]\n")
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(1))
        assert checkpoint.finished("a") == [seg(0), seg(1)]
        assert checkpoint.dropped_lines == 4


def test_forget_drops_a_job_durably(results: Path) -> None:
    """A forgotten job has no segments, now and after reopening; others are kept."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(0))
        checkpoint.record("b", seg(0))
        checkpoint.forget("a")
        checkpoint.forget("never-recorded")
        assert checkpoint.finished("a") == []
        assert checkpoint.pending() == ["b"]
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.pending() == ["b"]
        assert checkpoint.finished("b") == [seg(0)]


def test_forgetting_the_last_job_deletes_the_file(results: Path) -> None:
    """When nothing is left, the file is gone, and a later record starts a new one."""
    checkpoint = Checkpoint.open(results)
    checkpoint.record("a", seg(0))
    checkpoint.record("b", seg(0))
    checkpoint.forget("b")
    assert checkpoint.path.exists()
    checkpoint.forget("a")
    assert not checkpoint.path.exists()
    checkpoint.record("c", seg(0))
    checkpoint.close()
    with Checkpoint.open(results) as again:
        assert again.pending() == ["c"]


def test_opening_a_file_with_nothing_left_deletes_it(results: Path) -> None:
    """A file holding only forgotten jobs (or a torn line) is removed at open."""
    path = checkpoint_path(results)
    path.parent.mkdir(parents=True)
    line = orjson.dumps({"job": "a", "index": 0, "start_sample": 0, "end_sample": 1, "text": ""})
    path.write_bytes(line + b'\n{"job": "a", "forgotten": true}\n{"job": "b", "ind')
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.pending() == []
    assert not path.exists()


def test_a_job_recorded_again_after_forget_starts_afresh(results: Path) -> None:
    """A retried job's old segments stay forgotten; its new ones count."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(0, "old"))
        checkpoint.record("a", seg(1, "old"))
        checkpoint.record("keep", seg(0))
        checkpoint.forget("a")
        checkpoint.record("a", seg(0, "new"))
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.finished("a") == [seg(0, "new")]


def test_a_later_record_of_an_index_replaces_the_earlier(results: Path) -> None:
    """Recording the same segment twice keeps the last, in memory and on reopen."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(0, "first"))
        checkpoint.record("a", seg(0, "second"))
        assert checkpoint.finished("a") == [seg(0, "second")]
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.finished("a") == [seg(0, "second")]


def test_forgotten_bulk_is_compacted_away(results: Path) -> None:
    """Once forgotten jobs are most of the file and over the threshold, it is rewritten,
    the live jobs' segments and turns kept."""
    big = "x" * (COMPACT_MIN_DEAD_BYTES // 2 + 1)
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("big", seg(0, big))
        checkpoint.record("small", seg(0))
        checkpoint.record_turn("chat", turn(0))
        checkpoint.record_turn("big", turn(1, big))
        path = checkpoint.path
        assert path.stat().st_size > COMPACT_MIN_DEAD_BYTES
        checkpoint.forget("big")
        size = path.stat().st_size
        assert size < 1000
        kept = [orjson.loads(line)["job"] for line in path.read_bytes().splitlines()]
        assert kept == ["small", "chat"]
        checkpoint.record("small", seg(1))
        assert path.stat().st_size > size
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.pending() == ["chat", "small"]
        assert checkpoint.finished("small") == [seg(0), seg(1)]
        assert checkpoint.finished_turns("chat") == [turn(0)]


def test_a_small_forgotten_job_is_not_worth_compacting(results: Path) -> None:
    """Below the byte threshold a forget only appends its line."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record("a", seg(0))
        checkpoint.record("b", seg(0))
        checkpoint.forget("a")
        lines = checkpoint.path.read_bytes().splitlines()
    assert [orjson.loads(line).get("forgotten") for line in lines] == [None, None, True]


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        (SegmentRecord(-1, 0, 1, "x"), "index: expected an integer >= 0"),
        (SegmentRecord(0, 5, 4, "x"), "end_sample 4 is before start_sample 5"),
        (SegmentRecord(0, 0.5, 4, "x"), "start_sample: expected an integer"),
        (SegmentRecord(0, 0, 4, None), "text: expected a string"),
    ],
)
def test_bad_segments_are_refused(results: Path, segment: SegmentRecord, message: str) -> None:
    """A malformed segment is a ValueError naming the job and the field; nothing is written."""
    with Checkpoint.open(results) as checkpoint:
        with pytest.raises(ValueError, match=message) as caught:
            checkpoint.record("job-7", segment)
        assert "'job-7'" in str(caught.value)
        assert not checkpoint.path.exists()


def test_a_closed_checkpoint_refuses_records(results: Path) -> None:
    """record() after close() is a ValueError, not a silent loss."""
    checkpoint = Checkpoint.open(results)
    checkpoint.close()
    checkpoint.close()
    with pytest.raises(ValueError, match="closed"):
        checkpoint.record("a", seg(0))


def test_contiguous_is_the_run_from_sample_zero() -> None:
    """A gap in the indices or a segment that does not follow on ends the run."""
    assert contiguous({}) == []
    assert contiguous({1: seg(1)}) == []
    assert contiguous({0: seg(0), 1: seg(1), 3: seg(3)}) == [seg(0), seg(1)]
    moved = SegmentRecord(1, seg(1).start_sample + 1, seg(1).end_sample, "x")
    assert contiguous({0: seg(0), 1: moved, 2: seg(2)}) == [seg(0)]


def test_turns_come_back_after_a_crash_beside_segments(results: Path) -> None:
    """Turn lines survive a reopen, a torn last line and a forgotten job, as segment lines do."""
    with Checkpoint.open(results) as checkpoint:
        checkpoint.record_turn("chat", turn(1))
        checkpoint.record_turn("chat", turn(0))
        checkpoint.record("long", seg(0))
        checkpoint.record_turn("gone", turn(0))
        checkpoint.forget("gone")
        assert checkpoint.pending() == ["chat", "long"]
    path = checkpoint_path(results)
    with path.open("ab") as stream:
        stream.write(b'{"job": "chat", "turn": 2, "key": "k2", "output": {"te')  # a kill mid-write
    with Checkpoint.open(results) as checkpoint:
        assert checkpoint.finished_turns("chat") == [turn(0), turn(1)]
        assert checkpoint.finished("chat") == [] and checkpoint.finished_turns("long") == []
        assert checkpoint.finished_turns("gone") == []
        checkpoint.forget("chat")
        checkpoint.forget("long")
    assert not path.exists()


def test_a_turn_counts_only_in_its_place_and_for_its_own_question() -> None:
    """The run from turn 0 whose keys are the job's: a gap or a changed turn ends it."""
    records = {0: turn(0), 1: turn(1), 2: turn(2, key="edited"), 3: turn(3)}
    assert contiguous_turns(records, ["k0", "k1", "k2", "k3"]) == [turn(0), turn(1)]
    assert contiguous_turns({1: turn(1)}, ["k0", "k1"]) == []
    assert contiguous_turns(records, ["k0"]) == [turn(0)]
