"""Deterministic reply text, transcripts, output audio and the one tokenizer.

Everything here is pure: same input, same output. Replies say they are emulated and
are drawn from a hash of the canonical JSON of what the model would see plus the
settings that would change its answer.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import struct
from functools import cache

import orjson

from rtbatch.emulator.dialects import AudioFormat

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
#: Spoken length of one reply word in generated audio.
WORD_AUDIO_MS = 300
PCM_RATE = 24_000
G711_RATE = 8_000
_TONE_HZ = 440.0
#: Quiet on purpose (about -30 dBFS): it is a placeholder, not a signal.
_TONE_AMPLITUDE = 1000
_WORDS = (
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fable",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orchid",
    "pebble",
    "quartz",
    "river",
    "saffron",
    "timber",
    "umber",
    "velvet",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "acorn",
    "breeze",
    "cobalt",
    "dune",
    "echo",
    "fern",
    "glacier",
    "heron",
    "iris",
    "jasper",
    "kelp",
    "lichen",
    "maple",
    "nimbus",
    "opal",
    "prism",
    "quill",
    "reed",
    "sable",
    "thistle",
    "upland",
    "vale",
    "wren",
    "yonder",
    "zinc",
    "aspen",
    "birch",
    "clover",
    "dawn",
    "elm",
    "flint",
    "grove",
    "hazel",
    "ivy",
    "jade",
    "kiln",
    "lark",
    "moss",
)
_OBFUSCATION_POOL_SIZE = 64
#: The least likely a transcript token is made (natural log): about 0.6.
MIN_LOGPROB = -0.5
JsonLogprob = dict[str, object]
#: The emulated speaker's rate: 150 words a minute, a usual rate of conversational
#: English. Transcripts grow with the audio's duration at this rate.
SPEECH_WORDS_PER_S = 2.5
#: Transcript words per output token: OpenAI's rule of thumb (a token is about 3/4 of
#: an English word). Transcripts are billed, and capped, in these tokens.
WORDS_PER_TOKEN = 0.75


def count_tokens(text: str) -> int:
    """The emulator's tokenizer: one token per word run or punctuation mark.

    Args:
        text: any text.

    Returns:
        The number of ``\\w+|[^\\w\\s]`` pieces.
    """
    return len(_TOKEN_RE.findall(text))


def reply_key(material: object) -> bytes:
    """A stable digest of JSON-able ``material`` (keys sorted)."""
    return hashlib.blake2b(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).digest()


def _picked(key: bytes, count: int) -> list[str]:
    """``count`` words picked from the word list by a hash chain of ``key``."""
    words: list[str] = []
    stream = b""
    block = 0
    while len(words) < count:
        if not stream:
            stream = hashlib.blake2b(key + block.to_bytes(4, "big")).digest()
            block += 1
        words.append(_WORDS[stream[0] % len(_WORDS)])
        stream = stream[1:]
    return words


def reply_words(key: bytes, count: int) -> list[str]:
    """The words of a reply: ``Emulated reply`` then hash-picked words, ending with ``.``.

    Args:
        key: digest from :func:`reply_key`.
        count: number of words (>= 1).

    Returns:
        ``count`` words; the last carries the final period.
    """
    words = ["Emulated", "reply"][:count]
    words += _picked(key, count - len(words))
    words[-1] += "."
    return words


def word_deltas(words: list[str]) -> list[str]:
    """Streaming pieces: the first word bare, later ones with a leading space."""
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def transcript_words(samples: int) -> list[str]:
    """The emulated transcript of committed audio, word by word.

    It opens with a statement of the exact sample count (so a test can prove which
    audio arrived), then grows with the audio's duration at :data:`SPEECH_WORDS_PER_S`
    (hash-picked words, the same for the same count), never shorter than the statement.

    Args:
        samples: number of 24 kHz samples received for the item.

    Returns:
        e.g. ``["Emulated", "transcript", "of", "48000", "samples."]`` for 2 s.
    """
    words = ["Emulated", "transcript", "of", str(samples), "samples."]
    spoken = round(samples / PCM_RATE * SPEECH_WORDS_PER_S)
    if spoken > len(words):
        more = _picked(reply_key(["transcript", samples]), spoken - len(words))
        more[-1] += "."
        words += more
    return words


def logprobs(pieces: list[str], seed: object) -> list[list[JsonLogprob]]:
    """Log probabilities of streamed transcript pieces, one entry per piece.

    Each entry is ``{"token", "logprob", "bytes"}`` (the SDK's ``LogProbProperties``);
    the token is the piece itself, so the tokens of all entries spell the transcript.
    The value is drawn from a hash of ``seed`` and the piece's index, between
    :data:`MIN_LOGPROB` and 0: confident, as a clean recording would be.

    Args:
        pieces: the deltas of one transcript, in order.
        seed: what the transcript depends on (JSON-able).

    Returns:
        For each piece, the list of its entries (one).
    """
    digest = hashlib.blake2b(orjson.dumps(["logprobs", seed])).digest()
    return [
        [
            {
                "token": piece,
                "logprob": round(MIN_LOGPROB * digest[i % len(digest)] / 255, 6),
                "bytes": list(piece.encode("utf-8")),
            }
        ]
        for i, piece in enumerate(pieces)
    ]


def transcript_tokens(words: int) -> int:
    """Output tokens of a transcript of ``words`` words (:data:`WORDS_PER_TOKEN`)."""
    return math.ceil(words / WORDS_PER_TOKEN)


def words_within(tokens: int) -> int:
    """The most transcript words that fit in ``tokens`` output tokens."""
    return math.floor(tokens * WORDS_PER_TOKEN)


def audio_tokens_in(samples: int) -> int:
    """Input audio tokens: one per started 100 ms (2,400 samples at 24 kHz)."""
    return math.ceil(samples / (PCM_RATE // 10))


def audio_tokens_out(ms: int) -> int:
    """Output audio tokens: one per started 50 ms."""
    return math.ceil(ms / 50)


@cache
def tone_b64(fmt: AudioFormat) -> str:
    """Base64 of one word's worth (:data:`WORD_AUDIO_MS`) of quiet tone in ``fmt``.

    Computed once per format: every audio delta reuses the same chunk.
    """
    rate = PCM_RATE if fmt == "pcm16" else G711_RATE
    n = rate * WORD_AUDIO_MS // 1000
    samples = [int(_TONE_AMPLITUDE * math.sin(2 * math.pi * _TONE_HZ * i / rate)) for i in range(n)]
    if fmt == "pcm16":
        raw = struct.pack(f"<{n}h", *samples)
    elif fmt == "g711_ulaw":
        raw = bytes(_ulaw(s) for s in samples)
    else:
        raw = bytes(_alaw(s) for s in samples)
    return base64.b64encode(raw).decode("ascii")


def _ulaw(sample: int) -> int:
    """G.711 mu-law encode one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw(sample: int) -> int:
    """G.711 A-law encode one 16-bit sample."""
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample), 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (code | sign) ^ 0x55


@cache
def obfuscation_pool() -> tuple[str, ...]:
    """Padding strings of 11-14 characters for GA deltas' ``obfuscation`` (§6.9)."""
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return tuple(
        "".join(rng.choice(alphabet) for _ in range(rng.randint(11, 14)))
        for _ in range(_OBFUSCATION_POOL_SIZE)
    )
