"""Output audio to WAV files, streamed: nothing is held beyond one write.

:class:`WavWriter` writes the header first, with sizes of zero, appends samples as
they arrive, and patches the sizes when it closes: an answer of any length costs
the memory of one delta. It writes to a path or to an open binary file; a job's
answer goes through :class:`rtbatch.output.audio_sink.AudioSink`, which gives it
the temporary file of the one atomic writer, so no reader sees a torn WAV.
"""

from __future__ import annotations

import wave
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, final

from rtbatch.audio.wire import SAMPLE_RATE


@final
class WavWriter:
    """Write mono PCM16 (24 kHz by default) to a WAV file as it arrives.

    The stdlib ``wave`` module writes the RIFF header on creation and patches its
    sizes in ``close`` (or on leaving the ``with`` block), so the file is valid
    however many writes there were, even none. A write may end in the middle of a
    sample; the odd byte is carried to the next write, and a byte still left at
    close is dropped (it is not a whole sample).

    Raises:
        OSError: The file cannot be created (from the constructor).
    """

    def __init__(self, target: Path | BinaryIO, *, sample_rate: int = SAMPLE_RATE) -> None:
        # A file object given stays open when the writer closes (``wave`` only
        # closes files it opened itself); its owner closes it.
        self._wave = wave.Wave_write(str(target) if isinstance(target, Path) else target)
        self._wave.setnchannels(1)
        self._wave.setsampwidth(2)
        self._wave.setframerate(sample_rate)
        # An empty write puts the header on disk now, with placeholder sizes.
        self._wave.writeframesraw(b"")
        self._odd = b""
        self.frames = 0
        """Samples written so far."""

    def write(self, pcm: bytes) -> None:
        """Append little-endian PCM16 samples.

        Raises:
            OSError: The write failed (disk full, file system gone).
        """
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
