"""The default conversation: ordered items, and the normalisation of client items.

Audio bytes are measured and then dropped: an item keeps its sample count, not its
audio, so memory stays flat however much audio a session carries. (The real
``conversation.item.retrieved`` returns the audio; the emulator cannot.)
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from rtbatch.emulator.dialects import AudioFormat, JsonObj
from rtbatch.emulator.ids import IdFactory


@dataclass(slots=True)
class Item:
    """A conversation item.

    Attributes:
        wire: its wire form in the connection's dialect (no audio bytes).
        samples: 24 kHz samples of user audio it carries.
        out_audio_ms: milliseconds of assistant audio it carries.
    """

    wire: JsonObj
    samples: int = 0
    out_audio_ms: int = 0


def decode_audio(audio: str) -> bytes:
    """Strictly decode base64 audio.

    Raises:
        binascii.Error: not valid base64.
    """
    return binascii.a2b_base64(audio, strict_mode=True)


def samples_of(size: int, fmt: AudioFormat) -> int:
    """24 kHz samples in ``size`` bytes of ``fmt`` (G.711 bytes are 8 kHz: 3 each)."""
    return size // 2 if fmt == "pcm16" else size * 3


def normalize_item(
    wire: JsonObj, ids: IdFactory, fmt: AudioFormat, item_object: str | None
) -> Item:
    """A stored item from a validated client item.

    Fills ``id`` (if absent), ``object`` (removed where the dialect has none) and
    ``status``; measures and removes the bytes of ``audio`` parts (keeping their
    ``transcript``, ``null`` if none).

    Args:
        wire: the client's item (not modified).
        ids: makes the id when the client gave none.
        fmt: the session's input audio format.
        item_object: the dialect's item ``object`` value, or None (GA items have none).

    Returns:
        The item.

    Raises:
        binascii.Error: an ``audio`` field is not valid base64.
    """
    # Shallow copies suffice: only the item and its content parts are modified.
    item = dict(wire)
    if isinstance(item.get("content"), list):
        item["content"] = [dict(part) for part in item["content"]]
    item.setdefault("type", "message")
    item["id"] = item.get("id") or ids.make("item")
    if item_object is None:
        item.pop("object", None)
    else:
        item["object"] = item_object
    item.setdefault("status", "completed")
    samples = 0
    for part in item.get("content") or []:
        if "audio" in part:
            samples += samples_of(len(decode_audio(part.pop("audio"))), fmt)
            part.setdefault("transcript", None)
    return Item(item, samples=samples)


class Conversation:
    """Items in order, addressable by id.

    Args:
        conversation_id: the ``conv_…`` id responses report.
    """

    __slots__ = ("_items", "_order", "id")

    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self._items: dict[str, Item] = {}
        self._order: list[str] = []

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> Item | None:
        """The item with ``item_id``, or ``None``."""
        return self._items.get(item_id)

    def items(self) -> list[Item]:
        """All items, oldest first."""
        return [self._items[i] for i in self._order]

    def last_id(self) -> str | None:
        """Id of the newest item."""
        return self._order[-1] if self._order else None

    def insert(self, item: Item, after: str | None) -> str | None:
        """Insert ``item``: at the end (``None``), first (``"root"``), or after an id.

        Args:
            item: the item to add.
            after: where; must name an existing item unless ``None``/``"root"``.

        Returns:
            The id of the item now before it (``previous_item_id``), or ``None``.
        """
        item_id = item.wire["id"]
        if after is None:
            previous = self.last_id()
            self._order.append(item_id)
        elif after == "root":
            previous = None
            self._order.insert(0, item_id)
        else:
            previous = after
            self._order.insert(self._order.index(after) + 1, item_id)
        self._items[item_id] = item
        return previous

    def delete(self, item_id: str) -> None:
        """Remove an item (it must exist)."""
        del self._items[item_id]
        self._order.remove(item_id)
