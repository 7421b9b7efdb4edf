"""events.py: server frames decode into checked structures; bad ones name type and field only."""

from __future__ import annotations

import pytest

from rtbatch.events import AudioDelta, Event, MalformedEvent, ResponseDone, decode

DONE = '{"type":"response.done","event_id":"e1","response":{"status":"completed","output":[]}}'


@pytest.mark.parametrize(
    "frame",
    [
        DONE,
        DONE.encode(),  # a binary frame skips the opening shortcut
        '{"event_id":"e1","type":"response.done","response":{"status":"completed"}}',
        '{ "type" : "response.done", "response": {"status": "completed"}}',
    ],
)
def test_a_frame_decodes_alike_whatever_its_key_order(frame: str | bytes) -> None:
    """The opening is a shortcut only: any key order or spacing decodes to the same type."""
    event = decode(frame)
    assert isinstance(event, ResponseDone)
    assert event.response.status == "completed"


def test_a_type_rtbatch_does_not_read_is_its_envelope() -> None:
    """Unread types keep their envelope (for duplicate detection) and nothing else."""
    event = decode('{"type":"response.created","event_id":"e9","response":7}')
    assert type(event) is Event
    assert (event.type, event.event_id) == ("response.created", "e9")


def test_beta_names_decode_as_their_ga_structures() -> None:
    """A beta frame named in its opening decodes into the GA name's structure."""
    names = {"response.audio.delta": "response.output_audio.delta"}
    event = decode('{"type":"response.audio.delta","delta":"AAA="}', names)
    assert isinstance(event, AudioDelta)
    assert event.type == "response.output_audio.delta"


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ('{"type":"response.done","response":{"status":"completed"', "response.done"),
        ('{"type":"input_audio_buffer.committed"}', "item_id"),
        ('{"type":"input_audio_buffer.committed","item_id":""}', "item_id"),
        ('{"type":"response.done","response":{"status":"sk-secret-value"}}', "status"),
        (
            '{"type":"response.done","response":{"status":"completed","usage":{"total_tokens":"sk-x"}}}',
            "total_tokens",
        ),
        ('{"type":7}', "not a server event"),
        ("not json", "not a server event"),
    ],
)
def test_a_malformed_frame_names_its_field_never_its_values(frame: str, says: str) -> None:
    """Truncated, missing, empty, wrong-typed: MalformedEvent naming the field, no payload."""
    with pytest.raises(MalformedEvent, match=says) as caught:
        decode(frame)
    assert "sk-" not in str(caught.value)
