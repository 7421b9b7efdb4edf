"""Conversations: a job's user turns answered in order, each with the earlier answers in context.

Every response is out of band, like every other job's (``conversation: "none"``),
and its ``input`` is the conversation so far: each earlier turn's user item, then
what the model answered it (its function calls with their outputs, then its text,
or the transcript of a spoken answer, as an assistant message), then the turn
being answered. So the model reads its own real earlier answers, as it would in
the session's default conversation, while nothing is written to that
conversation: no item to tidy but the audio turns' committed items (deleted once
the job ends, however it ends), nothing left for the next job on the connection,
and a retried attempt on the same connection starts from a clean session.

It is also what makes a resumed conversation the same conversation. The turns
finished earlier (a checkpoint, or an earlier attempt: ``done``) are not asked
again: their user inputs and their recorded answers are replayed into the
``input`` of the first unfinished turn exactly as a fresh run would have sent
them (an audio turn's audio is sent and committed again, since its item died
with its session), and only the unfinished turns get a response.

A spoken answer is replayed as its transcript, as text. The item types would take
the assistant's audio back (an ``output_audio`` part with its bytes), but rtbatch
does not hold it (it streams to the job's WAV file, if kept at all), a resumed
conversation would have to read it back from disk, and every later turn would pay
for it again as audio input, about 20 tokens a second; the words are what the
model needs to keep the thread.

Each turn may run tool rounds (:mod:`rtbatch.tool_rounds`) within its own
responses: the turn's calls and outputs join the context of the later turns.
``tool_choice`` is the job's for the first response of every turn.

:func:`converse` drives the turns through a :class:`Speaker` (the session sends
and reads); the rest is pure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rtbatch import protocol
from rtbatch.jobs import Job, Turn
from rtbatch.models import DialectName
from rtbatch.output.turns import (
    TurnRecord,
    contiguous_turns,
    conversation_output,
    conversation_usage,
    turn_key,
)
from rtbatch.protocol import FunctionCall, ResponseResult
from rtbatch.reply import JobReply, reply_of
from rtbatch.tool_rounds import INVALID_ARGUMENTS_NOTE, run_rounds

__all__ = ["Speaker", "TurnHook", "answer_items", "converse"]

TurnHook = Callable[[TurnRecord], None]


@dataclass(frozen=True, slots=True)
class Speaker:
    """What a conversation needs of its session (:class:`rtbatch.session.Session` gives it).

    Attributes:
        respond: sends one out-of-band response reading ``items`` with the tool
            fields given (or none); returns its answer, a failure raised.
        commit_audio: sends an audio file whole and commits it; the item's id.
        delete_item: deletes an item of the session's conversation, whatever is
            in flight (shielded).
    """

    respond: Callable[[Sequence[protocol.Event], protocol.Event | None], Awaitable[ResponseResult]]
    commit_audio: Callable[[Path], Awaitable[str]]
    delete_item: Callable[[str], Awaitable[None]]


async def converse(
    speaker: Speaker,
    job: Job,
    dialect: DialectName,
    max_tool_rounds: int,
    done: Sequence[TurnRecord] = (),
    on_turn: TurnHook | None = None,
) -> JobReply:
    """Answer a conversation's unfinished turns, in order, with the earlier ones in context.

    Args:
        speaker: sends and reads (the session).
        job: a conversation job (its ``turns`` set).
        dialect: how items and tool fields are spelt.
        max_tool_rounds: each turn's bound on tool rounds.
        done: turns finished earlier; those that still answer the job's turns
            (:func:`~rtbatch.output.turns.contiguous_turns`) are replayed, not asked.
        on_turn: called with each turn as it finishes (the checkpoint).

    Returns:
        The conversation's reply: ``completed`` when every turn completed, else
        ``incomplete`` with the first incomplete turn's reason; its usage the
        turns' sum, its response id the last turn's.

    Raises:
        RtbatchError: a turn's response failed, or the connection did; already
            classified. The turns finished before it have been passed to ``on_turn``.
    """
    turns = job.turns or ()
    keys = [turn_key(t) for t in turns]
    by_index = {r.index: r for r in done}
    records = contiguous_turns(by_index, keys)
    if len(records) == len(turns):
        # Every turn was answered (a run killed before the line was written): there
        # is nothing to ask, so nothing to replay, and no audio to send again.
        return _reply(records)
    history: list[protocol.Event] = []
    audio_items: list[str] = []
    try:
        for index, turn in enumerate(turns):
            user = await _user_item(speaker, turn, dialect, audio_items)
            if index < len(records):
                history += [user, *answer_items(dialect, records[index].output)]
                continue
            output = await _answer(speaker, job, [*history, user], dialect, max_tool_rounds)
            output = {"turn": index + 1, **output}
            record = TurnRecord(index, keys[index], output)
            records.append(record)
            if on_turn is not None:
                on_turn(record)
            history += [user, *answer_items(dialect, output)]
    finally:
        for item_id in audio_items:
            await speaker.delete_item(item_id)
    return _reply(records)


async def _user_item(
    speaker: Speaker, turn: Turn, dialect: DialectName, audio_items: list[str]
) -> protocol.Event:
    if turn.audio is None:
        return protocol.message_item(dialect, "user", turn.text or "")
    item_id = await speaker.commit_audio(turn.audio)
    audio_items.append(item_id)
    return protocol.item_reference(item_id)


async def _answer(
    speaker: Speaker,
    job: Job,
    items: Sequence[protocol.Event],
    dialect: DialectName,
    max_tool_rounds: int,
) -> dict[str, Any]:
    """One turn's entry of ``output.turns``: its answer, with its rounds when it has tools."""
    if job.tools is None:
        reply = reply_of(await speaker.respond(items, None))
    else:

        async def respond(
            extra: Sequence[protocol.Event], tool_fields: protocol.Event
        ) -> ResponseResult:
            return await speaker.respond([*items, *extra], tool_fields)

        reply = await run_rounds(respond, job.tools, dialect, max_tool_rounds)
    return {
        "status": reply.status,
        **reply.output,
        "response_id": reply.response_id,
        "usage": reply.usage,
    }


def answer_items(dialect: DialectName, output: dict[str, Any]) -> list[protocol.Event]:
    """A finished turn's answer as the items a later turn reads after its user item.

    Each answered call and its output (as they were sent in the turn's rounds), then
    the text, or the transcript of a spoken answer, as an assistant message. An
    unanswered call (the round bound, a response cut short) is left out: an
    ``input`` may not hold a call without its output.
    """
    items: list[protocol.Event] = []
    for call in output.get("tool_calls") or ():
        if call.get("output") is None:
            continue
        items.append(protocol.function_call_item(_recorded_call(call)))
        answer = orjson.dumps(call["output"]).decode()
        items.append(protocol.function_call_output_item(call["call_id"], answer))
    said = output.get("text") or output.get("transcript")
    if said:
        items.append(protocol.message_item(dialect, "assistant", said))
    return items


def _recorded_call(call: dict[str, Any]) -> FunctionCall:
    """A recorded call as it was made: arguments that were not JSON are kept raw."""
    arguments = call.get("arguments")
    raw = str(call.get("error") or "").startswith(INVALID_ARGUMENTS_NOTE)
    text = arguments if raw and isinstance(arguments, str) else orjson.dumps(arguments).decode()
    return FunctionCall(str(call["call_id"]), str(call["name"]), text)


def _reply(records: Sequence[TurnRecord]) -> JobReply:
    reason = next((r.output.get("reason") for r in records if _incomplete(r)), None)
    status = "incomplete" if any(_incomplete(r) for r in records) else "completed"
    output = conversation_output(records, reason=reason if status == "incomplete" else None)
    last = records[-1].output if records else {}
    return JobReply(status, output, conversation_usage(records), last.get("response_id"))


def _incomplete(record: TurnRecord) -> bool:
    return record.output.get("status") == "incomplete"
