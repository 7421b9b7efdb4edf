"""A compact index of job ids: duplicate detection and resume, in 18-36 bytes an id.

A run must remember every id it has seen (to refuse duplicates) and every job an
earlier run settled (to skip it). A ``dict`` or ``set`` of strings costs 110-140
bytes an id, which at a million jobs is the largest thing a run holds. This
index keeps only a 64-bit hash and a 32-bit line number per id, in two flat arrays with
open addressing, so memory stays a small constant per job.

The price is a false match when two different ids share a 64-bit hash: at a
million ids the chance of any such pair is about 3 in 100 million. Hashes come
from Python's own string hash, salted per process, so no file can be built to
collide on purpose; the index is never saved.
"""

from __future__ import annotations

from array import array

_EMPTY = 0
_MASK64 = (1 << 64) - 1
# Lines are kept in 32 bits; a file of four billion lines reports the cap.
_MAX_LINE = (1 << 32) - 1
_INITIAL_SLOTS = 1024
# Grow past this fill: linear probing stays short below two thirds.
_MAX_LOAD = 2 / 3


class IdIndex:
    """A set of ids, each with the line it was first seen on."""

    __slots__ = ("_keys", "_lines", "_mask", "_size")

    def __init__(self) -> None:
        self._keys = array("Q", bytes(8 * _INITIAL_SLOTS))
        self._lines = array("I", bytes(4 * _INITIAL_SLOTS))
        self._mask = _INITIAL_SLOTS - 1
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        digest = _digest(key)
        keys, mask = self._keys, self._mask
        slot = digest & mask
        while (found := keys[slot]) != _EMPTY:
            if found == digest:
                return True
            slot = (slot + 1) & mask
        return False

    def setdefault(self, key: str, line: int) -> int:
        """Record ``key`` as first seen on ``line``; return the line it was first seen on."""
        digest = _digest(key)
        keys, mask = self._keys, self._mask
        slot = digest & mask
        while (found := keys[slot]) != _EMPTY:
            if found == digest:
                return int(self._lines[slot])
            slot = (slot + 1) & mask
        keys[slot] = digest
        self._lines[slot] = min(line, _MAX_LINE)
        self._size += 1
        if self._size > len(keys) * _MAX_LOAD:
            self._grow()
        return line

    def add(self, key: str) -> None:
        """Record ``key`` (the line is not needed)."""
        self.setdefault(key, 0)

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        slots = len(old_keys) * 2
        self._keys = keys = array("Q", bytes(8 * slots))
        self._lines = lines = array("I", bytes(4 * slots))
        self._mask = mask = slots - 1
        for digest, line in zip(old_keys, old_lines, strict=True):
            if digest != _EMPTY:
                slot = digest & mask
                while keys[slot] != _EMPTY:
                    slot = (slot + 1) & mask
                keys[slot] = digest
                lines[slot] = line


def _digest(key: str) -> int:
    # Zero marks an empty slot, so a hash of zero is moved to one.
    return (hash(key) & _MASK64) or 1
