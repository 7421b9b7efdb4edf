"""Audio in and out: any audio file → Realtime input chunks; output PCM → WAV.

The Realtime API takes input audio as 24 kHz mono PCM16 little-endian (or G.711
μ-law/A-law at 8 kHz), base64-encoded in ``input_audio_buffer.append`` events, and
refuses to commit less than 100 ms. Users have wav, mp3, m4a/aac, flac, ogg/vorbis,
opus and webm files at any rate and channel count. This module turns one such file
into a stream of fixed-size chunks in the session's format:

- :func:`probe` reads a file's parameters (cheap: no decoding);
- :func:`iter_chunks` decodes, downmixes, resamples and cuts chunks, synchronously,
  holding one chunk's worth of audio at a time (flat memory for hour-long files);
- :func:`open_chunk_stream` runs :func:`iter_chunks` in a worker thread and hands
  the chunks to trio over a small bounded channel, so decoding never blocks the
  event loop;
- :class:`WavWriter` streams a response's output audio to a WAV file.

Every failure to read a file is one error, :class:`~rtbatch.errors.BadAudio`,
whose message names the file and says what is wrong with it.

Decoding and resampling are FFmpeg's (libavformat, libavcodec, libswresample) via
PyAV, which ships them in a wheel: a well-kept decoder for every format above, a
good resampler, and no system ffmpeg to install. ``av`` is imported lazily, inside
the functions that need it, because importing it costs more than the whole CLI's
start-up budget.

Sample counts (measured with PyAV 18.1 / FFmpeg 8; ``tests/test_audio.py`` pins them):

- PCM input already at the target rate and mono s16 passes through byte for byte.
- PCM and FLAC input at another rate gives the resampler's count, which is within
  one sample of ``n_in * rate / source_rate``.
- MP3 with a LAME/Xing header (what LAME and FFmpeg write) and Opus (ogg, webm)
  are gapless: the decoder drops the codec delay and padding, so the count is as
  for PCM. AAC in MP4/M4A keeps its end padding: up to 1024 extra source samples.
"""

from __future__ import annotations

import contextlib
import functools
import wave
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, final

import trio

from rtbatch.defaults import AUDIO_FORMATS, AudioFormat
from rtbatch.errors import BadAudio

if TYPE_CHECKING:
    import outcome

SAMPLE_RATE: Final = 24_000
"""Hz: the only PCM16 rate the Realtime API accepts."""
G711_SAMPLE_RATE: Final = 8_000
"""Hz: the rate of G.711 μ-law and A-law audio (one byte per sample)."""
CHUNK_MS: Final = 500
"""Default audio per ``input_audio_buffer.append``: 24,000 bytes of pcm16."""
MIN_COMMIT_MS: Final = 100
"""The service refuses to commit a buffer holding less audio than this."""
APPEND_LIMIT_BYTES: Final = 15 * 1024 * 1024
"""The service's limit on one append event. Whether it counts decoded or base64
bytes is not documented, so chunk sizes are checked against the base64 size."""
BUFFER_CHUNKS: Final = 4
"""Default number of decoded chunks :func:`open_chunk_stream` keeps ready."""


# How long leaving open_chunk_stream waits for its decoding thread to notice that
# the consumer has gone. The thread checks between chunks, so it normally stops
# within one chunk's decoding time (about a millisecond); the cap only matters if
# the file system hangs, and then the thread is abandoned rather than the caller.
_THREAD_EXIT_TIMEOUT_S: Final = 5.0
# Output samples of slack before asking the resampler for a chunk: its filter
# holds back a few samples, and asking too early costs a failed pull.
_PULL_SLACK_SAMPLES: Final = 64


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What :func:`probe` learns about an audio file without decoding it."""

    path: Path
    #: Seconds, as the container states it; ``None`` when the container does not say.
    duration_s: float | None
    #: The source sample rate, Hz.
    sample_rate: int
    channels: int
    #: The decoder's name, e.g. ``"mp3float"``, ``"pcm_s16le"``, ``"opus"``.
    codec: str


def sample_rate_of(fmt: AudioFormat) -> int:
    """The sample rate of audio sent in ``fmt``, in Hz.

    Raises:
        ValueError: ``fmt`` is not one of :data:`AUDIO_FORMATS`.
    """
    if fmt == "pcm16":
        return SAMPLE_RATE
    if fmt in ("g711_ulaw", "g711_alaw"):
        return G711_SAMPLE_RATE
    raise ValueError(f"unknown audio format {fmt!r}; expected one of {', '.join(AUDIO_FORMATS)}")


def bytes_per_second(fmt: AudioFormat) -> int:
    """Bytes of ``fmt`` audio per second: 48,000 for pcm16, 8,000 for G.711."""
    return sample_rate_of(fmt) * (2 if fmt == "pcm16" else 1)


def duration_ms(n_bytes: int, fmt: AudioFormat = "pcm16") -> float:
    """Milliseconds of audio in ``n_bytes`` of ``fmt``."""
    return n_bytes * 1000 / bytes_per_second(fmt)


def pcm16_samples(n_bytes: int) -> int:
    """Samples in ``n_bytes`` of mono PCM16 (two bytes each)."""
    return n_bytes // 2


# --- opening and probing ---------------------------------------------------------


def _open(path: Path) -> tuple[Any, Any]:
    """Open ``path`` with PyAV; return the container and its first audio stream.

    The caller closes the container. Raises BadAudio naming the file.
    """
    import av

    if not path.exists():
        raise BadAudio(f"audio file {path} does not exist", code="bad_audio")
    if path.is_dir():
        raise BadAudio(f"audio file {path} is a directory, not a file", code="bad_audio")
    try:
        container = av.open(str(path), mode="r")
    except PermissionError as exc:
        raise BadAudio(
            f"audio file {path} cannot be read: permission denied", code="bad_audio"
        ) from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise BadAudio(
            f"audio file {path} is not a readable audio file: {_reason(exc)}", code="bad_audio"
        ) from exc
    if not container.streams.audio:
        container.close()
        raise BadAudio(f"audio file {path} has no audio stream", code="bad_audio")
    return container, container.streams.audio[0]


def _reason(exc: BaseException) -> str:
    """FFmpeg's words for a failure, without the errno and file name PyAV adds."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


def probe(path: Path) -> AudioInfo:
    """Read the parameters of a file's first audio stream, without decoding it.

    Args:
        path: The audio file.

    Returns:
        The stream's rate, channel count and codec, and the container's duration.

    Raises:
        BadAudio: The file is missing, a directory, unreadable, not a media file,
            or has no audio stream. A file that opens here can still fail to
            decode in :func:`iter_chunks`.
    """
    path = Path(path)
    container, stream = _open(path)
    try:
        duration_s: float | None = None
        if container.duration is not None:
            duration_s = container.duration / 1_000_000  # AV_TIME_BASE is microseconds
        elif stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        return AudioInfo(
            path=path,
            duration_s=duration_s,
            sample_rate=int(stream.codec_context.sample_rate),
            channels=int(stream.codec_context.channels),
            codec=str(stream.codec_context.name),
        )
    finally:
        container.close()


# --- decoding, resampling, chunking ----------------------------------------------


@final
class _Converter:
    """Decoded frames in → mono s16 at ``rate`` out, as bytes blocks.

    A thin layer over an FFmpeg filter graph (abuffer → aformat → abuffersink),
    where aformat makes FFmpeg insert libswresample for the downmix, rate and
    sample-format conversion. The sink cuts its output into blocks of exactly
    ``block_samples`` (the last one shorter), so the caller rarely re-slices.

    Why not ``av.AudioResampler``, which builds the same graph: it pulls after every
    pushed frame, and a pull with nothing ready raises an exception that costs
    about 10 µs. At one frame per 20 ms that doubled the cost of the whole audio
    path (bench/bench_audio.py). Here a pull happens only when a block should be
    ready.

    Frames already in the target shape (mono s16 at ``rate``) bypass the graph, so
    24 kHz mono PCM16 input comes out byte for byte. A stream that changes rate,
    layout or sample format midway gets a new graph; the old one is flushed first.
    """

    def __init__(self, rate: int, block_samples: int) -> None:
        self._rate = rate
        self._block_samples = block_samples
        self._key: tuple[str, str, int, int] | None = None
        self._graph: Any = None
        self._in_rate = 0
        self._pushed = 0  # source samples pushed into the current graph
        self._pulled = 0  # output samples pulled from the current graph
        self._next_pull = 0  # pull once this many output samples should exist

    def convert(self, frame: Any) -> list[bytes]:
        """Push one decoded frame; return the blocks that became ready (maybe none)."""
        channels = frame.layout.nb_channels
        key = (frame.format.name, frame.layout.name, frame.sample_rate, channels)
        out: list[bytes] = []
        if key != self._key:
            out.extend(self.flush())
            self._key = key
            if (
                channels == 1
                and frame.format.name in ("s16", "s16p")
                and frame.sample_rate == self._rate
            ):
                self._graph = None  # already in shape: pass the samples through
            else:
                self._graph = self._make_graph(frame)
        if self._graph is None:
            out.append(_plane_bytes(frame))
            return out
        frame.pts = None  # only the samples matter; no timestamp-driven padding
        self._graph.push(frame)
        self._pushed += frame.samples
        if self._pushed * self._rate // self._in_rate >= self._next_pull:
            out.extend(self._pull())
        return out

    def flush(self) -> list[bytes]:
        """Drain the resampler at the end of the stream (or of a stream segment)."""
        if self._graph is None:
            return []
        self._graph.push(None)
        out = self._pull()
        self._graph = None
        self._key = None
        return out

    def _make_graph(self, frame: Any) -> Any:
        from av.filter import Graph

        graph = Graph()
        source = graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
            time_base=f"1/{frame.sample_rate}",
        )
        shape = graph.add(
            "aformat", sample_rates=str(self._rate), sample_fmts="s16", channel_layouts="mono"
        )
        sink = graph.add("abuffersink")
        graph.link_nodes(source, shape, sink)
        graph.configure()
        graph.set_audio_frame_size(self._block_samples)
        self._in_rate = frame.sample_rate
        self._pushed = 0
        self._pulled = 0
        self._next_pull = self._block_samples + _PULL_SLACK_SAMPLES
        return graph

    def _pull(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            try:
                frame = self._graph.pull()
            except (BlockingIOError, EOFError):  # PyAV's EAGAIN / end-of-stream errors
                break
            out.append(_plane_bytes(frame))
            self._pulled += frame.samples
        self._next_pull = self._pulled + self._block_samples + _PULL_SLACK_SAMPLES
        return out


def _plane_bytes(frame: Any) -> bytes:
    """The samples of a packed mono s16 frame (its plane is padded for alignment).

    FFmpeg's s16 is native-endian: little-endian, as the API wants, on every
    platform PyAV publishes wheels for (x86-64, arm64).
    """
    with memoryview(frame.planes[0]) as view:
        return bytes(view[: frame.samples * 2])


def _check_chunk_ms(fmt: AudioFormat, chunk_ms: int) -> int:
    """Validate ``chunk_ms``; return the samples per chunk."""
    if not isinstance(chunk_ms, int) or chunk_ms <= 0:
        raise ValueError(
            f"chunk_ms must be a positive whole number of milliseconds, got {chunk_ms!r}"
        )
    chunk_bytes = bytes_per_second(fmt) * chunk_ms // 1000
    if (chunk_bytes + 2) // 3 * 4 > APPEND_LIMIT_BYTES:
        raise ValueError(
            f"chunk_ms={chunk_ms} makes {chunk_bytes} bytes per append, over the service's "
            f"{APPEND_LIMIT_BYTES} byte limit once base64-encoded"
        )
    return sample_rate_of(fmt) * chunk_ms // 1000


def iter_chunks(
    path: Path, *, fmt: AudioFormat = "pcm16", chunk_ms: int = CHUNK_MS
) -> Generator[bytes, None, None]:
    """Decode an audio file into chunks ready for ``input_audio_buffer.append``.

    Every channel is mixed down to mono and the audio is resampled to the format's
    rate (24 kHz for pcm16, 8 kHz for G.711); see the module docstring for the
    sample counts to expect. Synchronous and CPU-bound: from trio, use
    :func:`open_chunk_stream`. Holds about one chunk of audio at a time.

    Args:
        path: The audio file, in any format FFmpeg reads.
        fmt: The session's input audio format.
        chunk_ms: Audio per chunk, in milliseconds.

    Yields:
        Chunks of exactly ``chunk_ms`` of audio in ``fmt`` (pcm16: 48 bytes per ms,
        little-endian; G.711: 8 bytes per ms); the last chunk may be shorter.

    Raises:
        ValueError: ``fmt`` or ``chunk_ms`` is invalid (before anything is read).
        BadAudio: The file cannot be opened (see :func:`probe`) or fails to decode
            (the chunks before the failure have been yielded); or it holds less
            than :data:`MIN_COMMIT_MS` of audio, which is only known at its end:
            with ``chunk_ms >= MIN_COMMIT_MS`` nothing is yielded for such a file.
    """
    rate = sample_rate_of(fmt)
    chunk_samples = _check_chunk_ms(fmt, chunk_ms)
    path = Path(path)
    # G.711 chunks are cut from PCM16 first, then encoded one byte per sample.
    encode: Callable[[bytes], bytes] = _g711_encoder(fmt) if fmt != "pcm16" else bytes
    if fmt == "pcm16" and _is_native_wav(path):
        return _wav_chunks(path, chunk_samples)
    return _chunks(path, rate, chunk_samples, encode)


def _is_native_wav(path: Path) -> bool:
    """Whether a file is a WAV already in the service's format (24 kHz mono PCM16).

    Such a file is sent as it is, read with the standard library: PyAV would
    demux it in small packets at many times the cost and change nothing.
    Anything else (another rate or layout, WAVE_FORMAT_EXTENSIBLE, not a WAV,
    unreadable) takes the general path, errors included.
    """
    try:
        with wave.open(str(path), "rb") as reader:
            params = reader.getparams()
    except (wave.Error, EOFError, OSError):
        return False
    return (params.nchannels, params.sampwidth, params.framerate, params.comptype) == (
        1,
        2,
        SAMPLE_RATE,
        "NONE",
    )


def _wav_chunks(path: Path, chunk_samples: int) -> Generator[bytes, None, None]:
    sent_samples = 0
    try:
        with wave.open(str(path), "rb") as reader:
            while len(block := reader.readframes(chunk_samples)) == chunk_samples * 2:
                sent_samples += chunk_samples
                yield block
    except (wave.Error, EOFError, OSError) as exc:
        raise BadAudio(f"audio file {path} cannot be read: {exc}", code="bad_audio") from exc
    yield from _tail(path, SAMPLE_RATE, sent_samples, bytearray(block), bytes)


def _chunks(
    path: Path, rate: int, chunk_samples: int, encode: Callable[[bytes], bytes]
) -> Generator[bytes, None, None]:
    import av

    chunk_bytes = chunk_samples * 2
    converter = _Converter(rate, chunk_samples)
    pending = bytearray()
    sent_samples = 0
    decoded_s = 0.0  # source position, for error messages
    container, stream = _open(path)
    with container:
        try:
            for frame in container.decode(stream):
                decoded_s += frame.samples / frame.sample_rate
                for block in converter.convert(frame):
                    if not pending and len(block) == chunk_bytes:
                        sent_samples += chunk_samples
                        yield encode(block)
                        continue
                    pending += block
                    while len(pending) >= chunk_bytes:
                        sent_samples += chunk_samples
                        yield encode(bytes(pending[:chunk_bytes]))
                        del pending[:chunk_bytes]
            for block in converter.flush():
                pending += block
        except av.FFmpegError as exc:
            raise BadAudio(
                f"audio file {path} is corrupt: decoding failed after {decoded_s:.2f} s "
                f"of audio: {_reason(exc)}",
                code="bad_audio",
            ) from exc
    while len(pending) >= chunk_bytes:
        sent_samples += chunk_samples
        yield encode(bytes(pending[:chunk_bytes]))
        del pending[:chunk_bytes]
    yield from _tail(path, rate, sent_samples, pending, encode)


def _tail(
    path: Path, rate: int, sent_samples: int, pending: bytearray, encode: Callable[[bytes], bytes]
) -> Generator[bytes, None, None]:
    """The last, partial chunk, once the file is known to hold enough audio to commit."""
    total = sent_samples + len(pending) // 2
    if total == 0:
        raise BadAudio(f"audio file {path} is empty: it holds no audio samples", code="bad_audio")
    if total * 1000 < MIN_COMMIT_MS * rate:
        raise BadAudio(
            f"audio file {path} is shorter than {MIN_COMMIT_MS} ms "
            f"({total * 1000 / rate:.1f} ms of audio); the service cannot commit it",
            code="bad_audio",
        )
    if pending:
        yield encode(bytes(pending))


# --- G.711 -------------------------------------------------------------------------
#
# G.711 is encoded with a 65,536-entry table (one code per 16-bit sample), built
# once in pure Python from the ITU-T reference algorithm, the one CPython's
# audioop implements; the tests check every entry against audioop. FFmpeg's
# pcm_mulaw/pcm_alaw encoders would be about 50 times faster, but they quantise to
# the nearest level rather than by the G.711 decision values, so they disagree with
# the reference on 512 (μ-law) and 964 (A-law) of the 65,536 inputs, one step off
# at each segment boundary. audioop itself is deprecated and gone in Python 3.13.
# The table costs about 65 ns per sample, 1.9 CPU seconds per hour of 8 kHz audio.

_ULAW_SEGMENT_ENDS: Final = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEGMENT_ENDS: Final = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def _ulaw_code(sample: int) -> int:
    """G.711 μ-law code of one signed 16-bit sample (on its top 14 bits)."""
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 33  # clip, then add the bias
    seg = _segment(value, _ULAW_SEGMENT_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _alaw_code(sample: int) -> int:
    """G.711 A-law code of one signed 16-bit sample (on its top 13 bits)."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _segment(value, _ALAW_SEGMENT_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    step = 1 if seg < 2 else seg
    return ((seg << 4) | ((value >> step) & 0x0F)) ^ mask


@functools.cache
def _g711_table(fmt: AudioFormat) -> list[int]:
    """Code for every 16-bit sample, indexed by the sample's unsigned bit pattern."""
    code = _ulaw_code if fmt == "g711_ulaw" else _alaw_code
    return [code(u - 0x10000 if u >= 0x8000 else u) for u in range(0x10000)]


def _g711_encoder(fmt: AudioFormat) -> Callable[[bytes], bytes]:
    table = _g711_table(fmt)
    lookup = table.__getitem__

    def encode(pcm: bytes) -> bytes:
        # memoryview.cast("H") reads native-endian samples; FFmpeg's s16 is native too.
        with memoryview(pcm) as view, view.cast("H") as samples:
            return bytes(map(lookup, samples))

    return encode


def pcm16_to_g711(pcm: bytes, fmt: Literal["g711_ulaw", "g711_alaw"]) -> bytes:
    """Encode PCM16 (native byte order, any rate) as G.711, one byte per sample.

    Raises:
        ValueError: ``fmt`` is not a G.711 format, or ``pcm`` holds half a sample.
    """
    if fmt not in ("g711_ulaw", "g711_alaw"):
        raise ValueError(f"not a G.711 format: {fmt!r}")
    if len(pcm) % 2:
        raise ValueError(f"PCM16 must be whole 2-byte samples, got {len(pcm)} bytes")
    return _g711_encoder(fmt)(pcm)


# --- the async face ----------------------------------------------------------------


@final
class ChunkStream:
    """The receiving end of :func:`open_chunk_stream`: an async iterator of chunks.

    After the last chunk, ``async for`` ends; if decoding failed, the BadAudio is
    raised to the consumer instead, after the chunks decoded before the failure.
    """

    def __init__(self, receive: trio.MemoryReceiveChannel[bytes | BaseException]) -> None:
        self._receive = receive

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def receive(self) -> bytes:
        """The next chunk; raises ``trio.EndOfChannel`` after the last one.

        Raises:
            BadAudio: The file could not be decoded (in order, after the good chunks).
            trio.EndOfChannel: There are no more chunks.
        """
        item = await self._receive.receive()
        if isinstance(item, BaseException):
            raise item
        return item


@asynccontextmanager
async def open_chunk_stream(
    path: Path,
    *,
    fmt: AudioFormat = "pcm16",
    chunk_ms: int = CHUNK_MS,
    buffer_chunks: int = BUFFER_CHUNKS,
) -> AsyncIterator[ChunkStream]:
    """Decode a file in a worker thread and receive its chunks in trio.

    One thread per file runs :func:`iter_chunks`; it hands chunks over a memory
    channel of ``buffer_chunks``, and waits when that is full, so a slow consumer
    holds back decoding and memory stays at a few chunks. Use::

        async with open_chunk_stream(path) as chunks:
            async for chunk in chunks:
                await send_append(chunk)

    There is no nursery inside: exceptions raised in the ``async with`` body come
    out as they are, never wrapped in an exception group. The thread is started
    with ``trio.lowlevel.start_thread_soon`` and joined on the way out.

    Args:
        path: The audio file.
        fmt: The session's input audio format.
        chunk_ms: Audio per chunk, in milliseconds.
        buffer_chunks: Decoded chunks kept ready ahead of the consumer (>= 1).

    Yields:
        A :class:`ChunkStream`, which raises BadAudio once the good chunks are out.

    Raises:
        ValueError: ``fmt``, ``chunk_ms`` or ``buffer_chunks`` is invalid.

    On cancellation, or when the body leaves before the last chunk, the channel is
    closed, the thread stops at its next chunk and closes the file, and leaving
    waits for that (shielded, up to a few seconds; then the thread is abandoned and
    stops on its own when its file read returns).
    """
    if not isinstance(buffer_chunks, int) or buffer_chunks < 1:
        raise ValueError(f"buffer_chunks must be a whole number >= 1, got {buffer_chunks!r}")
    chunks = iter_chunks(path, fmt=fmt, chunk_ms=chunk_ms)  # validates before any thread
    send, receive = trio.open_memory_channel[bytes | BaseException](buffer_chunks)
    token = trio.lowlevel.current_trio_token()
    joined = trio.Event()

    def produce() -> None:  # runs in the worker thread
        error: BaseException | None = None
        try:
            for chunk in chunks:
                trio.from_thread.run(send.send, chunk, trio_token=token)
        except (trio.BrokenResourceError, trio.Cancelled, trio.RunFinishedError):
            return  # the consumer left (or the run is ending): stop decoding
        except BaseException as exc:
            error = exc  # BadAudio, or a bug: the consumer gets it after the good chunks
        finally:
            chunks.close()  # closes the file if we stopped early
        with contextlib.suppress(trio.BrokenResourceError, trio.Cancelled, trio.RunFinishedError):
            trio.from_thread.run(_finish, send, error, trio_token=token)

    def deliver(result: outcome.Outcome[None]) -> None:  # in the thread, after produce
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(joined.set)

    trio.lowlevel.start_thread_soon(produce, deliver, name=f"rtbatch audio {Path(path).name}")
    try:
        async with receive:
            yield ChunkStream(receive)
    finally:
        # The receive channel is closed now, so the thread's next send fails and it
        # returns. Wait for it, even when cancelled, so no thread outlives the block.
        with trio.move_on_after(_THREAD_EXIT_TIMEOUT_S, shield=True):
            await joined.wait()


async def _finish(
    send: trio.MemorySendChannel[bytes | BaseException], error: BaseException | None
) -> None:
    """Close the producer's end, after passing on the error that ended it, if any."""
    async with send:
        if error is not None:
            await send.send(error)


# --- output audio -------------------------------------------------------------------


@final
class WavWriter:
    """Write mono PCM16 (24 kHz by default) to a WAV file as it arrives.

    ``close`` (or leaving the ``with`` block) patches the RIFF and data sizes, so
    the file is valid however many writes there were, even none. A write may end
    in the middle of a sample; the odd byte is carried to the next write, and a
    byte still left at close is dropped (it is not a whole sample).
    """

    def __init__(self, path: Path, *, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self._wave = wave.Wave_write(str(self.path))
        self._wave.setnchannels(1)
        self._wave.setsampwidth(2)
        self._wave.setframerate(sample_rate)
        self._odd = b""
        self.frames = 0
        """Samples written so far."""

    def write(self, pcm: bytes) -> None:
        """Append little-endian PCM16 samples."""
        if self._odd:
            pcm = self._odd + pcm
            self._odd = b""
        if len(pcm) % 2:
            pcm, self._odd = pcm[:-1], pcm[-1:]
        self._wave.writeframesraw(pcm)
        self.frames += len(pcm) // 2

    @property
    def duration_s(self) -> float:
        """Seconds of audio written so far."""
        return self.frames / self._wave.getframerate()

    def close(self) -> None:
        """Finish the file: patch its header sizes and close it. Idempotent."""
        self._wave.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
