"""A transcribe job's ``reference`` field: its two shapes and every way it is refused;
and ``rtbatch transcribe --references``, which names the text file beside each audio file.

The command runs as ``python -m rtbatch transcribe`` in a subprocess against the
emulator in the test's nursery (loopback, port 0), so its files and exit code are real.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from rtbatch.audio.discover import AudioInput, job_lines
from rtbatch.commands import TRANSCRIBE_RESULTS
from rtbatch.defaults import MAX_REFERENCE_BYTES
from rtbatch.emulator.replies import transcript_words
from rtbatch.exitcodes import EXIT_OK
from rtbatch.jobs import Job, JobProblem, read_jobs
from tests.audio.samples import write_wav
from tests.harness import by_id, read_results, start_emulator

AUDIO = {"audio": "a.wav", "task": "transcribe"}


def _read(tmp_path: Path, job: dict[str, Any]) -> Job | JobProblem:
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(orjson.dumps({"id": "j", **job}) + b"\n")
    (item,) = read_jobs(path)
    return item


def test_text_and_path_references(tmp_path: Path) -> None:
    """A string is the text; a path is read relative to the job file's folder, UTF-8."""
    item = _read(tmp_path, {**AUDIO, "reference": "Hello there."})
    assert isinstance(item, Job) and item.reference == "Hello there."
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "a.txt").write_bytes("\ufeffGrüße aus Köln\n".encode())
    item = _read(tmp_path, {**AUDIO, "reference": {"path": "refs/a.txt"}})
    assert isinstance(item, Job) and item.reference == "Grüße aus Köln\n"


@pytest.mark.parametrize(
    ("job", "field", "message"),
    [
        ({"prompt": "hi", "reference": "x"}, "reference", "only for audio jobs with task"),
        (
            {"audio": "a.wav", "task": "respond", "reference": "x"},
            "reference",
            "only for audio jobs with task transcribe",
        ),
        ({**AUDIO, "reference": ""}, "reference", "expected a non-empty string, or"),
        ({**AUDIO, "reference": 3}, "reference", "got 3 (integer)"),
        ({**AUDIO, "reference": "?!"}, "reference", "has no words"),
        ({**AUDIO, "reference": {}}, "reference.path", "required"),
        ({**AUDIO, "reference": {"file": "x"}}, "reference.file", "unknown field"),
        ({**AUDIO, "reference": {"path": ""}}, "reference.path", "non-empty string"),
        ({**AUDIO, "reference": {"path": "missing.txt"}}, "reference.path", "file not found"),
        ({**AUDIO, "reference": {"path": "."}}, "reference.path", "not a regular file"),
        ({**AUDIO, "reference": {"path": "latin1.txt"}}, "reference.path", "not UTF-8 text"),
        ({**AUDIO, "reference": {"path": "big.txt"}}, "reference.path", "longer than 4 MiB"),
        ({**AUDIO, "reference": {"path": "dots.txt"}}, "reference.path", "has no words"),
    ],
)
def test_bad_references_name_line_and_field(
    tmp_path: Path, job: dict[str, Any], field: str, message: str
) -> None:
    """Each problem is the line's, with the field's path and what was wrong."""
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "big.txt").write_bytes(b"a " * (MAX_REFERENCE_BYTES // 2 + 1))
    (tmp_path / "dots.txt").write_text("... !!!\n")
    item = _read(tmp_path, job)
    assert isinstance(item, JobProblem), item
    assert (item.line, item.field) == (1, field)
    assert message in item.message, item.message
    assert str(item).startswith(f"{tmp_path / 'jobs.jsonl'}:1: {field}: ")


def test_sidecars_become_references(tmp_path: Path) -> None:
    """With references on, a file with a .txt beside it names it; one without has none."""
    (tmp_path / "a.txt").write_text("words")
    items = [AudioInput("a.wav", tmp_path / "a.wav"), AudioInput("b.wav", tmp_path / "b.wav")]
    with_refs = list(job_lines(items, references=True))
    assert with_refs[0]["reference"] == {"path": str(tmp_path / "a.txt")}
    assert "reference" not in with_refs[1]
    assert all("reference" not in line for line in job_lines(items))


async def test_transcribe_references_end_to_end(nursery: trio.Nursery, tmp_path: Path) -> None:
    """``transcribe --references``: the sidecar's file is scored, the other is not."""
    h = await start_emulator(nursery, tmp_path)
    root, out = tmp_path / "calls", tmp_path / "out"
    root.mkdir()
    samples = 24_000 * 4
    for name in ("a", "b"):
        write_wav(root / f"{name}.wav", samples, 24_000)
    (root / "a.txt").write_text(" ".join(transcript_words(samples)) + " extra\n")
    args = [sys.executable, "-m", "rtbatch", "transcribe", str(root), "-o", str(out)]
    args += ["--url", h.emulator.url, "--references", "--model", "gpt-4o-transcribe"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTBATCH_")}
    env["OPENAI_API_KEY"] = "sk-test-references"
    done = await trio.run_process(args, env=env, capture_stderr=True, check=False)
    stderr = done.stderr.decode()
    assert done.returncode == EXIT_OK, stderr
    results = by_id(read_results(out / TRANSCRIBE_RESULTS))
    words = len(transcript_words(samples)) + 1
    assert results["a.wav"]["wer"]["deletions"] == 1
    assert results["a.wav"]["wer"]["reference_words"] == words
    assert "wer" not in results["b.wav"]
    assert f"word error rate: {1 / words:.2%} over 1 transcript(s)" in stderr
