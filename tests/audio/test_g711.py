"""Tests for rtbatch.audio.g711: audioop's G.711 against the encoder it replaced.

Until this module used ``audioop``, rtbatch encoded G.711 with its own table,
built from the ITU-T reference algorithm and checked entry by entry against
``audioop``. The digests below are that table's output for every 16-bit input
(-32768 … 32767, native-endian), taken from it before it was removed; the spot
values are the same vectors, readable: the segment ends, the clip points, zero.
"""

from __future__ import annotations

import array
import hashlib

import pytest

from rtbatch.audio.g711 import G711Format, g711_encoder

EVERY_SAMPLE = array.array("h", range(-32_768, 32_768)).tobytes()

OLD_TABLE_SHA256 = {
    "g711_ulaw": "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a",
    "g711_alaw": "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b",
}
# sample → code, from the old table.
SPOT_VALUES = {
    "g711_ulaw": {
        -32768: 0x00,
        -32636: 0x00,
        -1: 0x7E,
        0: 0xFF,
        1: 0xFF,
        31: 0xFB,
        32: 0xFB,
        127: 0xEF,
        128: 0xEF,
        32636: 0x80,
        32767: 0x80,
    },
    "g711_alaw": {
        -32768: 0x2A,
        -32636: 0x2A,
        -1: 0x55,
        0: 0xD5,
        1: 0xD5,
        31: 0xD4,
        32: 0xD7,
        127: 0xD2,
        128: 0xDD,
        32636: 0xAA,
        32767: 0xAA,
    },
}


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_audioop_matches_the_old_encoder_on_every_sample(fmt: G711Format) -> None:
    """All 65,536 codes equal those of the table rtbatch used before audioop."""
    codes = g711_encoder(fmt)(EVERY_SAMPLE)
    assert len(codes) == 65_536
    assert hashlib.sha256(codes).hexdigest() == OLD_TABLE_SHA256[fmt]


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_spot_values_at_the_segment_ends(fmt: G711Format) -> None:
    """Zero, ±1, segment boundaries and the clip points encode as the old table did."""
    encode = g711_encoder(fmt)
    for sample, code in SPOT_VALUES[fmt].items():
        assert encode(array.array("h", [sample]).tobytes()) == bytes([code]), sample


def test_only_g711_formats_have_an_encoder() -> None:
    """pcm16 is not a G.711 format."""
    with pytest.raises(ValueError, match="'pcm16'"):
        g711_encoder("pcm16")  # type: ignore[arg-type]
