"""conversation.py: a finished turn's answer as the items later turns read (pure)."""

from __future__ import annotations

from rtbatch.conversation import answer_items
from rtbatch.tool_rounds import INVALID_ARGUMENTS_NOTE


def test_an_answer_replays_its_answered_calls_then_its_text() -> None:
    """Each answered call and its output in order, unanswered ones left out, then the text."""
    output = {
        "text": "It is raining.",
        "tool_calls": [
            {"name": "f", "arguments": {"city": "Paris"}, "call_id": "c1", "output": {"t": 18}},
            {
                "name": "f",
                "arguments": "{city: Paris",
                "call_id": "c2",
                "output": {"error": {"type": "invalid_arguments"}},
                "error": f"{INVALID_ARGUMENTS_NOTE}: unexpected character",
            },
            {"name": "f", "arguments": {}, "call_id": "c3", "output": None},
        ],
    }
    items = answer_items("ga", output)
    assert items == [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": '{"t":18}'},
        {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{city: Paris"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": '{"error":{"type":"invalid_arguments"}}',
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "It is raining."}],
        },
    ]


def test_a_spoken_answer_is_replayed_as_its_transcript_in_the_dialect_s_spelling() -> None:
    """No text: the transcript is the assistant message (beta spells the part ``text``)."""
    (item,) = answer_items("beta", {"text": None, "transcript": "Hello there."})
    assert item["content"] == [{"type": "text", "text": "Hello there."}]
    assert answer_items("ga", {"text": None, "status": "incomplete"}) == []
