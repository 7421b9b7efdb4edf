"""The evaluator of checks (rtbatch/evals/checks.py): examples at the edges, then properties.

The properties build texts from their parts (words joined by whitespace runs, a
needle put between two strings), so the answer they are checked against is known
by construction, not recomputed the evaluator's way.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtbatch.evals.checks import Answer, all_passed, answer_of, evaluate, not_run
from rtbatch.jobs import model as m


def _verdict(check: m.Check, answer: Answer) -> bool | None:
    (result,) = evaluate([check], answer)
    assert result["check"] == check.name
    return result["passed"]


def test_the_text_is_the_answer_s_text_else_its_transcript() -> None:
    """output.text first; an audio answer or a transcription is checked by its transcript."""
    assert answer_of({"text": "hi", "transcript": "ho"}, None, None, None).text == "hi"
    assert answer_of({"text": None, "transcript": "spoken"}, None, None, None).text == "spoken"
    assert answer_of({"transcript": "heard", "segments": []}, None, None, None).text == "heard"
    assert answer_of(None, None, None, None).text == ""


def test_the_total_latency_joins_the_stages() -> None:
    """latency_ms is the stage ``total``; stages not reached stay absent."""
    answer = answer_of({"text": "x"}, {"created": 3, "done": 9}, 12, 0.5)
    assert answer.latency == {"created": 3, "done": 9, "total": 12}
    assert answer.cost_usd == 0.5
    assert _verdict(m.MaxLatency("first_text", 10_000), answer) is False
    (result,) = evaluate([m.MaxLatency("first_text", 1)], answer)
    assert result["detail"] == "first_text not reached"


def test_case_is_kept_unless_ignored() -> None:
    """contains is exact; ignore_case folds both sides (ß and SS match)."""
    answer = Answer(text="Straße nach PARIS")
    assert _verdict(m.Contains("paris"), answer) is False
    assert _verdict(m.Contains("paris", ignore_case=True), answer) is True
    assert _verdict(m.Contains("STRASSE", ignore_case=True), answer) is True
    assert _verdict(m.NotContains("paris"), answer) is True
    assert _verdict(m.NotContains("paris", ignore_case=True), answer) is False


def test_regex_searches_anywhere() -> None:
    """re.search: unanchored unless the pattern anchors itself."""
    answer = Answer(text="The capital is Paris.")
    assert _verdict(m.Regex(re.compile("Paris")), answer) is True
    assert _verdict(m.Regex(re.compile("^Paris")), answer) is False
    (result,) = evaluate([m.Regex(re.compile(r"\w+\.$"))], answer)
    assert result["detail"] == "/\\w+\\.$/ matched 'Paris.'"


CALLS: list[dict[str, Any]] = [
    {"name": "get_weather", "arguments": {"city": "Paris", "unit": {"c": True}}, "round": 1},
    {"name": "get_time", "arguments": "not json", "round": 2},
]


@pytest.mark.parametrize(
    ("check", "passes"),
    [
        (m.ToolCalled("get_weather"), True),
        (m.ToolCalled("get_weather", {"city": "Paris"}), True),
        (m.ToolCalled("get_weather", {"unit": {"c": True}}), True),
        (m.ToolCalled("get_weather", {"unit": {"c": 1}}), False),  # true is never 1
        (m.ToolCalled("get_weather", {"city": "Lyon"}), False),
        (m.ToolCalled("get_weather", {"country": "FR"}), False),
        (m.ToolCalled("get_time"), True),
        (m.ToolCalled("get_time", {"x": 1}), False),  # arguments that were not JSON match nothing
        (m.ToolCalled("lookup_order"), False),
        (m.NoToolCall(), False),
        (m.NoToolCall("get_time"), False),
        (m.NoToolCall("lookup_order"), True),
    ],
)
def test_tool_checks_match_as_tool_outputs_do(check: m.Check, passes: bool) -> None:
    """A call's arguments match as a subset, recursively, JSON-equal (the tool_outputs rule)."""
    assert _verdict(check, Answer(tool_calls=CALLS)) is passes


def test_no_call_at_all() -> None:
    """Without calls, no_tool_call passes and tool_called says none were made."""
    assert _verdict(m.NoToolCall(), Answer()) is True
    (result,) = evaluate([m.ToolCalled("get_time")], Answer())
    assert result == {
        "check": "tool_called",
        "passed": False,
        "detail": "get_time not called (calls: none)",
    }


def test_an_unknown_cost_fails_its_bound() -> None:
    """A line without a price cannot be shown to be under the bound."""
    assert _verdict(m.MaxCost(1.0), Answer(cost_usd=None)) is False
    assert _verdict(m.MaxCost(0.001), Answer(cost_usd=0.001)) is True
    assert _verdict(m.MaxCost(0.001), Answer(cost_usd=0.0010001)) is False


def test_not_run_and_the_verdict() -> None:
    """Checks not run are null, and a line passes only when every check ran and passed."""
    results = not_run([m.Contains("a"), m.MaxWords(3)], "the job failed")
    assert [r["passed"] for r in results] == [None, None]
    assert all_passed(results) is False
    assert all_passed(evaluate([m.Contains("a"), m.MaxWords(3)], Answer(text="a b"))) is True
    assert all_passed(evaluate([m.Contains("a"), m.MaxWords(1)], Answer(text="a b"))) is False


# --- properties -----------------------------------------------------------------------------

_WORD = st.text(st.characters(blacklist_categories=["Zs", "Zl", "Zp", "Cc"]), min_size=1)
_SPACE = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", " \r\n "])


@st.composite
def _spaced(draw: st.DrawFn) -> tuple[str, int]:
    """A text of known word count: words with no whitespace, joined by whitespace runs."""
    words = draw(st.lists(_WORD, max_size=12))
    words = [w for w in words if not any(c.isspace() for c in w)]
    gaps = [draw(_SPACE) for _ in range(len(words) + 1)]
    lead = gaps[0] if draw(st.booleans()) else ""
    text = lead + "".join(w + g for w, g in zip(words, gaps[1:], strict=True))
    return text, len(words)


@given(_spaced(), st.integers(-2, 2))
def test_word_bounds_hold_at_the_count_and_fail_beside_it(
    spaced: tuple[str, int], offset: int
) -> None:
    """min_words n passes iff n <= words; max_words n iff n >= words, whatever the whitespace."""
    text, count = spaced
    low, high = max(count + offset, 1), max(count + offset, 0)
    answer = Answer(text=text)
    assert _verdict(m.MinWords(low), answer) is (low <= count)
    assert _verdict(m.MaxWords(high), answer) is (high >= count)


@given(st.text(), st.text(min_size=1), st.text(), st.booleans())
def test_a_needle_put_in_a_text_is_found(
    before: str, needle: str, after: str, ignore_case: bool
) -> None:
    """contains passes and not_contains fails for a needle the text was built around."""
    answer = Answer(text=before + needle + after)
    assert _verdict(m.Contains(needle, ignore_case), answer) is True
    assert _verdict(m.NotContains(needle, ignore_case), answer) is False


@given(st.text(), st.text(min_size=1), st.booleans())
def test_contains_and_not_contains_are_opposites(text: str, needle: str, ignore_case: bool) -> None:
    """For any text and needle, exactly one of the pair passes."""
    answer = Answer(text=text)
    assert _verdict(m.Contains(needle, ignore_case), answer) is not _verdict(
        m.NotContains(needle, ignore_case), answer
    )


@given(st.text(alphabet="abc", min_size=1), st.text(alphabet="abc"))
def test_a_needle_with_a_letter_the_text_lacks_is_absent(needle: str, text: str) -> None:
    """A needle with a letter the text lacks is never contained (case kept)."""
    answer = Answer(text=text.replace("c", ""))
    if "c" in needle:
        assert _verdict(m.Contains(needle), answer) is False


@given(st.integers(0, 10_000), st.integers(-2, 2), st.sampled_from(["created", "done", "total"]))
def test_a_latency_bound_passes_at_its_value(value: int, offset: int, stage: str) -> None:
    """max_latency_ms v passes v and more, fails below: the boundary belongs to the bound."""
    bound = max(value + offset, 0)
    answer = Answer(latency={stage: value})
    assert _verdict(m.MaxLatency(stage, bound), answer) is (value <= bound)
