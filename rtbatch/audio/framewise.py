"""Decoding frame by frame in Python: the path for streams that change shape midway.

The usual path (:mod:`rtbatch.audio.decode`) runs demuxing, decoding and
resampling inside one FFmpeg filter graph, whose links have one fixed rate,
layout and sample format. A stream that changes any of them midway
(concatenated MP3s, a mono advert spliced into a stereo podcast) stops that
graph with "not yet implemented". This path handles such streams: PyAV decodes
each frame, and :class:`FrameConverter` rebuilds its resampling graph whenever
the frames change shape. It costs a quarter to a half more CPU (one Python
round trip per decoded frame), so it is the fallback, not the rule. Given the same frames,
both paths produce the same samples, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, final

# Output samples of slack before asking the resampler for a block: its filter
# holds back a few samples, and asking too early costs a failed pull.
_PULL_SLACK_SAMPLES: Final = 64


def plane_bytes(frame: Any) -> bytes:
    """The samples of a packed mono s16 frame (its plane is padded for alignment).

    FFmpeg's s16 is native-endian: little-endian, as the API wants, on every
    platform PyAV publishes wheels for (x86-64, arm64).
    """
    with memoryview(frame.planes[0]) as view:
        return bytes(view[: frame.samples * 2])


def plane_view(frame: Any) -> memoryview:
    """:func:`plane_bytes` without the copy: a view that keeps the frame alive."""
    return memoryview(frame.planes[0])[: frame.samples * 2]


def iter_frame_blocks(
    container: Any, stream: Any, rate: int, block_samples: int
) -> Iterator[bytes]:
    """Decode ``stream`` of an open PyAV ``container`` to mono s16 at ``rate``.

    Args:
        container: An open PyAV input container; the caller closes it.
        stream: Its audio stream to decode.
        rate: The output rate, Hz.
        block_samples: The size of most output blocks; blocks around a change of
            shape, and the last, may be shorter.

    Yields:
        Native-endian PCM16 blocks.

    Raises:
        av.FFmpegError: Decoding failed (after the blocks decoded before it).
    """
    converter = FrameConverter(rate, block_samples)
    for frame in container.decode(stream):
        yield from converter.convert(frame)
    yield from converter.flush()


@final
class FrameConverter:
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
    such input comes out byte for byte. A stream that changes rate, layout or
    sample format midway gets a new graph; the old one is flushed first.
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
            out.append(plane_bytes(frame))
            return out
        frame.pts = None  # only the samples matter; no timestamp-driven padding
        self._graph.push(frame)
        self._pushed += frame.samples
        if self._pushed * self._rate // self._in_rate >= self._next_pull:
            out.extend(self._pull())
        return out

    def flush(self) -> list[bytes]:
        """Drain the resampler at the end of the stream (or of a stretch of one shape)."""
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
            out.append(plane_bytes(frame))
            self._pulled += frame.samples
        self._next_pull = self._pulled + self._block_samples + _PULL_SLACK_SAMPLES
        return out
