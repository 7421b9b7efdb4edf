"""Where the silences are: FFmpeg's ``silencedetect`` over a stream of PCM16 blocks.

The detector is FFmpeg's, through PyAV's filter graph (``abuffer →
silencedetect → abuffersink``), fed the session-rate PCM16 that is being sent,
so it costs one pass over samples already in memory (about 1 CPU s per audio
hour at 24 kHz) and its positions are in the samples the segments are cut from.

``silencedetect`` reports by tagging frames: ``lavfi.silence_start`` on the frame
where a silence has lasted ``d`` seconds, ``lavfi.silence_end`` on the frame
where it ends, each as a time in seconds. Two details make those tags exact:

- Every frame goes in with a timestamp of 0, so each time is relative to its own
  frame: under a second, which the filter prints with six significant digits,
  well under one sample at 24 kHz. (With real timestamps, an hour into a file
  the printed times would be 10 ms coarse.)
- No frame is longer than ``d``, so a frame holds at most one start and one end
  (a new silence is confirmed at least ``d`` after the last one ended); the tags
  of a frame cannot overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, final

SILENCE_NOISE_DB: Final = -35.0
"""dBFS: samples quieter than this count as silence. Speech is recorded at about
-25 to -10 dBFS and room or line noise at -60 to -45 dBFS; -35 dB sits between
them, with room for a noisy phone line. (FFmpeg's own default, -60 dB, finds
only digital silence in most recordings.)"""
SILENCE_MIN_MS: Final = 500
"""A pause must last this long to count: longer than the gaps inside a sentence
(plosives, breaths: 50-250 ms), the length of a pause between sentences or
speakers. A cut there does not split a word."""

_START: Final = "lavfi.silence_start"
_END: Final = "lavfi.silence_end"


@dataclass(frozen=True, slots=True)
class Silence:
    """A stretch of silent samples, ``[start, end)``, in samples from the stream start."""

    start: int
    #: One past the last sample known to be silent.
    end: int
    #: True when the silence had not ended at ``end`` (the detector's position then).
    ongoing: bool


@final
class SilenceDetector:
    """Feed PCM16 blocks in order; learn the silences in them.

    Args:
        rate: The samples' rate, Hz.
        noise_db: The silence threshold, dBFS (negative).
        min_silence_ms: The shortest silence reported, ms (> 0).

    Raises:
        ValueError: ``noise_db`` is not negative or ``min_silence_ms`` not positive.
    """

    def __init__(
        self,
        rate: int,
        *,
        noise_db: float = SILENCE_NOISE_DB,
        min_silence_ms: int = SILENCE_MIN_MS,
    ) -> None:
        if not noise_db < 0:
            raise ValueError(f"noise_db must be below 0 dBFS, got {noise_db!r}")
        if not isinstance(min_silence_ms, int) or min_silence_ms <= 0:
            raise ValueError(
                f"min_silence_ms must be a positive whole number, got {min_silence_ms!r}"
            )
        self._rate = rate
        self._noise = f"{noise_db}dB"
        self._seconds = f"{min_silence_ms / 1000}"
        self._frame_samples = max(1, rate * min_silence_ms // 1000)
        self._graph: Any = None
        self._ongoing: int | None = None
        self.position = 0
        """Samples pushed so far."""

    def push(self, pcm: bytes) -> list[Silence]:
        """Feed the next native-endian mono PCM16 samples.

        Args:
            pcm: Whole samples, following those pushed before.

        Returns:
            The silences seen so far that end in these samples, in order: each one
            that ended here, then the one still going on at their end (``ongoing``,
            ``end`` = :attr:`position`), if any. A silence that goes on is reported
            again by each push, growing, until it ends.
        """
        if self._graph is None:
            self._graph = self._make_graph()
        found: list[Silence] = []
        step = self._frame_samples * 2
        for offset in range(0, len(pcm), step):
            piece = pcm[offset : offset + step]
            found.extend(self._frame(piece))
        if self._ongoing is not None:
            found.append(Silence(self._ongoing, self.position, True))
        return found

    def _frame(self, piece: bytes) -> list[Silence]:
        import av

        samples = len(piece) // 2
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(piece)
        frame.sample_rate = self._rate
        frame.time_base = Fraction(1, self._rate)
        frame.pts = 0  # see the module docstring: times relative to this frame
        self._graph.push(frame)
        tags = self._graph.pull().metadata
        origin = self.position
        self.position += samples
        start_tag, end_tag = tags.get(_START), tags.get(_END)
        ended: list[Silence] = []
        start = None if start_tag is None else origin + round(float(start_tag) * self._rate)
        if end_tag is not None:
            end = origin + round(float(end_tag) * self._rate)
            began = start if start is not None and start < end else self._ongoing
            if began is not None:
                ended.append(Silence(began, end, False))
            self._ongoing = None
            if start is not None and start > end:
                self._ongoing = start
        elif start is not None:
            self._ongoing = start
        return ended

    def _make_graph(self) -> Any:
        from av.filter import Graph

        graph = Graph()
        source = graph.add(
            "abuffer",
            sample_rate=str(self._rate),
            sample_fmt="s16",
            channel_layout="mono",
            time_base=f"1/{self._rate}",
        )
        detect = graph.add("silencedetect", noise=self._noise, d=self._seconds)
        sink = graph.add("abuffersink")
        graph.link_nodes(source, detect, sink)
        graph.configure()
        return graph
