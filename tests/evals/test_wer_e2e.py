"""WER end to end: transcribe jobs with references, through the emulator over loopback.

The emulator's transcript is known in advance: it states the exact number of
24 kHz samples it received, then grows by hash-picked words
(:func:`rtbatch.emulator.replies.transcript_words`), so a 24 kHz WAV of N samples
has a transcript the test can write down, and edit into known errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from rtbatch.emulator.replies import transcript_words
from rtbatch.exitcodes import EXIT_FAILED
from tests.audio.samples import write_wav
from tests.harness import by_id, start_emulator, write_jobs

SAMPLES = 24_000 * 8  # eight seconds: the statement and fifteen more words
MODEL = {"model": "gpt-4o-transcribe"}


def _edited(words: list[str]) -> str:
    """The transcript's words with one substituted, one dropped and one added, far apart."""
    edited = list(words)
    edited[1] = "TRANSLATION"  # "transcript" -> a substitution
    del edited[8]  # a word the reference lacks: an insertion in the transcript
    edited.append("goodbye")  # a reference word never heard: a deletion
    return " ".join(edited)


async def test_references_score_the_emulated_transcripts(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Exact gives 0, edits give their counts, a failed job is unscored, the corpus adds up."""
    h = await start_emulator(nursery, tmp_path)
    write_wav(tmp_path / "clip.wav", SAMPLES, 24_000)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    words = transcript_words(SAMPLES)
    assert len(words) == 20
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "edited.txt").write_text(_edited(words) + "\n", encoding="utf-8")
    base = {"audio": "clip.wav", "task": "transcribe", "transcription": MODEL}
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "exact", **base, "reference": " ".join(words)},
            {"id": "edited", **base, "reference": {"path": "refs/edited.txt"}},
            {"id": "plain", **base},
            {"id": "broken", **base, "audio": "bad.wav", "reference": "some words"},
        ],
    )
    report, results = await h.run(jobs, concurrency=2)
    assert report.exit_code == EXIT_FAILED  # the broken file, only
    got = by_id(results)
    assert got["exact"]["wer"] == {
        "wer": 0.0,
        "substitutions": 0,
        "deletions": 0,
        "insertions": 0,
        "hits": 20,
        "reference_words": 20,
    }
    edited = got["edited"]["wer"]
    assert (edited["substitutions"], edited["deletions"], edited["insertions"]) == (1, 1, 1)
    assert (edited["hits"], edited["reference_words"]) == (18, 20)
    assert edited["wer"] == pytest.approx(3 / 20)
    assert "wer" not in got["plain"]  # no reference, no field
    assert got["broken"]["status"] == "failed"
    assert got["broken"]["wer"] is None
    assert got["exact"]["status"] == got["edited"]["status"] == "completed"
    corpus = report.summary.to_dict()["wer"]
    assert corpus == {
        "corpus_wer": pytest.approx(3 / 40),
        "jobs": 2,
        "unscored_jobs": 1,
        "substitutions": 1,
        "deletions": 1,
        "insertions": 1,
        "hits": 38,
        "reference_words": 40,
    }
    assert "word error rate: 7.50% over 2 transcript(s)" in report.summary.render()
