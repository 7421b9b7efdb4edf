"""Input transcription of committed audio: deltas, then ``completed`` or ``failed``.

Started by a commit (transcription sessions, or input transcription on a realtime
session) and streamed from a child task of the connection, so the receive loop keeps
serving while a transcript is written.

It transcribes the way the model does, from the model's catalogue row: an item longer
than ``max_item_s`` fails as the file-transcription endpoint fails it; the transcript
grows with the audio (:data:`~rtbatch.emulator.replies.SPEECH_WORDS_PER_S`) and is cut,
silently, at ``transcript_tokens``; usage takes the tokens form for token-billed models
and the duration form for models billed by the minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
from trio_websocket import ConnectionClosed

from rtbatch.emulator import faults as fault_consts
from rtbatch.emulator import refusals
from rtbatch.emulator.dialects import JsonObj
from rtbatch.emulator.errors import SERVER_ERROR_MESSAGE
from rtbatch.emulator.outbox import Batch
from rtbatch.emulator.replies import (
    PCM_RATE,
    audio_tokens_in,
    logprobs,
    transcript_tokens,
    transcript_words,
    word_deltas,
    words_within,
)
from rtbatch.emulator.state import SessionState
from rtbatch.models import MinutePrice, Model, lookup

__all__ = ["start_transcription"]

#: Models that send the whole transcript as one delta (protocol notes §6.6).
SINGLE_DELTA_MODELS = frozenset({"whisper-1"})


def too_long(model: Model | None, samples: int) -> JsonObj | None:
    """The error of an item longer than the model's per-item limit, or None.

    The wording is the /audio/transcriptions endpoint's, which input transcription
    runs through (protocol notes §0): the duration as the service prints it.
    """
    limit = model.max_item_s if model is not None else None
    duration = samples / PCM_RATE
    if limit is None or duration <= limit:
        return None
    return {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": f"audio duration {duration} seconds is longer than {limit:g} seconds "
        "which is the maximum for this model",
    }


def transcript(model: Model | None, samples: int) -> list[str]:
    """The transcript's words, cut at the model's output cap."""
    words = transcript_words(samples)
    cap = model.transcript_tokens if model is not None else None
    return words if cap is None else words[: words_within(cap)]


def start_transcription(
    conn: SessionState, item_id: str, samples: int, model: str, *, include_logprobs: bool
) -> None:
    """Launch the transcription of a committed item.

    Args:
        conn: the connection's state.
        item_id: the committed item.
        samples: its 24 kHz sample count.
        model: the transcription model.
        include_logprobs: the session's ``include`` asks for logprobs; models that
            give them (the catalogue's ``logprobs``) then fill ``logprobs`` lists.
    """
    conn.emulator.stats.transcriptions += 1
    fault = conn.emulator.faults.next_response()
    row = lookup(model)
    with_logprobs = include_logprobs and row is not None and row.accepts("logprobs")
    conn.start_soon(_transcribe_guarded, conn, _Job(item_id, samples, model, fault, with_logprobs))


@dataclass(frozen=True, slots=True)
class _Job:
    """One committed item to transcribe, and how."""

    item_id: str
    samples: int
    model: str
    fault: str | None
    with_logprobs: bool


async def _transcribe_guarded(conn: SessionState, job: _Job) -> None:
    try:
        await _transcribe(conn, job)
    except ConnectionClosed:
        pass
    finally:
        conn.emulator.limits.release(job.item_id)


def _failed(item_id: str, error: JsonObj) -> JsonObj:
    return {
        "type": "conversation.item.input_audio_transcription.failed",
        "item_id": item_id,
        "content_index": 0,
        "error": {**error, "param": None},
    }


async def _transcribe(conn: SessionState, job: _Job) -> None:
    item_id, samples, model, fault = job.item_id, job.samples, job.model, job.fault
    config, batch = conn.config, Batch(conn.outbox)
    row = lookup(model)
    refused = too_long(row, samples)
    if refused is not None:
        await conn.outbox.send([_failed(item_id, refused)])
        return
    words = transcript(row, samples)
    text = " ".join(words)
    audio_tokens, text_tokens = audio_tokens_in(samples), transcript_tokens(len(words))
    refusal = refusals.admit(conn.emulator, fault, model, audio_tokens + text_tokens, item_id)
    if refusal is not None and refusal.close is not None:
        await refusals.end_session(conn, refusal)
        return
    if refusal is not None:
        await conn.outbox.send([_failed(item_id, refusal.error)])
        return
    await batch.pause(config.latency_ms)
    if fault == "server_error":
        error = {"type": "server_error", "code": "server_error", "message": SERVER_ERROR_MESSAGE}
        await conn.outbox.send([_failed(item_id, error)])
        return
    pieces = [text] if model in SINGLE_DELTA_MODELS else word_deltas(words)
    # Without ``include`` (or from a model without them) the service sends null.
    piece_logprobs = logprobs(pieces, [model, samples]) if job.with_logprobs else None
    for index, piece in enumerate(pieces):
        batch.add(
            {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item_id,
                "content_index": 0,
                "delta": piece,
                "logprobs": piece_logprobs[index] if piece_logprobs else None,
            }
        )
        if index == 0 and fault in ("drop", "stall", "invalid_frame"):
            await batch.flush()
            if fault == "drop":
                await conn.outbox.abort()
                return
            if fault == "stall":
                await trio.sleep_forever()
            await conn.outbox.send_raw(fault_consts.INVALID_FRAME)
        if index + 1 < len(pieces):
            await batch.pause(config.token_delay_ms)
    usage: JsonObj
    if row is not None and isinstance(row.prices, MinutePrice):
        usage = {"type": "duration", "seconds": samples / PCM_RATE}
    else:
        usage = {
            "type": "tokens",
            "total_tokens": audio_tokens + text_tokens,
            "input_tokens": audio_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            "output_tokens": text_tokens,
        }
    batch.add(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id,
            "content_index": 0,
            "transcript": text,
            "logprobs": [e for entries in piece_logprobs for e in entries]
            if piece_logprobs
            else None,
            "usage": usage,
        }
    )
    stored = conn.conversation.get(item_id)
    if stored is not None:
        stored.wire["content"][0]["transcript"] = text
    if conn.recording:
        conn.record.transcripts[item_id] = text
    await batch.flush()
