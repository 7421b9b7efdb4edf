"""Output audio to WAV files, streamed: nothing is held beyond one write.

:class:`WavWriter` writes the header first, with sizes of zero, appends samples as
they arrive, and patches the sizes when it closes: an answer of any length costs
the memory of one delta. :func:`atomic_wav` puts that behind a temporary name, so
a reader never sees a torn file: ``NAME.part`` while writing, renamed to ``NAME``
only when the block succeeds, deleted when it fails.
"""

from __future__ import annotations

import contextlib
import os
import wave
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, final

from rtbatch.audio.wire import SAMPLE_RATE

PARTIAL_SUFFIX: Final = ".part"
"""Appended to a file's name while :func:`atomic_wav` writes it."""


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

    def __init__(self, path: Path, *, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self._wave = wave.Wave_write(str(self.path))
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


@contextlib.contextmanager
def atomic_wav(path: Path, *, sample_rate: int = SAMPLE_RATE) -> Iterator[WavWriter]:
    """Stream a WAV to ``path`` so that it appears whole or not at all.

    Use::

        with atomic_wav(out / "answer.wav") as wav:
            for delta in deltas:
                wav.write(delta)

    The writer writes ``path`` + :data:`PARTIAL_SUFFIX` in the same directory (so
    the rename is atomic); leaving the block normally closes it and renames it to
    ``path``, replacing any file there. Leaving by an exception, cancellation
    included, closes and deletes the partial file and lets the exception go on.

    Args:
        path: The finished file's name. Its directory must exist.
        sample_rate: Of the PCM16 written, in Hz.

    Yields:
        A :class:`WavWriter` on the partial file.

    Raises:
        OSError: The partial file cannot be created, written or renamed.
    """
    path = Path(path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    writer = WavWriter(partial, sample_rate=sample_rate)
    try:
        yield writer
        writer.close()
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            writer.close()
        partial.unlink(missing_ok=True)
        raise
