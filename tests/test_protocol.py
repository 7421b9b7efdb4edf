"""protocol.py: the client events we send match the SDK contract, in both dialects."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from rtbatch import protocol
from rtbatch.events import MalformedEvent, Response, decode
from rtbatch.jobs import Job, Message, ResponseOptions
from tests.contract import assert_conforms, assert_ga_response_with_references, client_adapter


def _response_create(
    dialect: str,
    job: Job,
    *,
    default_instructions: str | None = None,
    audio_item_id: str | None = None,
) -> protocol.Event:
    """A job's response.create, its values taken from the job as the session takes them."""
    turns = (
        [(m.role, m.content) for m in job.messages]
        if job.messages
        else [("user", job.prompt or "")]
    )
    return protocol.response_create(
        dialect,  # type: ignore[arg-type]
        job_id=job.id,
        event_id="e",
        turns=turns,
        audio_item_id=audio_item_id,
        instructions=job.instructions if job.instructions is not None else default_instructions,
        options=job.options,
    )


DIALECTS = ["ga", "beta"]

PROMPT_JOB = Job(id="j1", line=1, kind="text", prompt="What is 2+2?", metadata={"k": 1})
MESSAGES_JOB = Job(
    id="j2",
    line=2,
    kind="text",
    messages=(
        Message("system", "Be brief."),
        Message("user", "Hi"),
        Message("assistant", "Hello."),
        Message("user", "Name a colour."),
    ),
    instructions="Answer in one word.",
    options=ResponseOptions(max_output_tokens=64, output_modalities=("audio",), voice="alloy"),
)
AUDIO_JOB = Job(id="a1", line=3, kind="respond", audio=Path("x.wav"))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("job", [PROMPT_JOB, MESSAGES_JOB], ids=["prompt", "messages"])
def test_response_create_conforms(dialect: str, job: Job) -> None:
    """A text job's response.create is a valid client event of the dialect, out of band."""
    event = _response_create(dialect, job, default_instructions="Default.")
    assert_conforms(client_adapter(dialect), event)
    response = event["response"]
    assert response["conversation"] == "none"
    assert response["metadata"] == {"job_id": job.id}
    assert response["instructions"] == (job.instructions or "Default.")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_audio_response_references_committed_item(dialect: str) -> None:
    """An audio answer refers to the committed item and nothing else."""
    event = _response_create(dialect, AUDIO_JOB, audio_item_id="item_1")
    if dialect == "ga":
        assert_ga_response_with_references(event)
    else:
        assert_conforms(client_adapter(dialect), event)
    assert event["response"]["input"] == [{"type": "item_reference", "id": "item_1"}]


def test_options_use_each_dialects_names() -> None:
    """Token cap, modalities and voice are spelt the way each dialect spells them."""
    ga = _response_create("ga", MESSAGES_JOB)
    beta = _response_create("beta", MESSAGES_JOB)
    assert ga["response"]["max_output_tokens"] == 64
    assert ga["response"]["output_modalities"] == ["audio"]
    assert ga["response"]["audio"] == {"output": {"voice": "alloy"}}
    assert beta["response"]["max_response_output_tokens"] == 64
    assert beta["response"]["modalities"] == ["audio", "text"]
    assert beta["response"]["voice"] == "alloy"
    assert ga["response"]["input"][2]["content"][0]["type"] == "output_text"
    assert beta["response"]["input"][2]["content"][0]["type"] == "text"


def test_temperature_travels_in_beta_only() -> None:
    """GA has no temperature field (job validation refuses it there); beta sends it."""
    job = Job(id="t", line=9, kind="text", prompt="x", options=ResponseOptions(temperature=0.7))
    ga = _response_create("ga", job)
    assert "temperature" not in ga["response"]
    beta = _response_create("beta", job)
    assert beta["response"]["temperature"] == 0.7
    assert_conforms(client_adapter("beta"), beta)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", ["realtime", "transcription"])
@pytest.mark.parametrize("fmt", ["pcm16", "g711_ulaw", "g711_alaw"])
def test_session_update_conforms(dialect: str, kind: str, fmt: str) -> None:
    """Session configuration turns VAD off and is valid in both dialects and session kinds."""
    settings = protocol.transcription_settings("whisper-1", "en", None)
    event = protocol.session_update(dialect, kind, audio_format=fmt, transcription=settings)  # type: ignore[arg-type]
    if dialect == "beta" and kind == "transcription":
        # The beta union lacks transcription_session.update; check its own model.
        from openai.types.beta.realtime import TranscriptionSessionUpdate

        assert_conforms(__import__("pydantic").TypeAdapter(TranscriptionSessionUpdate), event)
        assert event["session"]["turn_detection"] is None
        return
    assert_conforms(client_adapter(dialect), event)
    session = event["session"]
    vad = (
        session["turn_detection"]
        if dialect == "beta"
        else session["audio"]["input"]["turn_detection"]
    )
    assert vad is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_buffer_and_item_events_conform(dialect: str) -> None:
    """Append, commit and delete are valid client events."""
    import orjson

    adapter = client_adapter(dialect)
    append = orjson.loads(protocol.append_frame(b"\x01\x00" * 2400))
    assert_conforms(adapter, append)
    assert_conforms(adapter, protocol.commit_event("e1"))
    assert_conforms(adapter, protocol.delete_item_event("item_1", "e2"))


def test_append_frame_round_trips_the_audio() -> None:
    """The hand-built append frame is valid JSON carrying the exact bytes."""
    import base64

    import orjson

    chunk = bytes(range(256)) * 10
    frame = orjson.loads(protocol.append_frame(chunk))
    assert base64.b64decode(frame["audio"]) == chunk


def test_connect_url_keeps_other_query_parameters() -> None:
    """The model or intent is set; an Azure api-version survives."""
    url = protocol.connect_url("wss://h/openai/realtime?api-version=1&model=old", "m1", "realtime")
    assert url == "wss://h/openai/realtime?api-version=1&model=m1"
    assert protocol.connect_url("ws://h/v1/realtime", "m1", "transcription").endswith(
        "?intent=transcription"
    )


def test_handshake_headers() -> None:
    """The key goes in Authorization; beta adds its header, GA must not send it."""
    assert protocol.handshake_headers("sk-x", "ga") == [(b"Authorization", b"Bearer sk-x")]
    assert (b"OpenAI-Beta", b"realtime=v1") in protocol.handshake_headers("sk-x", "beta")


def test_beta_names_map_to_ga_only_in_beta() -> None:
    """Beta event names decode under their GA names; GA names pass through."""
    beta = protocol.beta_names("beta")
    assert decode('{"type":"response.text.delta"}', beta).type == "response.output_text.delta"
    assert decode('{"type":"transcription_session.created"}', beta).type == "session.created"
    ga = protocol.beta_names("ga")
    assert decode('{"type":"response.text.delta"}', ga).type == "response.text.delta"


@pytest.mark.parametrize(
    ("content", "field", "expect"),
    [
        ({"type": "output_text", "text": "four"}, "text", "four"),
        ({"type": "text", "text": "four"}, "text", "four"),
        ({"type": "output_audio", "transcript": "spoken"}, "transcript", "spoken"),
        ({"type": "audio", "transcript": "spoken"}, "transcript", "spoken"),
    ],
)
def test_read_response_collects_output(content: dict[str, str], field: str, expect: str) -> None:
    """Text and transcripts come from response.done's items in either dialect."""
    result = protocol.read_response(
        msgspec.convert(
            {
                "id": "resp_1",
                "status": "completed",
                "output": [{"type": "message", "content": [content]}],
                "usage": {"total_tokens": 3},
            },
            Response,
        )
    )
    assert getattr(result, field) == expect
    assert result.response_id == "resp_1"
    assert result.usage == {"total_tokens": 3}


def test_read_response_failed_carries_error() -> None:
    """A failed response's error object is surfaced for classification."""
    error = {"type": "server_error", "code": None, "message": "boom"}
    result = protocol.read_response(
        msgspec.convert(
            {"status": "failed", "status_details": {"type": "failed", "error": error}}, Response
        )
    )
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.as_dict() == {"type": "server_error", "message": "boom"}


def test_a_completed_response_without_output_is_malformed() -> None:
    """A completed response with no text and no transcript is never written as completed."""
    for output in ([], [{"type": "message", "content": []}], None):
        response = msgspec.convert({"status": "completed", "output": output}, Response)
        with pytest.raises(MalformedEvent, match="without output"):
            protocol.read_response(response)
