"""rtbatch.output.atomic: files written whole or not at all."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtbatch.output.atomic import TEMP_NAME_BYTES, AtomicFile, clip_utf8, write_whole


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


def test_atomic_file_appears_only_when_committed(tmp_path: Path) -> None:
    """Until commit the target is untouched and the data sits in one hidden temporary file."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with AtomicFile(path) as out:
        out.stream.write(b"new")
        assert path.read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["f.bin", out.temp.name])
        assert out.temp.name.startswith(".")
        out.commit()
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_file_left_without_commit_leaves_nothing(tmp_path: Path) -> None:
    """Leaving the block uncommitted, even normally, discards the temporary file."""
    path = tmp_path / "f.bin"
    with AtomicFile(path) as out:
        out.stream.write(b"half")
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_takes_the_mode_it_is_given(tmp_path: Path) -> None:
    """A repaired file keeps its own permission bits, whatever the umask says."""
    path = tmp_path / "f.bin"
    with AtomicFile(path, mode=0o640) as out:
        out.commit()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
