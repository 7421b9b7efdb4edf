"""Identifiers shaped like the service's (``event_`` + 21 base62 characters, ``resp_`` ...).

Ids are a random per-factory stem plus a counter: unique within a process, cheap (no
``secrets`` call per event), and never reused across connections.
"""

from __future__ import annotations

import itertools
import random
import string

_ALPHABET = string.digits + string.ascii_letters
#: 9 random characters + 12 counter digits = the service's 21-character bodies.
_STEM_LEN = 9


class IdFactory:
    """Makes ids for one connection.

    Args:
        rng: source of the random stem (seeded in tests, so ids are reproducible).
    """

    __slots__ = ("_counter", "_stem")

    def __init__(self, rng: random.Random) -> None:
        self._stem = "".join(rng.choice(_ALPHABET) for _ in range(_STEM_LEN))
        self._counter = itertools.count()

    def make(self, prefix: str) -> str:
        """A new id such as ``item_3kT9aa01B0000000000012``.

        Args:
            prefix: the kind, without underscore (``event``, ``item``, ``resp`` ...).

        Returns:
            The id.
        """
        # Decimal digits are base62 digits too, and formatting them is much cheaper.
        return f"{prefix}_{self._stem}{next(self._counter):012d}"
