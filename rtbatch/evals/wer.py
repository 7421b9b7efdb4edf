"""Word error rate: a transcript scored against its reference, and a run's corpus WER.

Both texts are normalised by one rule before they are compared (:func:`normalise`):

1. Unicode NFKC, then case folded (``"Straße"`` and ``"STRASSE"`` match);
2. apostrophes are removed, so ``"don't"`` and ``"dont"`` are one word;
3. a ``.`` or ``,`` between two digits stays (``"3.5"``, ``"1,000"``);
4. every other character that is not a letter, a digit or a combining mark
   (punctuation, symbols, hyphens, underscores) becomes a space;
5. words are what the spaces separate.

Numbers stay as they are written: ``"3"`` against ``"three"`` is a substitution,
because a batch cannot know which spelling the reference meant.

The alignment is jiwer's (a minimum edit distance over words): ``hits``,
``substitutions``, ``deletions`` (reference words the transcript lacks) and
``insertions`` (transcript words the reference lacks); the job's ``wer`` is
``(substitutions + deletions + insertions) / reference_words``, so it exceeds 1
when the transcript adds more than the reference has. The corpus WER is the total
errors over the total reference words of every scored job: a long recording weighs
by its words, not as one job.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

#: Apostrophes in their common spellings: removed, not spaced.
_APOSTROPHES = re.compile("['\u2019\u02bc\u2018]")
#: A decimal or thousands separator between digits: kept.
_NUMBER_JOIN = re.compile(r"(?<=\d)[.,](?=\d)")
_KEPT_CATEGORIES = ("L", "N", "M")


def normalise(text: str) -> str:
    """The text as it is compared: the module's rule, words joined by single spaces."""
    text = _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold())
    out: list[str] = []
    joins = {m.start() for m in _NUMBER_JOIN.finditer(text)}
    for index, char in enumerate(text):
        if index in joins or unicodedata.category(char)[0] in _KEPT_CATEGORIES:
            out.append(char)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def words_of(text: str) -> int:
    """How many words the text has once normalised (0: nothing to score against)."""
    return len(normalise(text).split())


@dataclass(frozen=True, slots=True)
class WordErrors:
    """One transcript's errors against its reference, in words."""

    substitutions: int
    deletions: int
    insertions: int
    hits: int

    @property
    def reference_words(self) -> int:
        """Words of the normalised reference: every one is a hit, a substitution or deleted."""
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        """Substitutions, deletions and insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors over reference words."""
        return self.errors / self.reference_words

    def to_dict(self) -> dict[str, Any]:
        """The ``wer`` object of a result line."""
        return {
            "wer": round(self.wer, 6),
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "hits": self.hits,
            "reference_words": self.reference_words,
        }


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Score a transcript (``hypothesis``) against its reference, both normalised.

    Raises:
        ValueError: the reference has no words once normalised (the job reader
            refuses such a reference, so a run never gets here with one).
    """
    import jiwer  # imported on first use: it is only needed by runs with references

    ref = normalise(reference)
    if not ref:
        raise ValueError("the reference has no words once normalised")
    found = jiwer.process_words(ref, normalise(hypothesis))
    return WordErrors(
        substitutions=found.substitutions,
        deletions=found.deletions,
        insertions=found.insertions,
        hits=found.hits,
    )


_COUNTS = ("substitutions", "deletions", "insertions", "hits", "reference_words")


@dataclass(slots=True)
class WerTotals:
    """The corpus WER of a run's lines: their errors and reference words summed.

    ``unscored`` counts jobs that had a reference and no transcript to score
    (they failed): they are not in the ratio, and the summary says how many.
    """

    jobs: int = 0
    unscored: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0
    reference_words: int = 0

    def add(self, line_wer: object) -> None:
        """Add a result line's ``wer`` (its object, or None for a job without a transcript)."""
        if not isinstance(line_wer, dict):
            self.unscored += 1
            return
        counts = [line_wer.get(name) for name in _COUNTS]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            self.unscored += 1  # not a line rtbatch wrote: nothing to add up
            return
        self.jobs += 1
        for name, value in zip(_COUNTS, counts, strict=True):
            setattr(self, name, getattr(self, name) + value)

    @property
    def errors(self) -> int:
        """Substitutions, deletions and insertions of every scored job."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float | None:
        """Total errors over total reference words; None when nothing was scored."""
        return self.errors / self.reference_words if self.reference_words else None

    def to_dict(self) -> dict[str, Any]:
        """The ``wer`` object of the ``--summary`` JSON."""
        wer = self.wer
        return {
            "corpus_wer": None if wer is None else round(wer, 6),
            "jobs": self.jobs,
            "unscored_jobs": self.unscored,
            **{name: getattr(self, name) for name in _COUNTS},
        }

    def render(self) -> str | None:
        """One line for stderr, or None when no job had a reference."""
        if not self.jobs and not self.unscored:
            return None
        wer = self.wer
        figure = "n/a" if wer is None else f"{wer:.2%}"
        line = (
            f"word error rate: {figure} over {self.jobs} transcript(s), {self.reference_words} "
            f"reference words ({self.substitutions} substituted, {self.deletions} deleted, "
            f"{self.insertions} inserted)"
        )
        if self.unscored:
            line += f"; {self.unscored} job(s) with a reference had no transcript"
        return line
