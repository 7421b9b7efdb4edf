"""G.711 μ-law and A-law encoding of PCM16, by CPython's ``audioop``.

``audioop.lin2ulaw`` / ``lin2alaw`` implement the ITU-T G.711 reference algorithm
(quantising by the standard's decision values) in C, at about 1 ns a sample.
FFmpeg's pcm_mulaw/pcm_alaw encoders are as fast but quantise to the nearest
level instead, so they disagree with the reference on 512 (μ-law) and 964
(A-law) of the 65,536 inputs, one step off at each segment boundary.
``audioop`` left the standard library in Python 3.13; there the ``audioop-lts``
package (a dependency on 3.13+ only) provides the same module, built from the
same C source.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal, TypeAlias

# Python 3.11 and 3.12 warn on import that audioop is deprecated; the warning is
# for code that has no replacement lined up, and ours has (audioop-lts).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop as audioop  # named for rtbatch.audio.silence too

G711Format = Literal["g711_ulaw", "g711_alaw"]
Encode: TypeAlias = Callable[[bytes | memoryview], bytes]
"""PCM16 in, what the session sends out: ``bytes`` itself for pcm16, or a G.711 encoder."""


def g711_encoder(fmt: G711Format) -> Encode:
    """The encoder for ``fmt``: native-endian PCM16 (any rate) in, one byte per sample out.

    FFmpeg's s16 is native-endian, which is what ``audioop`` reads.

    Raises:
        ValueError: ``fmt`` is not a G.711 format.
    """
    if fmt == "g711_ulaw":
        to_ulaw = audioop.lin2ulaw
        return lambda pcm: to_ulaw(pcm, 2)
    if fmt == "g711_alaw":
        to_alaw = audioop.lin2alaw
        return lambda pcm: to_alaw(pcm, 2)
    raise ValueError(f"not a G.711 format: {fmt!r}")
