"""Decoding: any audio file → mono PCM16 at the session's rate, in blocks or chunks.

Users have wav, mp3, m4a/aac, flac, ogg/vorbis, opus and webm files at any rate
and channel count. Every channel is mixed down to mono and resampled to the
session format's rate (24 kHz for pcm16, 8 kHz for G.711):

- :func:`iter_pcm` yields the file as PCM16 blocks, holding one block at a time
  (flat memory for hour-long files); the segmenter reads it;
- :func:`iter_chunks` cuts those into fixed-size chunks in the session's format,
  ready for ``input_audio_buffer.append``;
- :func:`duration_s` says how long a file is, cheaply when the container says.

Every failure to read a file is one error, :class:`~rtbatch.errors.BadAudio`,
whose message names the file and says what is wrong with it.

Decoding and resampling are FFmpeg's (libavformat, libavcodec, libswresample) via
PyAV, which ships them in a wheel: a well-kept decoder for every format above, a
good resampler, and no system ffmpeg to install. The whole path (read, decode,
downmix, resample, cut blocks) is one FFmpeg filter graph, ``amovie → aformat →
abuffersink``, so Python sees one call per block rather than one per codec
frame: for MP3 that takes 20-30% off the CPU of the earlier frame-by-frame
loop, on a par with FFmpeg's own command line (bench/bench_audio.py). That loop
(:mod:`rtbatch.audio.framewise`) remains for streams that change shape midway.
``av`` is imported lazily, inside the functions that need it, because importing
it costs more than the whole CLI's start-up budget.

Sample counts (measured with PyAV 18.1 / FFmpeg 8; ``tests/audio/test_decode.py``
pins them):

- PCM input already at the target rate and mono s16 passes through byte for byte.
- PCM and FLAC input at another rate gives the resampler's count, which is within
  one sample of ``n_in * rate / source_rate``.
- MP3 with a LAME/Xing header (what LAME and FFmpeg write) and Opus (ogg, webm)
  are gapless: the decoder drops the codec delay and padding, so the count is as
  for PCM. AAC in MP4/M4A keeps its end padding: up to 1024 extra source samples.
"""

from __future__ import annotations

import wave
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from rtbatch.audio.framewise import iter_frame_blocks, plane_view
from rtbatch.audio.g711 import Encode, g711_encoder
from rtbatch.audio.wire import (
    CHUNK_MS,
    MIN_COMMIT_MS,
    chunk_samples,
    min_commit_samples,
    sample_rate_of,
)
from rtbatch.defaults import AudioFormat
from rtbatch.errors import BadAudio

# --- opening ------------------------------------------------------------------------


def _url(path: Path) -> str:
    """The name FFmpeg opens: absolute, so that ``a:b.wav`` is not taken for a protocol."""
    return str(path.absolute())


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
        container = av.open(_url(path), mode="r")
    except PermissionError as exc:
        raise BadAudio(
            f"audio file {path} cannot be read: permission denied", code="bad_audio"
        ) from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    if not container.streams.audio:
        container.close()
        raise BadAudio(f"audio file {path} has no audio stream", code="bad_audio")
    return container, container.streams.audio[0]


def _reason(exc: BaseException) -> str:
    """FFmpeg's words for a failure, without the errno and file name PyAV adds."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


def _unreadable(path: Path, exc: BaseException) -> BadAudio:
    return BadAudio(
        f"audio file {path} is not a readable audio file: {_reason(exc)}", code="bad_audio"
    )


def _corrupt(path: Path, decoded_s: float, exc: BaseException) -> BadAudio:
    return BadAudio(
        f"audio file {path} is corrupt: decoding failed after {decoded_s:.2f} s "
        f"of audio: {_reason(exc)}",
        code="bad_audio",
    )


def duration_s(path: Path) -> float:
    """How long an audio file is, in seconds.

    The container's stated duration when it states one (no decoding: a cost
    estimate over thousands of files stays cheap); otherwise the file is decoded
    and its samples counted.

    Args:
        path: The audio file.

    Returns:
        Seconds of audio in its first audio stream.

    Raises:
        BadAudio: The file is missing, a directory, unreadable, not a media file or
            has no audio stream; or, when it has to be decoded, it is corrupt.
    """
    import av

    path = Path(path)
    container, stream = _open(path)
    with container:
        # Some containers state 0 for "unknown" (NUT written to a pipe): only a
        # positive duration is taken as stated.
        if container.duration:
            return float(container.duration) / 1_000_000  # AV_TIME_BASE is microseconds
        if stream.duration and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        samples_at: dict[int, int] = {}  # rate → samples: exact sums, one division each
        try:
            for frame in container.decode(stream):
                rate = frame.sample_rate
                samples_at[rate] = samples_at.get(rate, 0) + frame.samples
        except av.FFmpegError as exc:
            decoded_s = sum(n / rate for rate, n in samples_at.items())
            raise _corrupt(path, decoded_s, exc) from exc
        return sum(n / rate for rate, n in samples_at.items())


# --- PCM blocks ------------------------------------------------------------------------


def iter_pcm(path: Path, rate: int, block_samples: int) -> Iterator[bytes]:
    """Decode a file into mono PCM16 blocks at ``rate``; :func:`pcm_blocks`, as ``bytes``."""
    for block in pcm_blocks(path, rate, block_samples):
        yield bytes(block)


def pcm_blocks(path: Path, rate: int, block_samples: int) -> Iterator[bytes | memoryview]:
    """Decode a file into mono PCM16 blocks at ``rate``.

    A block from the filter graph is a view of its decoded frame, not a copy:
    the chunkers copy each sample into their buffer and then into the chunk they
    send, where copies to ``bytes`` on the way had cost another 0.03-0.05 CPU s
    per 20 minutes at 24 kHz.

    A WAV already mono PCM16 at ``rate`` is read as it is, with the standard
    library: FFmpeg would demux it in small packets at many times the cost and
    change nothing. Anything else runs through one FFmpeg filter graph; a stream
    whose rate, layout or sample format changes midway stops that graph, and is
    then decoded again frame by frame (:mod:`rtbatch.audio.framewise`), skipping
    the samples already yielded, which both paths produce identically. A file
    the graph cannot take at all (but PyAV can open) goes frame by frame too.

    Args:
        path: The audio file, in any format FFmpeg reads.
        rate: The output rate, Hz.
        block_samples: The size of most blocks, in samples; some (the last, and
            those around a change of shape) are shorter.

    Yields:
        Native-endian (little-endian on every PyAV platform) PCM16 blocks (bytes, or
        a memoryview valid as long as it is held); an empty file yields nothing.

    Raises:
        BadAudio: The file is missing, a directory, unreadable, not a media file,
            has no audio stream, or fails to decode (after the blocks decoded
            before the failure).
    """
    import av
    from av.error import PatchWelcomeError

    path = Path(path)
    if _is_wav_at(path, rate):
        yield from _wav_blocks(path, block_samples)
        return
    container, stream = _open(path)
    index = stream.index
    container.close()
    try:
        graph = _filter_graph(path, index, rate, block_samples)
    except av.FFmpegError:
        # PyAV opened the file, so the graph's limits are ours, not the file's:
        # the frame-by-frame path decodes it, or says what is wrong with it.
        yield from _frame_blocks(path, rate, block_samples, skip=0)
        return
    produced = 0
    try:
        while True:
            try:
                frame = graph.pull()
            except EOFError:
                return
            block = plane_view(frame)
            produced += len(block) // 2
            yield block
    except PatchWelcomeError:
        pass  # the stream changed shape: the frame-by-frame path below takes over
    except av.FFmpegError as exc:
        raise _corrupt(path, produced / rate, exc) from exc
    del graph
    yield from _frame_blocks(path, rate, block_samples, skip=produced)


def _filter_graph(path: Path, stream_index: int, rate: int, block_samples: int) -> Any:
    """``amovie → aformat → abuffersink``: a file in, mono s16 blocks at ``rate`` out."""
    from av.filter import Graph

    graph = Graph()
    # The file name goes in as an option, not in a filter string: no escaping.
    # One decoding thread: files are already decoded in parallel, one per worker.
    source = graph.add("amovie", filename=_url(path), si=str(stream_index), dec_threads="1")
    shape = graph.add("aformat", sample_rates=str(rate), sample_fmts="s16", channel_layouts="mono")
    sink = graph.add("abuffersink")
    graph.link_nodes(source, shape, sink)
    graph.configure()
    graph.set_audio_frame_size(block_samples)
    return graph


def _frame_blocks(path: Path, rate: int, block_samples: int, *, skip: int) -> Iterator[bytes]:
    """The frame-by-frame path, without its first ``skip`` samples."""
    import av

    container, stream = _open(path)
    produced = 0
    to_skip = skip
    with container:
        try:
            for block in iter_frame_blocks(container, stream, rate, block_samples):
                samples = len(block) // 2
                produced += samples
                if to_skip >= samples:
                    to_skip -= samples
                    continue
                if to_skip:
                    block, to_skip = block[to_skip * 2 :], 0
                yield block
        except av.FFmpegError as exc:
            raise _corrupt(path, produced / rate, exc) from exc


def _is_wav_at(path: Path, rate: int) -> bool:
    """Whether a file is a WAV already mono PCM16 at ``rate``.

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
        rate,
        "NONE",
    )


def _wav_blocks(path: Path, block_samples: int) -> Iterator[bytes]:
    try:
        with wave.open(str(path), "rb") as reader:
            while block := reader.readframes(block_samples):
                yield block
    except (wave.Error, EOFError, OSError) as exc:
        raise BadAudio(f"audio file {path} cannot be read: {exc}", code="bad_audio") from exc


# --- chunks ----------------------------------------------------------------------------


def iter_chunks(
    path: Path, *, fmt: AudioFormat = "pcm16", chunk_ms: int = CHUNK_MS
) -> Generator[bytes, None, None]:
    """Decode an audio file into chunks ready for ``input_audio_buffer.append``.

    See the module docstring for the sample counts to expect. Synchronous and
    CPU-bound: from trio, use :func:`~rtbatch.audio.bridge.open_chunk_stream`.
    Holds about one chunk of audio at a time.

    Args:
        path: The audio file, in any format FFmpeg reads.
        fmt: The session's input audio format.
        chunk_ms: Audio per chunk, in milliseconds.

    Returns:
        A generator of chunks of exactly ``chunk_ms`` of audio in ``fmt`` (pcm16:
        48 bytes per ms, little-endian; G.711: 8 bytes per ms); the last chunk may
        be shorter. G.711 chunks are cut from PCM16 first, then encoded.

    Raises:
        ValueError: ``fmt`` or ``chunk_ms`` is invalid (at the call, before
            anything is read).
        BadAudio: While iterating: as :func:`iter_pcm`; or the file holds less than
            :data:`~rtbatch.audio.wire.MIN_COMMIT_MS` of audio, which is only known
            at its end: with ``chunk_ms >= MIN_COMMIT_MS`` nothing is yielded for
            such a file.
    """
    rate = sample_rate_of(fmt)
    size = chunk_samples(fmt, chunk_ms)
    encode: Encode = bytes if fmt == "pcm16" else g711_encoder(fmt)
    return _chunks(Path(path), rate, size, encode)


def _chunks(path: Path, rate: int, size: int, encode: Encode) -> Generator[bytes, None, None]:
    chunk_bytes = size * 2
    pending = bytearray()
    sent = 0
    for block in pcm_blocks(path, rate, size):
        if not pending and len(block) == chunk_bytes:
            sent += size
            yield encode(block)
            continue
        pending += block
        while len(pending) >= chunk_bytes:
            sent += size
            yield take(pending, chunk_bytes, encode)
    check_committable(path, rate, sent + len(pending) // 2)
    if pending:
        yield take(pending, len(pending), encode)


def take(pending: bytearray, size: int, encode: Encode) -> bytes:
    """Encode the first ``size`` bytes of ``pending`` and remove them from it.

    Through a view: slicing the bytearray would copy them once more first.
    """
    with memoryview(pending) as view:
        out = encode(view[:size])
    del pending[:size]
    return out


def check_committable(path: Path, rate: int, total_samples: int) -> None:
    """Raise BadAudio unless a file's ``total_samples`` at ``rate`` can be committed.

    Raises:
        BadAudio: The file holds no samples, or fewer than :data:`MIN_COMMIT_MS`.
    """
    if total_samples == 0:
        raise BadAudio(f"audio file {path} is empty: it holds no audio samples", code="bad_audio")
    if total_samples < min_commit_samples(rate):
        raise BadAudio(
            f"audio file {path} is shorter than {MIN_COMMIT_MS} ms "
            f"({total_samples * 1000 / rate:.1f} ms of audio); the service cannot commit it",
            code="bad_audio",
        )
