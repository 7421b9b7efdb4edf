"""Tests for rtbatch.audio.bridge: a decoding thread handing items to trio.

The general bridge is driven by a watched generator over a real file's chunks
(it counts what was produced and sees its own closing), so nothing of ours is
replaced; open_chunk_stream is then tested end to end on generated files.
Decoding runs in real threads, which trio's virtual clock cannot see: these
tests use real time and wait on events, or poll a state in a bounded loop;
no sleep stands in for either.
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing

from rtbatch import audio
from rtbatch.errors import BadAudio
from tests.audio.samples import corrupt_mp3, write_long_wav, write_wav

pytest.importorskip("av")


@dataclass
class Watch:
    """What a watched generator has done."""

    produced: int = 0
    closed: threading.Event = field(default_factory=threading.Event)
    fourth: threading.Event = field(default_factory=threading.Event)
    fifth: threading.Event = field(default_factory=threading.Event)


def watched(path: Path, watch: Watch, **kwargs: int) -> Iterator[bytes]:
    """iter_chunks(path), counting chunks produced and noting when it is closed."""
    inner = audio.iter_chunks(path, **kwargs)  # type: ignore[arg-type]
    try:
        for chunk in inner:
            watch.produced += 1
            if watch.produced == 4:
                watch.fourth.set()
            if watch.produced == 5:
                watch.fifth.set()
            yield chunk
    finally:
        inner.close()
        watch.closed.set()


def no_audio_threads() -> bool:
    return not any(
        t.name.startswith(audio.bridge.THREAD_NAME_PREFIX) for t in threading.enumerate()
    )


async def test_chunk_stream_yields_what_iter_chunks_yields(tmp_path: Path) -> None:
    """open_chunk_stream hands over the same chunks, in order, then ends."""
    path = tmp_path / "a.wav"
    write_wav(path, 100_000, 44_100, 2)
    async with audio.open_chunk_stream(path, chunk_ms=200, buffer_chunks=2) as chunks:
        got = [chunk async for chunk in chunks]
    assert got == list(audio.iter_chunks(path, chunk_ms=200))
    assert no_audio_threads()


async def test_chunk_stream_raises_bad_audio_after_the_good_chunks(tmp_path: Path) -> None:
    """A decoding failure reaches the consumer as BadAudio, unwrapped, in order."""
    path = tmp_path / "a.mp3"
    corrupt_mp3(path)
    got: list[bytes] = []
    with pytest.raises(BadAudio, match="is corrupt"):
        async with audio.open_chunk_stream(path) as chunks:
            async for chunk in chunks:
                got.append(chunk)
    assert len(got) == 1


async def test_chunk_stream_of_a_missing_file_raises_bad_audio(tmp_path: Path) -> None:
    """A file that cannot be opened fails on the first receive."""
    async with audio.open_chunk_stream(tmp_path / "nope.wav") as chunks:
        with pytest.raises(BadAudio, match="does not exist"):
            await chunks.receive()
        with pytest.raises(trio.EndOfChannel):
            await chunks.receive()


async def test_thread_stream_stops_producing_when_the_consumer_leaves(tmp_path: Path) -> None:
    """Leaving early closes the producer (and its file) before the block returns."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 60, 48_000)  # a minute: 120 chunks
    watch = Watch()
    async with audio.open_thread_stream(watched(path, watch), name="t", buffer_chunks=2) as items:
        async for _ in items:
            break
    assert watch.closed.is_set()
    assert watch.produced <= 1 + 2 + 1  # received, buffered, one blocked in send
    assert no_audio_threads()


async def test_thread_stream_applies_backpressure(tmp_path: Path) -> None:
    """A consumer that does not receive holds the producer at buffer_chunks ahead."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 30, 48_000)
    watch = Watch()
    async with audio.open_thread_stream(watched(path, watch), name="t", buffer_chunks=3) as items:
        assert await trio.to_thread.run_sync(watch.fourth.wait, 5)
        # The producer hands over its 4th chunk and must wait: the 3 before it
        # fill the buffer. Once it waits in send it cannot make a 5th, however
        # long we leave it: that state is the back-pressure, seen, not timed.
        for _ in range(5_000):
            if items.statistics().producer_waiting:
                break
            await trio.sleep(0.001)  # the thread's hand-off is not a trio event
        stats = items.statistics()
        assert (stats.buffered, stats.size, stats.producer_waiting) == (3, 3, True)
        assert watch.produced == 4 and not watch.fifth.is_set()
        assert len(await items.receive()) == 24_000  # room for one more ...
        assert await trio.to_thread.run_sync(watch.fifth.wait, 5)  # ... and only then the 5th


async def test_thread_stream_cleans_up_on_cancellation(tmp_path: Path) -> None:
    """Cancelling the consumer mid-stream still joins the thread and closes the file."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 60, 48_000)
    watch = Watch()
    with trio.CancelScope() as scope:
        async with audio.open_thread_stream(
            watched(path, watch), name="t", buffer_chunks=1
        ) as items:
            await items.receive()
            scope.cancel()
            await trio.sleep(1)  # cancelled here
            pytest.fail("not cancelled")
    assert scope.cancelled_caught
    assert watch.closed.is_set()
    assert no_audio_threads()


async def test_a_consumer_cancelled_while_it_waits_leaves_cleanly() -> None:
    """Cancelled while waiting for an item, receive raises Cancelled and the thread ends."""
    release = threading.Event()
    closed = threading.Event()

    def slow() -> Iterator[int]:
        try:
            yield 1
            release.wait(5)  # the consumer waits in receive meanwhile
            yield 2
        finally:
            closed.set()

    async with (
        trio.open_nursery() as nursery,
        audio.open_thread_stream(slow(), name="t", buffer_chunks=1) as items,
    ):
        assert await items.receive() == 1
        with trio.CancelScope() as scope:

            async def cancel_once_waiting() -> None:
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()

            nursery.start_soon(cancel_once_waiting)
            await items.receive()
            pytest.fail("not cancelled")
        assert scope.cancelled_caught
        release.set()
        assert await items.receive() == 2  # a later receive is woken for the next item
    assert closed.is_set()
    assert no_audio_threads()


async def test_a_second_task_receiving_at_once_is_refused() -> None:
    """One consumer: a second task waiting beside it would never be woken, so it is refused."""
    release = threading.Event()

    def slow() -> Iterator[int]:
        release.wait(5)
        yield 1

    got: list[int] = []
    async with audio.open_thread_stream(slow(), name="t", buffer_chunks=1) as items:

        async def first() -> None:
            got.append(await items.receive())

        # A second waiter let in would leave one task never woken: fail, not hang.
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:  # closed before the stream is left
                nursery.start_soon(first)
                await trio.testing.wait_all_tasks_blocked()  # the first waits in receive
                with pytest.raises(trio.BusyResourceError):
                    await items.receive()
                release.set()
    assert got == [1]
    assert no_audio_threads()


async def test_errors_in_the_body_are_not_wrapped(tmp_path: Path) -> None:
    """An exception raised by the consumer leaves the block as itself, not a group."""
    path = tmp_path / "a.wav"
    write_wav(path, 24_000, audio.SAMPLE_RATE)
    with pytest.raises(KeyError):
        async with audio.open_chunk_stream(path) as chunks:
            await chunks.receive()
            raise KeyError("consumer failed")


async def test_a_bug_in_the_producer_reaches_the_consumer_as_itself(tmp_path: Path) -> None:
    """Any exception from the producer is raised by receive, after the items before it."""

    def failing() -> Iterator[int]:
        yield 1
        raise ZeroDivisionError("bug")

    async with audio.open_thread_stream(failing(), name="t") as items:
        assert await items.receive() == 1
        with pytest.raises(ZeroDivisionError, match="bug"):
            await items.receive()


async def test_chunk_stream_rejects_bad_arguments_at_once(tmp_path: Path) -> None:
    """Bad arguments raise ValueError on entry, before any thread starts."""
    with pytest.raises(ValueError, match="buffer_chunks"):
        async with audio.open_chunk_stream(tmp_path / "a.wav", buffer_chunks=0):
            pass
    with pytest.raises(ValueError, match="chunk_ms"):
        async with audio.open_chunk_stream(tmp_path / "a.wav", chunk_ms=-5):
            pass
    assert no_audio_threads()


def test_watched_generator_sees_a_real_file(tmp_path: Path) -> None:
    """The watch itself: it counts the file's chunks and notes its closing."""
    path = tmp_path / "a.wav"
    write_long_wav(path, 2, 24_000)
    with wave.open(str(path)) as w:
        assert w.getnframes() == 48_000
    watch = Watch()
    assert len(list(watched(path, watch))) == 4
    assert (watch.produced, watch.closed.is_set()) == (4, True)
