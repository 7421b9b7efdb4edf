"""Token accounting: what a response's input and output cost, and prompt caching.

Rules (protocol notes §6.7, §9): text tokens come from :func:`count_tokens` plus
:data:`MESSAGE_OVERHEAD_TOKENS` special tokens per message; user audio costs one token
per 100 ms, generated audio one per 50 ms (its transcript is billed as output text too).
A response's input is its instructions plus every item it sees, so on the default
conversation earlier turns are billed again. Cached tokens: when a response's input
shares a prefix of at least :data:`CACHE_MIN_TOKENS` tokens with an earlier response's
input in the same session, the shared length rounded down to :data:`CACHE_BLOCK_TOKENS`
is reported as cached.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rtbatch.emulator.replies import audio_tokens_in, count_tokens, reply_key
from rtbatch.models import MESSAGE_OVERHEAD_TOKENS

CACHE_MIN_TOKENS = 1024
CACHE_BLOCK_TOKENS = 64
#: Earlier inputs remembered per session for prefix caching (bounded memory).
CACHE_HISTORY = 4


@dataclass(frozen=True, slots=True)
class Segment:
    """One unit of a response's input (instructions or one item), in tokens.

    Attributes:
        key: digest of the unit's content; equal keys mean an identical unit.
        text: text tokens, overhead included.
        audio: audio tokens.
    """

    key: bytes
    text: int
    audio: int


def instructions_segment(instructions: str) -> Segment:
    """The instructions, billed as one system message."""
    return Segment(
        reply_key(["instructions", instructions]),
        count_tokens(instructions) + MESSAGE_OVERHEAD_TOKENS,
        0,
    )


def item_segment(item: dict[str, object], samples: int, out_audio_ms: int) -> Segment:
    """An item's input cost.

    Args:
        item: the item's wire form (audio bytes already removed).
        samples: 24 kHz samples of user audio in the item.
        out_audio_ms: milliseconds of assistant audio in the item.

    Returns:
        The segment; its key covers the item's wire form and audio length.
    """
    text = MESSAGE_OVERHEAD_TOKENS + sum(count_tokens(t) for t in _texts(item))
    audio = audio_tokens_in(samples) + audio_tokens_in(out_audio_ms * 24)
    return Segment(reply_key([item, samples, out_audio_ms]), text, audio)


def _texts(item: dict[str, object]) -> Iterable[str]:
    """The billable text of an item: text parts, assistant transcripts, call fields."""
    for key in ("name", "arguments", "output"):
        value = item.get(key)
        if isinstance(value, str):
            yield value
    content = item.get("content")
    if not isinstance(content, list):
        return
    for part in content:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            yield part["text"]
        elif item.get("role") == "assistant" and isinstance(part.get("transcript"), str):
            # A spoken answer is re-read as audio; its transcript is context text too.
            yield part["transcript"]


@dataclass(frozen=True, slots=True)
class InputCost:
    """A response's input tokens split as the usage object reports them."""

    text: int
    audio: int
    cached_text: int
    cached_audio: int


class PromptCache:
    """Remembers recent inputs of one session to report cached prefix tokens."""

    __slots__ = ("_history",)

    def __init__(self) -> None:
        self._history: deque[tuple[Segment, ...]] = deque(maxlen=CACHE_HISTORY)

    def cost(self, segments: Sequence[Segment]) -> InputCost:
        """Price ``segments`` and remember them for later responses.

        Args:
            segments: the response's input, instructions first.

        Returns:
            The input cost, with cached tokens from the longest shared prefix.
        """
        text = sum(s.text for s in segments)
        audio = sum(s.audio for s in segments)
        shared_text = shared_audio = 0
        for earlier in self._history:
            t, a = _shared_prefix(earlier, segments)
            if t + a > shared_text + shared_audio:
                shared_text, shared_audio = t, a
        self._history.append(tuple(segments))
        shared = shared_text + shared_audio
        if shared < CACHE_MIN_TOKENS:
            return InputCost(text, audio, 0, 0)
        cached = shared // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS
        # Audio first, the rest text: both stay within what was actually shared.
        cached_audio = min(shared_audio, cached)
        return InputCost(text, audio, cached - cached_audio, cached_audio)


def _shared_prefix(a: Sequence[Segment], b: Sequence[Segment]) -> tuple[int, int]:
    text = audio = 0
    for left, right in zip(a, b, strict=False):
        if left.key != right.key:
            break
        text += left.text
        audio += left.audio
    return text, audio
