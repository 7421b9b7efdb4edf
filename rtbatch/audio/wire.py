"""The service's input audio: its formats' rates, chunk sizes and limits.

The Realtime API takes input audio as 24 kHz mono PCM16 little-endian, or G.711
μ-law/A-law at 8 kHz, base64-encoded in ``input_audio_buffer.append`` events, and
refuses to commit less than 100 ms.
"""

from __future__ import annotations

from typing import Final

from rtbatch.defaults import AUDIO_FORMATS, AudioFormat

SAMPLE_RATE: Final = 24_000
"""Hz: the only PCM16 rate the Realtime API accepts."""
G711_SAMPLE_RATE: Final = 8_000
"""Hz: the rate of G.711 μ-law and A-law audio (one byte per sample)."""
CHUNK_MS: Final = 500
"""Default audio per ``input_audio_buffer.append``: 24,000 bytes of pcm16. Only for
callers that name none (the audio tests, ``bench``); a run always sends
:data:`rtbatch.defaults.AUDIO_CHUNK_MS`, which says why it is larger."""
MIN_COMMIT_MS: Final = 100
"""The service refuses to commit a buffer holding less audio than this."""
APPEND_LIMIT_BYTES: Final = 15 * 1024 * 1024
"""The service's limit on one append event. Whether it counts decoded or base64
bytes is not documented, so chunk sizes are checked against the base64 size."""


def sample_rate_of(fmt: AudioFormat) -> int:
    """The sample rate of audio sent in ``fmt``, in Hz.

    Raises:
        ValueError: ``fmt`` is not one of :data:`~rtbatch.defaults.AUDIO_FORMATS`.
    """
    if fmt == "pcm16":
        return SAMPLE_RATE
    if fmt in ("g711_ulaw", "g711_alaw"):
        return G711_SAMPLE_RATE
    raise ValueError(f"unknown audio format {fmt!r}; expected one of {', '.join(AUDIO_FORMATS)}")


def bytes_per_second(fmt: AudioFormat) -> int:
    """Bytes of ``fmt`` audio per second: 48,000 for pcm16, 8,000 for G.711."""
    return sample_rate_of(fmt) * (2 if fmt == "pcm16" else 1)


def min_commit_samples(rate: int) -> int:
    """Samples at ``rate`` in :data:`MIN_COMMIT_MS`: the shortest committable audio."""
    return rate * MIN_COMMIT_MS // 1000


def chunk_samples(fmt: AudioFormat, chunk_ms: int) -> int:
    """Samples per chunk of ``chunk_ms`` in ``fmt``, once ``chunk_ms`` is checked.

    Raises:
        ValueError: ``fmt`` is unknown, ``chunk_ms`` is not a positive whole number,
            or a chunk that long would exceed :data:`APPEND_LIMIT_BYTES` once
            base64-encoded.
    """
    if not isinstance(chunk_ms, int) or chunk_ms <= 0:
        raise ValueError(
            f"chunk_ms must be a positive whole number of milliseconds, got {chunk_ms!r}"
        )
    chunk_bytes = bytes_per_second(fmt) * chunk_ms // 1000
    if (chunk_bytes + 2) // 3 * 4 > APPEND_LIMIT_BYTES:
        raise ValueError(
            f"chunk_ms={chunk_ms} makes {chunk_bytes} bytes per append, over the service's "
            f"{APPEND_LIMIT_BYTES} byte limit once base64-encoded"
        )
    return sample_rate_of(fmt) * chunk_ms // 1000
