"""The file extensions rtbatch takes for audio: searched for by ``rtbatch transcribe``
(:mod:`rtbatch.audio.discover`) and dropped from transcript file names
(:mod:`rtbatch.output.formats`).

A leaf outside the :mod:`rtbatch.audio` package, so that naming transcript files
(the CLI imports :mod:`rtbatch.output.formats` for ``--help``) never loads the
audio stack.
"""

from __future__ import annotations

from typing import Final

_LOSSLESS = ("aif", "aifc", "aiff", "au", "caf", "flac", "wav", "wave", "wv")
_LOSSY = ("aac", "ac3", "amr", "mp2", "mp3", "mpga", "opus", "spx", "wma")
_AUDIO_CONTAINERS = ("m4a", "m4b", "mka", "oga", "ogg")
_VIDEO_CONTAINERS = ("3gp", "avi", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "webm")
#: Extensions searched for in directories and globs (lower case, without the
#: dot): what FFmpeg (PyAV) decodes and people keep recordings in, video
#: containers included for their sound track. ``.ts`` is left out on purpose:
#: it names TypeScript sources far more often than MPEG transport streams.
AUDIO_EXTENSIONS: Final[frozenset[str]] = frozenset(
    (*_LOSSLESS, *_LOSSY, *_AUDIO_CONTAINERS, *_VIDEO_CONTAINERS)
)
