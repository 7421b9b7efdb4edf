"""Where the silences are: FFmpeg's ``silencedetect`` rule over a stream of PCM16 blocks.

The rule is FFmpeg's (``af_silencedetect``, as PyAV's FFmpeg runs it on mono s16):
a sample is silent when its magnitude is under the threshold, ``noise`` dBFS
taken to a ratio (FFmpeg's ``exp2(log2(10) * dB / 20)``), times 32,767 and
truncated to a whole sample value; a silence is a run of at least ``d`` seconds
of silent samples (``d × rate`` rounded, as FFmpeg rescales it), from its first
silent sample to the first sample that is not. The segmenter reads the
session-rate PCM16 that is being sent, so the positions are in the samples the
segments are cut from.

Why not the filter itself (``abuffer → silencedetect → abuffersink``, which this
module ran until issue 20): it spends about 5 ns on every sample (a branch and a
modulo per sample, in C), and each block had to be copied into a new
``AudioFrame`` to reach it, which made it an eighth of the client's CPU on an
MP3. Here ``audioop.max`` (C, one pass with no branch per sample that matters)
looks at windows of half the shortest silence; only the windows at the edges of
a silent stretch are searched for the exact sample, by halving. A window is half
the shortest silence, rounded up, so any silence lying across window edges still
fills a whole window, and nothing shorter needs an exact edge.
``tests/audio/test_silence.py`` holds this to FFmpeg's filter, sample for sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, final

from rtbatch.audio.g711 import audioop  # imported there without its deprecation warning

SILENCE_NOISE_DB: Final = -35.0
"""dBFS: samples quieter than this count as silence. Speech is recorded at about
-25 to -10 dBFS and room or line noise at -60 to -45 dBFS; -35 dB sits between
them, with room for a noisy phone line. (FFmpeg's own default, -60 dB, finds
only digital silence in most recordings.)"""
SILENCE_MIN_MS: Final = 500
"""A pause must last this long to count: longer than the gaps inside a sentence
(plosives, breaths: 50-250 ms), the length of a pause between sentences or
speakers. A cut there does not split a word."""

_INT16_MAX: Final = 32_767


@dataclass(frozen=True, slots=True)
class Silence:
    """A stretch of silent samples, ``[start, end)``, in samples from the stream start."""

    start: int
    #: One past the last sample known to be silent.
    end: int
    #: True when the silence had not ended at ``end`` (the detector's position then).
    ongoing: bool


def noise_threshold(noise_db: float) -> int:
    """The smallest sample magnitude that is not silent at ``noise_db`` dBFS, as FFmpeg has it."""
    return int(math.exp2(math.log2(10) * (noise_db / 20)) * _INT16_MAX)


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
        self._loud = noise_threshold(noise_db)
        # FFmpeg rescales d (microseconds) to samples rounding to nearest, halves up.
        self._shortest = max(1, (min_silence_ms * rate + 500) // 1000)
        # Half a silence, rounded up: a run that fills no window lies in at most two,
        # so it is at most 2 * window - 2 samples, shorter than any silence.
        self._window = (self._shortest + 1) // 2
        self._run_start = 0  # where the silent run the samples end in began (or position)
        self.position = 0
        """Samples pushed so far."""

    def push(self, pcm: bytes | memoryview) -> list[Silence]:
        """Feed the next native-endian mono PCM16 samples.

        Args:
            pcm: Whole samples, following those pushed before.

        Returns:
            The silences seen so far that end in these samples, in order: each one
            that ended here, then the one still going on at their end (``ongoing``,
            ``end`` = :attr:`position`), if any. A silence that goes on is reported
            again by each push, growing, until it ends.
        """
        loud, shortest, step = self._loud, self._shortest, 2 * self._window
        peak = audioop.max
        found: list[Silence] = []
        origin = self.position
        run_start = self._run_start
        # The last loud window, while the start of the run after it is not needed yet.
        pending: memoryview | None = None
        pending_at = 0
        with memoryview(pcm) as samples:
            for offset in range(0, len(samples), step):
                window = samples[offset : offset + step]
                if peak(window, 2) < loud:
                    if pending is not None:
                        run_start = pending_at + _loud_edge(pending, loud, last=True) + 1
                        pending = None
                    continue
                at = origin + offset // 2
                if pending is None:
                    # The run before this window may be long enough to be a silence.
                    end = at + _loud_edge(window, loud, last=False)
                    if end - run_start >= shortest:
                        found.append(Silence(run_start, end, False))
                pending, pending_at = window, at
            if pending is not None:
                run_start = pending_at + _loud_edge(pending, loud, last=True) + 1
        self.position = origin + len(pcm) // 2
        self._run_start = run_start
        if self.position - run_start >= shortest:
            found.append(Silence(run_start, self.position, True))
        return found


def _loud_edge(window: memoryview, loud: int, *, last: bool) -> int:
    """The index of the first (or ``last``) sample of ``window`` at or over ``loud``.

    ``window`` has one; halving keeps it inside ``[lo, hi)``.
    """
    lo, hi = 0, len(window) // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        half = window[2 * mid : 2 * hi] if last else window[2 * lo : 2 * mid]
        if (audioop.max(half, 2) >= loud) == last:
            lo = mid
        else:
            hi = mid
    return lo
