"""atomic.py: files written whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtbatch.output.atomic import TEMP_NAME_BYTES, clip_utf8, write_whole


def test_write_whole_creates_directories_and_the_file(tmp_path: Path) -> None:
    """The chunks become the file's content; missing directories are made."""
    path = tmp_path / "a" / "b" / "f.txt"
    write_whole(path, [b"one ", b"two"])
    assert path.read_bytes() == b"one two"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    """An error mid-write leaves the previous content and removes the temporary file."""
    path = tmp_path / "f.txt"
    path.write_bytes(b"old")

    def chunks() -> Iterator[bytes]:
        yield b"new, half"
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        write_whole(path, chunks())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_long_name_still_gets_a_temporary_name(tmp_path: Path) -> None:
    """A 250-byte name is written: the temporary name repeats only part of it."""
    path = tmp_path / ("n" * 250)
    write_whole(path, [b"x"])
    assert path.read_bytes() == b"x"


def test_clip_utf8_never_cuts_a_character() -> None:
    """Clipping keeps whole characters within the byte limit."""
    assert clip_utf8("abc", 10) == "abc"
    assert clip_utf8("ééé", 5) == "éé"
    assert clip_utf8("a€", 3) == "a"
    assert len(clip_utf8("€" * 100, TEMP_NAME_BYTES).encode()) <= TEMP_NAME_BYTES
    assert clip_utf8("ab\udcff", 4) == "ab"
