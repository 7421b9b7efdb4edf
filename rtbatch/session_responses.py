"""A session's response paths: a job's one response, a tool job's rounds, a conversation's turns.

They run on a :class:`~rtbatch.session.Session` through the few calls they need
(:class:`~rtbatch.session_audio.SessionChannel`), inside its error boundary, as
the audio paths of :mod:`rtbatch.session_audio` do. Every response is out of band
(:func:`rtbatch.protocol.response_create`); what a tool job's rounds and a
conversation's turns put in its ``input`` is :mod:`rtbatch.tool_rounds`' and
:mod:`rtbatch.conversation`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from rtbatch import protocol
from rtbatch.conversation import Speaker, TurnHook, converse
from rtbatch.events import AudioDelta, Event, ResponseDone
from rtbatch.jobs import Job
from rtbatch.output.turns import TurnRecord
from rtbatch.reply import AudioOut, JobReply, answered, answers_job, reply_of
from rtbatch.session_audio import SessionChannel, commit_audio, send_audio
from rtbatch.tool_rounds import run_rounds

__all__ = ["answer", "converse_turns"]


async def answer(session: SessionChannel, job: Job, audio_out: AudioOut | None) -> JobReply:
    """A text or respond job's answer: one response, or its tool rounds.

    A respond job's audio is committed first and its item deleted after, however
    the job ends.

    Raises:
        RtbatchError: a response failed, or the connection did; already classified.
    """
    item_id = await send_audio(session, job) if job.kind == "respond" else None
    try:
        if job.tools is not None:
            respond = partial(_respond, session, job, audio_out, item_id)
            config = session.config
            return await run_rounds(respond, job.tools, config.dialect, config.max_tool_rounds)
        session.stages.begin()
        await session.ask(_response_create(session, job, item_id))
        reply = reply_of(await _read_response(session, job, audio_out))
        # Only an answer teaches the idle deadline (as each tool round and each
        # segment's transcript do): a refusal's response comes at once, and a
        # window of refusals would make every real answer look stalled.
        session.note_answer()
        return reply
    finally:
        if item_id is not None:
            await session.tidy(protocol.delete_item_event(item_id, session.new_event_id()))


async def converse_turns(
    session: SessionChannel,
    job: Job,
    audio_out: AudioOut | None,
    done: Sequence[TurnRecord],
    on_turn: TurnHook | None,
) -> JobReply:
    """A conversation's unfinished turns, each its own responses (see :mod:`rtbatch.conversation`).

    Raises:
        RtbatchError: a turn's response failed, or the connection did; already classified.
    """

    async def delete(item_id: str) -> None:
        await session.tidy(protocol.delete_item_event(item_id, session.new_event_id()))

    respond = partial(_respond, session, job, audio_out, None)
    speaker = Speaker(respond, partial(commit_audio, session), delete)
    config = session.config
    return await converse(speaker, job, config.dialect, config.max_tool_rounds, done, on_turn)


async def _respond(
    session: SessionChannel,
    job: Job,
    audio_out: AudioOut | None,
    item_id: str | None,
    items: Sequence[protocol.Event],
    tool_fields: protocol.Event | None,
) -> protocol.ResponseResult:
    """One of the responses of a tool job or a conversation; its answer (a failure raised)."""
    session.stages.begin()  # the job's first request; later ones change nothing
    await session.ask(_response_create(session, job, item_id, items, tool_fields))
    result = answered(await _read_response(session, job, audio_out))
    session.note_answer()  # each round or turn is an answer the idle deadline learns from
    return result


def _response_create(
    session: SessionChannel,
    job: Job,
    audio_item_id: str | None = None,
    extra_items: Sequence[protocol.Event] = (),
    tools: protocol.Event | None = None,
) -> protocol.Event:
    if job.turns is not None:
        turns = []  # a conversation's items are all in extra_items
    elif job.messages is not None:
        turns = [(m.role, m.content) for m in job.messages]
    else:
        turns = [("user", job.prompt or "")]
    config = session.config
    return protocol.response_create(
        config.dialect,
        job_id=job.id,
        event_id=session.new_event_id(),
        turns=turns,
        audio_item_id=audio_item_id,
        instructions=job.instructions if job.instructions is not None else config.instructions,
        options=job.options,
        extra_items=extra_items,
        tools=tools,
    )


async def _read_response(
    session: SessionChannel, job: Job, audio_out: AudioOut | None
) -> protocol.ResponseResult:
    def want(event: Event) -> bool:
        if isinstance(event, AudioDelta):
            if audio_out is not None:
                audio_out.add_b64(event.delta)
            return False
        return isinstance(event, ResponseDone) and answers_job(event, job.id)

    done = await session.next_event(want)
    assert isinstance(done, ResponseDone)
    session.stages.finished("done")
    return protocol.read_response(done.response)
