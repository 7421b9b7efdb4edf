"""The thread bridge: a synchronous iterator runs in a worker thread, trio receives.

Decoding is CPU-bound C code that would block the event loop, so each file is
decoded in a thread of its own, started with ``trio.lowlevel.start_thread_soon``
(no thread pool to size), and its items cross to trio through a bounded hand-off
of a few items: when the consumer is slow, the thread waits, and memory stays at
a few items. :func:`open_thread_stream` is the general bridge;
:func:`open_chunk_stream` puts :func:`~rtbatch.audio.decode.iter_chunks` behind
it, and :func:`~rtbatch.audio.segments.open_segment_stream` the segmenter.

The hand-off is a deque under a lock, a semaphore for room, and the one
consumer task parked with ``wait_task_rescheduled`` when it finds the deque
empty. Why not ``trio.from_thread.run(send.send, item)`` into a memory channel,
as here until issue 20: that spawns a system task for every item and blocks the
thread until trio has run it, two thread switches and about 100 µs of CPU an
item, a tenth of the whole client's CPU on a long MP3. Here the thread waits
only for room, and wakes trio (``run_sync_soon``) only when the consumer is
parked.
"""

from __future__ import annotations

import collections
import contextlib
import threading
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


@dataclass(frozen=True, slots=True)
class HandOffStatistics:
    """A snapshot of a :class:`ThreadStream`'s hand-off."""

    #: Items produced and not yet received.
    buffered: int
    #: The most it holds (``buffer_chunks``).
    size: int
    #: Whether the producer thread waits for room.
    producer_waiting: bool


@final
class _HandOff(Generic[T]):
    """One producer thread to one trio task, at most ``size`` items between them."""

    def __init__(self, size: int, token: trio.lowlevel.TrioToken) -> None:
        self._size = size
        self._token = token
        self._items: collections.deque[T | _Failed] = collections.deque()
        self._room = threading.Semaphore(size)
        self._lock = threading.Lock()
        self._parked: trio.lowlevel.Task | None = None  # the consumer, waiting for an item
        self._ended = False  # the producer is done (its failure, if any, is the last item)
        self._left = False  # the consumer is gone: the producer stops at its next item
        self._producer_waiting = False

    # --- the producer's side (the worker thread) ---

    def put(self, item: T) -> bool:
        """Hand over ``item`` once there is room; False when the consumer has left.

        Raises:
            trio.RunFinishedError: The trio run ended while the consumer waited.
        """
        if not self._room.acquire(blocking=False):
            self._producer_waiting = True
            self._room.acquire()
            self._producer_waiting = False
        return self._hand_over(item, ended=False)

    def end(self, failure: BaseException | None) -> None:
        """No more items; ``failure`` (if any) follows the last one, taking no room.

        Raises:
            trio.RunFinishedError: The trio run ended while the consumer waited.
        """
        self._hand_over(None if failure is None else _Failed(failure), ended=True)

    def _hand_over(self, item: T | _Failed | None, *, ended: bool) -> bool:
        with self._lock:
            if self._left:
                return False
            if item is not None:
                self._items.append(item)
            if ended:
                self._ended = True
            parked, self._parked = self._parked, None
        if parked is not None:
            self._token.run_sync_soon(trio.lowlevel.reschedule, parked)
        return True

    # --- the consumer's side (trio) ---

    async def get(self) -> T | _Failed:
        """The next item, waiting for the producer if there is none yet.

        Raises:
            trio.EndOfChannel: The producer ended and every item was taken.
            trio.BusyResourceError: Another task is waiting in it (one consumer only).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    break
                if self._ended:
                    raise trio.EndOfChannel
                if self._parked is not None:
                    # One parked task is all a wake-up reaches: a second would hang.
                    raise trio.BusyResourceError("another task is already receiving")
                self._parked = trio.lowlevel.current_task()
            waited = True
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        if not isinstance(item, _Failed):
            self._room.release()
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return item

    def _abort(self, _: object) -> trio.lowlevel.Abort:
        with self._lock:
            if self._parked is not None:
                self._parked = None
                return trio.lowlevel.Abort.SUCCEEDED
        # The producer has woken the task already: that wake-up is on its way.
        return trio.lowlevel.Abort.FAILED

    def leave(self) -> None:
        """The consumer is gone: drop the items and free a producer waiting for room."""
        with self._lock:
            self._left = True
            self._items.clear()
        self._room.release()

    def statistics(self) -> HandOffStatistics:
        return HandOffStatistics(len(self._items), self._size, self._producer_waiting)


@final
class ThreadStream(Generic[T]):
    """The receiving end of :func:`open_thread_stream`: an async iterator of items, for one task.

    After the last item, ``async for`` ends; if the producer failed, its exception
    (BadAudio, for audio) is raised to the consumer instead, unwrapped, after the
    items produced before the failure.
    """

    def __init__(self, hand_off: _HandOff[T]) -> None:
        self._hand_off = hand_off

    def __aiter__(self) -> ThreadStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def statistics(self) -> HandOffStatistics:
        """The hand-off's state: items buffered, and whether the producer waits for room."""
        return self._hand_off.statistics()

    async def receive(self) -> T:
        """The next item.

        Raises:
            BadAudio: The producer failed (in order, after the good items); or
                whatever else it raised.
            trio.EndOfChannel: There are no more items.
        """
        item = await self._hand_off.get()
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

    On cancellation, or when the body leaves before the last item, the hand-off
    is closed, the thread stops at its next item and closes ``items`` (a
    generator's ``finally`` closes its file), and leaving waits for that
    (shielded, up to a few seconds; then the thread is abandoned and stops on
    its own when its file read returns).

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
    token = trio.lowlevel.current_trio_token()
    hand_off = _HandOff[T](buffer_chunks, token)
    joined = trio.Event()

    def produce() -> None:  # runs in the worker thread
        failure: BaseException | None = None
        try:
            for item in items:
                if not hand_off.put(item):
                    return  # the consumer left: stop producing
        except trio.RunFinishedError:
            return  # the run is ending
        except BaseException as exc:
            failure = exc  # BadAudio, or a bug: the consumer gets it in order
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator stopped early closes its file now
        with contextlib.suppress(trio.RunFinishedError):
            hand_off.end(failure)

    def deliver(result: outcome.Outcome[None]) -> None:  # in the thread, after produce
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(joined.set)

    trio.lowlevel.start_thread_soon(produce, deliver, name=f"{THREAD_NAME_PREFIX} {name}")
    try:
        yield ThreadStream(hand_off)
    finally:
        # The thread's next hand-over sees that the consumer left, and it returns.
        # Wait for it, even when cancelled, so no thread outlives the block.
        hand_off.leave()
        with trio.move_on_after(_THREAD_EXIT_TIMEOUT_S, shield=True):
            await joined.wait()


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
