"""Where a job's audio answer goes: one WAV per job, streamed, never torn.

The pool hands a session an :class:`AudioSink` for each respond job that asked for
audio; the session only calls :meth:`AudioSink.add_b64`. Audio is written as it
arrives through :class:`~rtbatch.output.atomic.AtomicFile` (a hidden temporary
name beside the WAV) and renamed into place once the job succeeded, so a killed
run never leaves a torn WAV under a job's name and an answer is never held whole
in memory. A write that fails is :class:`~rtbatch.errors.OutputFailed`
(run-fatal): a full disk is not a lost connection, and retrying would pay for the
same answer again.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from rtbatch.errors import ProtocolError
from rtbatch.jobs import Job
from rtbatch.output.atomic import AtomicFile
from rtbatch.output.writing import writing

if TYPE_CHECKING:
    from rtbatch.audio.wav import WavWriter

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: Longest file name stem derived from a job id, in characters.
MAX_NAME_CHARS = 200


def wav_name(job_id: str) -> str:
    """A file name for a job id: unsafe characters replaced, never a path."""
    name = _UNSAFE.sub("_", job_id).lstrip(".") or "job"
    return f"{name[:MAX_NAME_CHARS]}.wav"


def check_writable_dir(path: Path) -> None:
    """Create ``path`` if need be and prove a file can be made in it (then removed).

    Raises:
        OSError: the directory cannot be made or written.
    """
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".rtbatch-probe-", dir=path)
    os.close(fd)
    os.unlink(probe)


def wants_audio(job: Job) -> bool:
    """Whether the job asked for a spoken answer."""
    return "audio" in (job.options.output_modalities or ())


class AudioSink:
    """Streams one response's output audio to ``path`` (via an :class:`AtomicFile`).

    Use as a context manager: leaving it without :meth:`commit` removes the
    partial file, whatever the exit (error, cancellation).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: AtomicFile | None = None
        self._wav: WavWriter | None = None

    def __enter__(self) -> AudioSink:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._wav = None
        if self._file is not None:
            self._file.discard()  # a no-op once committed
            self._file = None

    def add_b64(self, delta: str) -> None:
        """Write one ``output_audio.delta`` payload.

        Raises:
            ProtocolError: the payload is not base64.
            OutputFailed: the file cannot be written.
        """
        if not delta:
            return
        try:
            pcm = base64.b64decode(delta, validate=True)
        except binascii.Error:
            raise ProtocolError("output_audio.delta: delta is not base64") from None
        with writing(self.path):
            self._writer().write(pcm)

    def commit(self) -> str:
        """Close the WAV and rename it into place; its path.

        Raises:
            OutputFailed: the file cannot be written or renamed.
        """
        with writing(self.path):
            wav = self._writer()  # an answer with no audio still gets a (silent) WAV
            wav.close()
            assert self._file is not None
            self._file.commit()
        return str(self.path)

    def _writer(self) -> WavWriter:
        if self._wav is None:
            from rtbatch.audio.wav import WavWriter

            self._file = AtomicFile(self.path)
            self._wav = WavWriter(self._file.stream)
        return self._wav
