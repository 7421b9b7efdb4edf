"""Where a job's audio output goes: one WAV per job, written whole or not at all."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from types import TracebackType

import trio

from rtbatch.jobs import Job

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def wav_name(job_id: str) -> str:
    """A file name for a job id: unsafe characters replaced, never a path."""
    name = _UNSAFE.sub("_", job_id).lstrip(".") or "job"
    return f"{name[:200]}.wav"


class AudioSink:
    """Collects a response's output audio and saves it as a WAV on success.

    A response's audio is a few seconds to minutes, so it is gathered in memory
    and written once, in a worker thread, to a temporary name that is renamed
    into place: a killed run never leaves a torn WAV under a job's name.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._pcm = bytearray()

    @classmethod
    def for_job(cls, audio_out: Path | None, job: Job) -> AudioSink:
        """A sink that saves when ``audio_out`` is set and the job asked for audio."""
        modalities = job.options.output_modalities or ()
        wants = audio_out is not None and "audio" in modalities
        return cls(audio_out / wav_name(job.id) if wants and audio_out else None)

    async def __aenter__(self) -> AudioSink:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pcm = bytearray()

    def add_b64(self, delta: str) -> None:
        """Add one ``output_audio.delta`` payload."""
        if self._path is not None and delta:
            self._pcm += base64.b64decode(delta)

    async def finish(self) -> str | None:
        """Save the WAV; its path, or None when nothing is saved."""
        if self._path is None:
            return None
        await trio.to_thread.run_sync(_save_wav, self._path, bytes(self._pcm))
        return str(self._path)


def _save_wav(path: Path, pcm: bytes) -> None:
    from rtbatch.audio import WavWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with WavWriter(partial) as wav:
        wav.write(pcm)
    os.replace(partial, path)
