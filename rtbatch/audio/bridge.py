"""The thread bridge: a synchronous iterator runs in a worker thread, trio receives.

Decoding is CPU-bound C code that would block the event loop, so each file is
decoded in a thread of its own, started with ``trio.lowlevel.start_thread_soon``
(no thread pool to size), and its items cross to trio over a memory channel of a
few items: when the consumer is slow, the thread waits, and memory stays at a
few items. :func:`open_thread_stream` is the general bridge;
:func:`open_chunk_stream` puts :func:`~rtbatch.audio.decode.iter_chunks` behind
it, and :func:`~rtbatch.audio.segments.open_segment_stream` the segmenter.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Generic, TypeVar, final

import trio

from rtbatch.audio.decode import iter_chunks
from rtbatch.audio.wire import CHUNK_MS
from rtbatch.defaults import AudioFormat

if TYPE_CHECKING:
    import outcome

T = TypeVar("T")

BUFFER_CHUNKS: Final = 4
"""Default number of items (decoded chunks) kept ready ahead of the consumer."""
THREAD_NAME_PREFIX: Final = "rtbatch audio"
"""Every bridge thread's name starts with this (tests and debuggers look for it)."""

# How long leaving a stream waits for its thread to notice that the consumer has
# gone. The thread checks between items, so it normally stops within one item's
# decoding time (about a millisecond); the cap only matters if the file system
# hangs, and then the thread is abandoned rather than the caller.
_THREAD_EXIT_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class _Failed:
    """What ended the producer, carried to the consumer after the good items."""

    error: BaseException


@final
class ThreadStream(Generic[T]):
    """The receiving end of :func:`open_thread_stream`: an async iterator of items.

    After the last item, ``async for`` ends; if the producer failed, its exception
    (BadAudio, for audio) is raised to the consumer instead, unwrapped, after the
    items produced before the failure.
    """

    def __init__(self, receive: trio.MemoryReceiveChannel[T | _Failed]) -> None:
        self._receive = receive

    def __aiter__(self) -> ThreadStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def statistics(self) -> trio.MemoryChannelStatistics:
        """The hand-off's state: items buffered, and whether the producer waits for room."""
        return self._receive.statistics()

    async def receive(self) -> T:
        """The next item.

        Raises:
            BadAudio: The producer failed (in order, after the good items); or
                whatever else it raised.
            trio.EndOfChannel: There are no more items.
        """
        item = await self._receive.receive()
        if isinstance(item, _Failed):
            raise item.error
        return item


@asynccontextmanager
async def open_thread_stream(
    items: Iterator[T], *, name: str, buffer_chunks: int = BUFFER_CHUNKS
) -> AsyncIterator[ThreadStream[T]]:
    """Run a synchronous iterator in a worker thread and receive its items in trio.

    There is no nursery inside: exceptions raised in the ``async with`` body come
    out as they are, never wrapped in an exception group. The thread is started
    with ``trio.lowlevel.start_thread_soon`` and joined on the way out.

    On cancellation, or when the body leaves before the last item, the channel is
    closed, the thread stops at its next item and closes ``items`` (a generator's
    ``finally`` closes its file), and leaving waits for that (shielded, up to a
    few seconds; then the thread is abandoned and stops on its own when its file
    read returns).

    Args:
        items: The iterator, created by the caller (so that bad arguments fail at
            the call, before any thread); closed by the thread if it has ``close``.
        name: The thread's name, after :data:`THREAD_NAME_PREFIX`.
        buffer_chunks: Items kept ready ahead of the consumer (>= 1).

    Yields:
        A :class:`ThreadStream` of the items.

    Raises:
        ValueError: ``buffer_chunks`` is not a whole number >= 1.
    """
    if not isinstance(buffer_chunks, int) or buffer_chunks < 1:
        raise ValueError(f"buffer_chunks must be a whole number >= 1, got {buffer_chunks!r}")
    send, receive = trio.open_memory_channel[T | _Failed](buffer_chunks)
    token = trio.lowlevel.current_trio_token()
    joined = trio.Event()

    def produce() -> None:  # runs in the worker thread
        failure: _Failed | None = None
        try:
            for item in items:
                trio.from_thread.run(send.send, item, trio_token=token)
        except (trio.BrokenResourceError, trio.Cancelled, trio.RunFinishedError):
            return  # the consumer left (or the run is ending): stop producing
        except BaseException as exc:
            failure = _Failed(exc)  # BadAudio, or a bug: the consumer gets it in order
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator stopped early closes its file now
        with contextlib.suppress(trio.BrokenResourceError, trio.Cancelled, trio.RunFinishedError):
            trio.from_thread.run(_finish, send, failure, trio_token=token)

    def deliver(result: outcome.Outcome[None]) -> None:  # in the thread, after produce
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(joined.set)

    trio.lowlevel.start_thread_soon(produce, deliver, name=f"{THREAD_NAME_PREFIX} {name}")
    try:
        async with receive:
            yield ThreadStream(receive)
    finally:
        # The receive channel is closed now, so the thread's next send fails and it
        # returns. Wait for it, even when cancelled, so no thread outlives the block.
        with trio.move_on_after(_THREAD_EXIT_TIMEOUT_S, shield=True):
            await joined.wait()


async def _finish(send: trio.MemorySendChannel[T | _Failed], failure: _Failed | None) -> None:
    """Close the producer's end, after passing on the failure that ended it, if any."""
    async with send:
        if failure is not None:
            await send.send(failure)


@asynccontextmanager
async def open_chunk_stream(
    path: Path,
    *,
    fmt: AudioFormat = "pcm16",
    chunk_ms: int = CHUNK_MS,
    buffer_chunks: int = BUFFER_CHUNKS,
) -> AsyncIterator[ThreadStream[bytes]]:
    """Decode a file in a worker thread and receive its chunks in trio.

    :func:`~rtbatch.audio.decode.iter_chunks` behind :func:`open_thread_stream`;
    the cancellation and clean-up guarantees are that function's. Use::

        async with open_chunk_stream(path) as chunks:
            async for chunk in chunks:
                await send_append(chunk)

    Args:
        path: The audio file.
        fmt: The session's input audio format.
        chunk_ms: Audio per chunk, in milliseconds.
        buffer_chunks: Decoded chunks kept ready ahead of the consumer (>= 1).

    Yields:
        A :class:`ThreadStream` of chunks, which raises BadAudio once the good
        chunks are out.

    Raises:
        ValueError: ``fmt``, ``chunk_ms`` or ``buffer_chunks`` is invalid.
    """
    chunks = iter_chunks(path, fmt=fmt, chunk_ms=chunk_ms)  # validates before any thread
    async with open_thread_stream(
        chunks, name=Path(path).name, buffer_chunks=buffer_chunks
    ) as stream:
        yield stream
