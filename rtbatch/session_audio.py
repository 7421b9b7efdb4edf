"""A session's audio paths: a respond job's audio sent whole, a transcribe job's in segments.

They run on a :class:`~rtbatch.session.Session` through the few calls they need
(:class:`SessionChannel`), inside its error boundary: a segment mismatch is
raised as it comes and translated there, with timeouts and malformed events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import trio

from rtbatch import errors, protocol
from rtbatch.config import RunConfig
from rtbatch.defaults import AUDIO_CHUNK_MS, TRANSCRIPT_IDLE_PER_AUDIO_S
from rtbatch.events import (
    Committed,
    Event,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranscriptionFailed,
)
from rtbatch.jobs import Job
from rtbatch.latency import Stages
from rtbatch.output.checkpoint import contiguous
from rtbatch.output.transcript import SegmentRecord, clock, sum_usage, transcript_output
from rtbatch.reply import JobReply, classified

if TYPE_CHECKING:
    from rtbatch.audio import Cut

SegmentHook = Callable[[SegmentRecord], None]


class SessionChannel(Protocol):
    """What the audio and response paths use of a session (:class:`rtbatch.session.Session`
    has it; :mod:`rtbatch.session_responses` uses it too)."""

    config: RunConfig
    #: The latency stages of the attempt under way.
    stages: Stages
    #: The transcription settings last applied, so an unchanged job sends none.
    transcription: dict[str, Any] | None

    def new_event_id(self) -> str: ...

    async def send(self, event: protocol.Event | str) -> None: ...

    async def ask(self, event: protocol.Event) -> None: ...

    async def next_event(
        self,
        want: Callable[[Event], bool],
        *,
        extra_idle: Callable[[], float] | None = None,
        streaming: Callable[[], bool] | None = None,
    ) -> Event: ...

    async def update(self, event: protocol.Event) -> None: ...

    async def tidy(self, event: protocol.Event) -> None: ...

    def note_answer(self) -> None: ...


async def transcribe(
    session: SessionChannel,
    job: Job,
    done: Sequence[SegmentRecord],
    on_segment: SegmentHook | None,
) -> JobReply:
    """Transcribe a job's audio segment by segment; the transcript and its segments.

    The audio is cut at silences (:mod:`rtbatch.audio.segments`); each segment
    is appended and committed as its own item while the transcripts of earlier
    ones arrive, matched by item id, and reassembled in order. ``done`` holds
    the segments finished earlier (as the checkpoint or earlier attempts left
    them): none is sent again. The stream starts where their contiguous run from
    the file's start ends; a finished segment past a gap (a later segment of an
    attempt that stalled) is decoded but not sent, and kept only if the file's
    cut lands on its boundaries again.

    Raises:
        BadAudio: the file cannot be decoded.
        SegmentMismatch: ``done`` does not end at a segment boundary of this
            file as it is now (it changed, or the settings did), or a finished
            segment's boundaries moved; the session's boundary makes it a
            ``CheckpointMismatch``.
        RtbatchError: a segment's transcription failed (the message names the
            segment) or the connection failed.
    """
    from rtbatch.audio import Cut, open_segment_stream, sample_rate_of

    await _configure_transcription(session, job)
    if job.audio is None:
        raise ValueError(f"job {job.id!r} has no audio")
    rate = sample_rate_of(session.config.audio_format)
    finished = {s.index: s for s in done}
    prefix = contiguous(finished)
    start = prefix[-1].end_sample if prefix else 0
    # Whether the segment being streamed was finished earlier: its audio is not sent.
    kept = finished.get(len(prefix))
    skipping = kept is not None and kept.start_sample == start
    waiting: dict[str, Cut] = {}
    committed_at: dict[str, float] = {}  # item id -> when its commit was sent
    # A segment's failure is raised only once the commit in flight is
    # acknowledged: a `committed` left unread would be taken for the next
    # try's first commit on this session, and every later transcript matched
    # to the segment before its own.
    failed: list[errors.RtbatchError] = []

    begun: set[str] = set()  # items whose transcript has begun streaming

    def allowance_s() -> float:
        # Only a transcript not yet begun may take time in proportion to its audio.
        samples = sum(c.end_sample - c.start_sample for i, c in waiting.items() if i not in begun)
        return samples / rate * TRANSCRIPT_IDLE_PER_AUDIO_S

    def in_stream() -> bool:
        # Every transcript awaited streams: a silence now is a stream's, not a wait's.
        return bool(waiting) and begun.issuperset(waiting)

    def on_event(event: Event) -> bool:
        if isinstance(event, Committed):
            return True
        if isinstance(event, TranscriptionDelta):
            if event.item_id in waiting:
                begun.add(event.item_id)
            return False
        if not isinstance(event, TranscriptionCompleted | TranscriptionFailed):
            return False
        begun.discard(event.item_id)
        cut = waiting.pop(event.item_id, None)
        if cut is None:
            return False
        session.stages.longest("transcript", trio.current_time() - committed_at.pop(event.item_id))
        if isinstance(event, TranscriptionFailed):
            exc = classified(event.error)
            where = f"segment {cut.index} ({clock(cut.start_ms)}-{clock(cut.end_ms)})"
            failed.append(type(exc)(f"{where}: {exc.message}", code=exc.code))
            return False
        usage = event.usage.as_dict() if event.usage is not None else None
        record = SegmentRecord(cut.index, cut.start_sample, cut.end_sample, event.transcript, usage)
        finished[cut.index] = record
        # Each transcript is an answer: a long file teaches the idle deadline as it goes.
        session.note_answer()
        if on_segment is not None:
            on_segment(record)
        return False

    try:
        async with open_segment_stream(
            job.audio,
            fmt=session.config.audio_format,
            chunk_ms=AUDIO_CHUNK_MS,
            max_segment_ms=session.config.max_segment_ms,
            tolerance_ms=session.config.max_segment_ms // 5,
            start_sample=start,
        ) as items:
            async for item in items:
                if isinstance(item, Cut) and skipping:
                    _check_kept(finished[item.index], item)
                elif isinstance(item, Cut):
                    sent = trio.current_time()
                    await session.send(protocol.commit_event(session.new_event_id()))
                    committed = await session.next_event(
                        on_event, extra_idle=allowance_s, streaming=in_stream
                    )
                    if failed:
                        raise failed[0]
                    assert isinstance(committed, Committed)
                    waiting[committed.item_id] = item
                    committed_at[committed.item_id] = sent
                elif not skipping:
                    await session.send(protocol.append_frame(item))
                if isinstance(item, Cut):
                    after = finished.get(item.index + 1)
                    skipping = after is not None and after.start_sample == item.end_sample
    except errors.BadAudio:
        await session.tidy(protocol.clear_event(session.new_event_id()))
        raise
    while waiting and not failed:
        await session.next_event(
            lambda e: on_event(e) or not waiting or bool(failed),
            extra_idle=allowance_s,
            streaming=in_stream,
        )
    if failed:
        raise failed[0]
    segments = [finished[i] for i in sorted(finished)]
    output = transcript_output(segments, rate)
    return JobReply("completed", output, sum_usage(s.usage for s in segments), None)


def _check_kept(kept: SegmentRecord, cut: Cut) -> None:
    """A finished segment is kept only where the file's cut falls on it again."""
    from rtbatch.audio import SegmentMismatch

    if (kept.start_sample, kept.end_sample) != (cut.start_sample, cut.end_sample):
        raise SegmentMismatch(
            f"segment {cut.index} was {kept.start_sample}-{kept.end_sample} and is now "
            f"{cut.start_sample}-{cut.end_sample}"
        )


async def _configure_transcription(session: SessionChannel, job: Job) -> None:
    options = job.transcription
    settings = protocol.transcription_settings(
        (options.model if options else None) or session.config.transcription_model,
        (options.language if options else None) or session.config.language,
        options.prompt if options else None,
        options.languages if options else None,
    )
    if settings == session.transcription:
        return
    await session.update(
        protocol.session_update(
            session.config.dialect,
            "transcription",
            audio_format=session.config.audio_format,
            transcription=settings,
        )
    )
    session.transcription = settings


async def send_audio(session: SessionChannel, job: Job) -> str:
    """Send a respond job's audio whole and commit it; the committed item's id."""
    if job.audio is None:
        raise ValueError(f"job {job.id!r} has no audio")
    return await commit_audio(session, job.audio)


async def commit_audio(session: SessionChannel, path: Path) -> str:
    """Send an audio file whole and commit it (a respond job's, a conversation's turn);
    the committed item's id."""
    from rtbatch.audio import open_chunk_stream

    try:
        async with open_chunk_stream(
            path, fmt=session.config.audio_format, chunk_ms=AUDIO_CHUNK_MS
        ) as chunks:
            async for chunk in chunks:
                await session.send(protocol.append_frame(chunk))
    except errors.BadAudio:
        await session.tidy(protocol.clear_event(session.new_event_id()))
        raise
    await session.send(protocol.commit_event(session.new_event_id()))
    committed = await session.next_event(lambda e: isinstance(e, Committed))
    assert isinstance(committed, Committed)
    return committed.item_id
