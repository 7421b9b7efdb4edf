"""Audio in and out: any audio file → Realtime input chunks or segments; output PCM → WAV.

One concept per module:

- :mod:`~rtbatch.audio.wire`: the service's input formats, rates and limits;
- :mod:`~rtbatch.audio.decode`: a file → mono PCM16 at the session's rate, in
  fixed-size chunks (PyAV; a native 24 kHz WAV read as it is); its duration;
- :mod:`~rtbatch.audio.framewise`: the frame-by-frame decoding fallback, for
  streams that change rate or layout midway;
- :mod:`~rtbatch.audio.g711`: G.711 μ-law/A-law encoding (``audioop``);
- :mod:`~rtbatch.audio.silence`: FFmpeg's ``silencedetect`` rule over PCM16 blocks;
- :mod:`~rtbatch.audio.segments`: a long file cut at silences into segments;
- :mod:`~rtbatch.audio.bridge`: decoding in a worker thread, received in trio;
- :mod:`~rtbatch.audio.wav`: output audio streamed to a WAV file;
- :mod:`~rtbatch.audio.discover`: the audio files ``rtbatch transcribe PATH...`` names.

Every failure to read a file is :class:`~rtbatch.errors.BadAudio`, naming the file.
"""

from rtbatch.audio.bridge import (
    BUFFER_CHUNKS,
    HandOffStatistics,
    ThreadStream,
    open_chunk_stream,
    open_thread_stream,
)
from rtbatch.audio.decode import duration_s, iter_chunks, iter_pcm
from rtbatch.audio.g711 import g711_encoder
from rtbatch.audio.segments import (
    MAX_SEGMENT_MS,
    SEGMENT_TOLERANCE_MS,
    Cut,
    CutKind,
    SegmentMismatch,
    iter_segmented,
    open_segment_stream,
)
from rtbatch.audio.silence import SILENCE_MIN_MS, SILENCE_NOISE_DB, Silence, SilenceDetector
from rtbatch.audio.wav import WavWriter
from rtbatch.audio.wire import (
    APPEND_LIMIT_BYTES,
    CHUNK_MS,
    G711_SAMPLE_RATE,
    MIN_COMMIT_MS,
    SAMPLE_RATE,
    bytes_per_second,
    sample_rate_of,
)

__all__ = [
    "APPEND_LIMIT_BYTES",
    "BUFFER_CHUNKS",
    "CHUNK_MS",
    "G711_SAMPLE_RATE",
    "MAX_SEGMENT_MS",
    "MIN_COMMIT_MS",
    "SAMPLE_RATE",
    "SEGMENT_TOLERANCE_MS",
    "SILENCE_MIN_MS",
    "SILENCE_NOISE_DB",
    "Cut",
    "CutKind",
    "HandOffStatistics",
    "SegmentMismatch",
    "Silence",
    "SilenceDetector",
    "ThreadStream",
    "WavWriter",
    "bytes_per_second",
    "duration_s",
    "g711_encoder",
    "iter_chunks",
    "iter_pcm",
    "iter_segmented",
    "open_chunk_stream",
    "open_segment_stream",
    "open_thread_stream",
    "sample_rate_of",
]
