"""The word error rate of one transcript, the normaliser, and the corpus ratio."""

from __future__ import annotations

import pytest

from rtbatch.evals.wer import WerTotals, normalise, word_errors


def test_an_exact_reference_scores_zero() -> None:
    """The same words, whatever the case and punctuation, are all hits."""
    found = word_errors("Hello, World! It's 3.5 degrees.", "hello world its 3.5 degrees")
    assert found.wer == 0.0
    assert found.to_dict() == {
        "wer": 0.0,
        "substitutions": 0,
        "deletions": 0,
        "insertions": 0,
        "hits": 5,
        "reference_words": 5,
    }


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Don't STOP", "dont stop"),
        ("well-known, co_op", "well known co op"),
        ("1,000 people; 3.5 km. End.", "1,000 people 3.5 km end"),
        ("  tabs\tand\nlines  ", "tabs and lines"),
        ("Straße", "strasse"),
        ("ｆｕｌｌ ｗｉｄｔｈ", "full width"),
        ("three 3", "three 3"),
        ("café", "café"),
    ],
)
def test_the_normaliser_follows_its_rule(text: str, normalised: str) -> None:
    """Case folded, apostrophes dropped, punctuation spaced, numbers kept as written."""
    assert normalise(text) == normalised


def test_known_substitutions_deletions_and_insertions() -> None:
    """Each kind of error is counted where it happened."""
    reference = "the quick brown fox jumps over the lazy dog"
    # brown -> red (substitution), "over" missing (deletion), "today" added (insertion)
    hypothesis = "the quick red fox jumps the lazy dog today"
    found = word_errors(reference, hypothesis)
    assert (found.substitutions, found.deletions, found.insertions) == (1, 1, 1)
    assert found.hits == 7
    assert found.reference_words == 9
    assert found.wer == pytest.approx(3 / 9)


def test_a_number_spelt_differently_is_a_substitution() -> None:
    """Numbers stay as written: the normaliser does not guess a spelling."""
    found = word_errors("three cats", "3 cats")
    assert (found.substitutions, found.hits) == (1, 1)


def test_an_empty_transcript_deletes_every_word() -> None:
    """Nothing heard: every reference word is a deletion, WER 1."""
    found = word_errors("one two three", "")
    assert (found.deletions, found.wer) == (3, 1.0)


def test_insertions_can_take_the_rate_past_one() -> None:
    """More errors than reference words is a WER above 1, as the definition says."""
    assert word_errors("yes", "no no no").wer == 3.0


def test_a_reference_without_words_is_refused() -> None:
    """Nothing to divide by: a ValueError (the job reader refuses such a reference first)."""
    with pytest.raises(ValueError, match="no words"):
        word_errors("?!", "anything")


def test_corpus_wer_is_the_ratio_of_sums() -> None:
    """Total errors over total reference words: a long transcript weighs by its words."""
    scores = [
        word_errors("a b c d e f g h i j", "a b c d e f g h i j"),  # 0 of 10
        word_errors("one two", "one too"),  # 1 of 2
        word_errors("x y z", "x"),  # 2 of 3
    ]
    totals = WerTotals()
    for score in scores:
        totals.add(score.to_dict())
    totals.add(None)  # a job with a reference that failed
    assert totals.wer == pytest.approx(3 / 15)
    assert totals.wer != pytest.approx(sum(s.wer for s in scores) / 3)  # not a mean of rates
    summary = totals.to_dict()
    assert summary["corpus_wer"] == pytest.approx(0.2)
    assert (summary["jobs"], summary["unscored_jobs"], summary["reference_words"]) == (3, 1, 15)
    assert totals.render() == (
        "word error rate: 20.00% over 3 transcript(s), 15 reference words "
        "(1 substituted, 2 deleted, 0 inserted); 1 job(s) with a reference had no transcript"
    )


def test_no_reference_no_line() -> None:
    """A run without references says nothing of WER on stderr, and null in the JSON."""
    totals = WerTotals()
    assert totals.render() is None
    assert totals.to_dict()["corpus_wer"] is None


def test_a_line_is_scored_on_the_transcript_it_has() -> None:
    """Completed or incomplete, the transcript there is scored; none, or no reference: None."""
    from pathlib import Path

    from rtbatch.jobs import Job
    from rtbatch.run.lines import scored

    job = Job(id="j", line=1, kind="transcribe", audio=Path("a.wav"), reference="one two three")
    partial = {"transcript": "one two", "reason": "segment_failed"}
    assert scored(job, partial) == word_errors("one two three", "one two").to_dict()
    assert scored(job, None) is None
    assert scored(Job(id="k", line=2, kind="transcribe", audio=Path("a.wav")), partial) is None
