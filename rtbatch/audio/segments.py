"""Segmentation: a long file cut at silences into segments the service can take.

Transcription models cap what one item may hold: input transcription runs
through the service's file-transcription path, where ``gpt-4o-transcribe``
refuses audio over about 1,400 s and every transcribe model stops at 2,000
output tokens, roughly ten minutes of dense speech. So a long file is sent as
segments, each committed as its own item, cut where someone pauses:

- :func:`iter_segmented` decodes the file once and yields, in order, the chunks
  of each segment followed by its :class:`Cut`;
- :func:`open_segment_stream` is its async twin, decoding in a worker thread
  (:mod:`rtbatch.audio.bridge`).

The rule, in one pass with no lookahead: the decoded audio flows through a
silence detector with FFmpeg's ``silencedetect`` rule (:mod:`rtbatch.audio.silence`)
while chunks go out.
Once a segment is ``max_segment_ms - tolerance_ms`` long, the first silence the
detector reports from there on ends it, with the cut in the middle of the part
of that silence seen so far, not yet sent and within the limit. A segment that
reaches ``max_segment_ms`` with no silence is cut there (a *hard* cut). Every
sample lies in exactly one segment.

Chunks never straddle a cut: a segment's chunks start at its first sample, and
the last one is short. Chunks go out 100 ms (:data:`~rtbatch.audio.wire.MIN_COMMIT_MS`)
behind the decoder, so that when a file ends less than 100 ms after a cut, which
the service could not commit as a segment, the tail still fits: it joins the
segment before it, or, when that would make it longer than ``max_segment_ms``,
the cut moves back so the last segment is exactly 100 ms. Memory holds about one
chunk and one decoded block, whatever the file's length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from rtbatch.audio.bridge import BUFFER_CHUNKS, ThreadStream, open_thread_stream
from rtbatch.audio.decode import check_committable, pcm_blocks, take
from rtbatch.audio.g711 import Encode, g711_encoder
from rtbatch.audio.silence import Silence, SilenceDetector
from rtbatch.audio.wire import (
    CHUNK_MS,
    MIN_COMMIT_MS,
    chunk_samples,
    min_commit_samples,
    sample_rate_of,
)

# The longest segment is the run's default (rtbatch.defaults says why), stated there
# once; a segment lost to a dropped connection costs at most this much audio again.
from rtbatch.defaults import MAX_SEGMENT_MS as MAX_SEGMENT_MS
from rtbatch.defaults import AudioFormat


class SegmentMismatch(ValueError):
    """Raised when a resume point (``start_sample``) is not a segment boundary of the file."""


SEGMENT_TOLERANCE_MS: Final = 60_000
"""How far before :data:`MAX_SEGMENT_MS` a silence may end a segment: segments are
4 to 5 minutes long. Long enough that conversation (a pause of half a second every
few sentences) almost never needs a hard cut; short enough that segments stay
near the limit, so a file has few of them."""

CutKind = Literal["silence", "hard", "end"]
"""Why a segment ends: in a silence; at ``max_segment_ms`` (no silence in the
tolerance) or where a tiny tail forced it; at the end of the file."""


@dataclass(frozen=True, slots=True)
class Cut:
    """The end of one segment, yielded after its last chunk.

    Positions are in samples at the session format's rate (24 kHz for pcm16,
    8 kHz for G.711), from the start of the file; segment ``index`` holds samples
    ``start_sample`` to ``end_sample - 1``, and the next one starts at
    ``end_sample``.
    """

    index: int
    start_sample: int
    end_sample: int
    kind: CutKind
    #: Hz, of the positions.
    rate: int

    @property
    def samples(self) -> int:
        """Samples in the segment."""
        return self.end_sample - self.start_sample

    @property
    def start_ms(self) -> int:
        """Where the segment starts in the file, ms (rounded down)."""
        return self.start_sample * 1000 // self.rate

    @property
    def end_ms(self) -> int:
        """Where the segment ends in the file, ms (rounded down, so the next
        segment's ``start_ms`` equals it)."""
        return self.end_sample * 1000 // self.rate


def iter_segmented(
    path: Path,
    *,
    fmt: AudioFormat = "pcm16",
    chunk_ms: int = CHUNK_MS,
    max_segment_ms: int = MAX_SEGMENT_MS,
    tolerance_ms: int = SEGMENT_TOLERANCE_MS,
    start_sample: int = 0,
) -> Generator[bytes | Cut, None, None]:
    """Decode a file once into segments cut at silences; see the module docstring.

    Synchronous and CPU-bound: from trio, use :func:`open_segment_stream`.

    ``start_sample`` resumes at a segment boundary (a :attr:`Cut.end_sample` from an
    earlier run on the same file and arguments): the file is decoded and
    segmented from its start, exactly as before, and what lies before
    ``start_sample`` is dropped unsent. That costs the decoding of the skipped
    part (seconds of CPU per audio hour) and buys exactness: the same samples,
    the same cuts, the same indices as the first run. (Seeking would start the
    decoder and the silence detector in another state, and move the cuts.)

    Args:
        path: The audio file, in any format FFmpeg reads.
        fmt: The session's input audio format.
        chunk_ms: Audio per chunk, in milliseconds (a segment's last is shorter).
        max_segment_ms: No segment is longer than this.
        tolerance_ms: A silence this close to ``max_segment_ms`` ends a segment.
        start_sample: Yield only the segments from this boundary on.

    Returns:
        A generator of, per segment in order, its chunks in ``fmt`` and then its
        :class:`Cut`.

    Raises:
        ValueError: At the call: ``fmt`` or ``chunk_ms`` is invalid (as for
            :func:`~rtbatch.audio.decode.iter_chunks`), ``max_segment_ms -
            tolerance_ms`` is under 200 ms (two committable segments) or
            ``tolerance_ms`` or ``start_sample`` is negative. While iterating:
            ``start_sample`` is not a segment boundary of this file.
        BadAudio: While iterating: as for :func:`~rtbatch.audio.decode.iter_chunks`
            (unreadable, corrupt, empty, or under 100 ms of audio).
    """
    rate = sample_rate_of(fmt)
    chunk = chunk_samples(fmt, chunk_ms)
    for name, value in (
        ("max_segment_ms", max_segment_ms),
        ("tolerance_ms", tolerance_ms),
        ("start_sample", start_sample),
    ):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    if max_segment_ms - tolerance_ms < 2 * MIN_COMMIT_MS:
        raise ValueError(
            f"max_segment_ms - tolerance_ms must be at least {2 * MIN_COMMIT_MS} ms, got "
            f"{max_segment_ms} - {tolerance_ms}"
        )
    encode: Encode = bytes if fmt == "pcm16" else g711_encoder(fmt)
    segmenter = _Segmenter(
        Path(path),
        rate=rate,
        chunk=chunk,
        longest=rate * max_segment_ms // 1000,
        shortest=rate * (max_segment_ms - tolerance_ms) // 1000,
        start_sample=start_sample,
        encode=encode,
    )
    return segmenter.run()


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where the current segment will end, and why."""

    at: int
    kind: CutKind
    #: The silence the cut lies in (silence cuts only).
    silence: Silence | None = None


class _Segmenter:
    """The state of one pass: decoded, sent, the current segment, recent silences."""

    def __init__(
        self,
        path: Path,
        *,
        rate: int,
        chunk: int,
        longest: int,
        shortest: int,
        start_sample: int,
        encode: Encode,
    ) -> None:
        self._path = path
        self._rate = rate
        self._chunk = chunk
        self._longest = longest
        self._shortest = shortest
        self._skip_to = start_sample
        self._encode = encode
        self._margin = min_commit_samples(rate)  # how far sending lags decoding
        self._pending = bytearray()  # samples [sent, decoded)
        self._sent = 0
        self._decoded = 0
        self._index = 0
        self._start = 0  # the current segment's first sample
        self._plan: _Plan | None = None
        self._silences: list[Silence] = []
        self._ended = False

    def run(self) -> Generator[bytes | Cut, None, None]:
        detector = SilenceDetector(self._rate)
        for block in pcm_blocks(self._path, self._rate, self._chunk):
            found = detector.push(block)
            # An ongoing silence is reported again, grown, by every push.
            kept = [s for s in self._silences if not s.ongoing and s.end > self._sent]
            self._silences = kept + found
            self._pending += block
            self._decoded += len(block) // 2
            yield from self._advance()
        check_committable(self._path, self._rate, self._decoded)
        self._end_of_file()
        yield from self._advance()
        if self._skip_to > self._decoded:
            raise SegmentMismatch(
                f"start_sample={self._skip_to} is past the end of {self._path} "
                f"({self._decoded} samples)"
            )

    def _choose(self) -> _Plan | None:
        """Where the current segment ends, if that can be decided yet."""
        if self._ended:
            return _Plan(self._decoded, "end")
        low = max(self._start + self._shortest, self._sent)
        high = self._start + self._longest
        for silence in self._silences:
            first, last = max(silence.start, low), min(silence.end, high)
            if first < last:
                return _Plan((first + last) // 2, "silence", silence)
        if self._decoded >= high:
            return _Plan(high, "hard")
        return None

    def _end_of_file(self) -> None:
        """Settle the last cut, now that the file's length is known."""
        self._ended = True
        plan = self._plan
        if plan is None:
            return
        tail = self._decoded - plan.at
        if tail == 0:
            self._plan = _Plan(plan.at, "end")
        elif self._decoded - self._start <= self._longest:
            self._plan = _Plan(self._decoded, "end")  # the tiny tail joins its segment
        else:
            at = self._decoded - self._margin  # the last segment gets exactly 100 ms
            silence = plan.silence
            inside = silence is not None and silence.start <= at <= silence.end
            self._plan = _Plan(at, "silence" if inside else "hard", silence)

    def _advance(self) -> Generator[bytes | Cut, None, None]:
        """Send what can be sent: chunks until 100 ms behind the decoder, and cuts."""
        while True:
            if self._plan is None:
                self._plan = self._choose()
            boundary = self._sent + self._chunk - (self._sent - self._start) % self._chunk
            limit = self._plan.at if self._plan else self._start + self._longest
            end = min(boundary, limit)
            if self._ended:
                end = min(end, self._decoded)
            elif self._decoded < end + self._margin:
                return
            if end > self._sent:
                taken = (end - self._sent) * 2
                if self._start >= self._skip_to:
                    yield take(self._pending, taken, self._encode)
                else:
                    del self._pending[:taken]
                self._sent = end
            plan = self._plan
            if plan is not None and self._sent == plan.at:
                yield from self._cut(plan)
                if plan.kind == "end":
                    return
            elif self._ended and self._sent == self._decoded:
                return

    def _cut(self, plan: _Plan) -> Generator[Cut, None, None]:
        start, self._start = self._start, plan.at
        index, self._index = self._index, self._index + 1
        self._plan = None
        if start < self._skip_to < plan.at:
            raise SegmentMismatch(
                f"start_sample={self._skip_to} is not a segment boundary of {self._path}: "
                f"segment {index} spans samples {start} to {plan.at}"
            )
        if start >= self._skip_to:
            yield Cut(index, start, plan.at, plan.kind, self._rate)


@asynccontextmanager
async def open_segment_stream(
    path: Path,
    *,
    fmt: AudioFormat = "pcm16",
    chunk_ms: int = CHUNK_MS,
    max_segment_ms: int = MAX_SEGMENT_MS,
    tolerance_ms: int = SEGMENT_TOLERANCE_MS,
    start_sample: int = 0,
    buffer_chunks: int = BUFFER_CHUNKS,
) -> AsyncIterator[ThreadStream[bytes | Cut]]:
    """Segment a file in a worker thread and receive its chunks and cuts in trio.

    :func:`iter_segmented` behind :func:`~rtbatch.audio.bridge.open_thread_stream`,
    with its cancellation and clean-up guarantees. Use::

        async with open_segment_stream(path, start_sample=resume_at) as items:
            async for item in items:
                if isinstance(item, Cut):
                    await commit(item)  # the segment's chunks have all been appended
                else:
                    await append(item)

    Args:
        path: The audio file.
        fmt: The session's input audio format.
        chunk_ms: Audio per chunk, in milliseconds.
        max_segment_ms: No segment is longer than this.
        tolerance_ms: A silence this close to ``max_segment_ms`` ends a segment.
        start_sample: Receive only the segments from this boundary on.
        buffer_chunks: Items kept ready ahead of the consumer (>= 1).

    Yields:
        A :class:`~rtbatch.audio.bridge.ThreadStream` of chunks and cuts, which
        raises BadAudio (or ValueError, for a ``start_sample`` that is not a
        boundary) once the good items are out.

    Raises:
        ValueError: An argument is invalid (as for :func:`iter_segmented`).
    """
    items = iter_segmented(
        path,
        fmt=fmt,
        chunk_ms=chunk_ms,
        max_segment_ms=max_segment_ms,
        tolerance_ms=tolerance_ms,
        start_sample=start_sample,
    )
    async with open_thread_stream(
        items, name=Path(path).name, buffer_chunks=buffer_chunks
    ) as stream:
        yield stream
