"""Writing a file whole: a temporary name beside it, fsync, rename; never torn.

A reader, or a run killed at any instant, sees either the old file or the new
one, never a mix or a prefix. The temporary file lives in the target's own
directory (a rename across file systems would not be atomic) under a hidden
name, :data:`TEMP_PREFIX` ``name`` ``.`` token :data:`TEMP_SUFFIX`; it is removed
when writing fails, and only a kill -9 or a power cut can leave one behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

#: Temporary files start with a dot, so listings and globs skip them.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".part"
#: How much of the target's name the temporary name repeats, in UTF-8 bytes:
#: enough to tell whose it is, short enough to stay under the 255-byte limit.
TEMP_NAME_BYTES = 64
#: Random bytes in the temporary name (as hex), so concurrent writers never share one.
TEMP_TOKEN_BYTES = 6


def write_whole(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` as the whole content of ``path``, atomically and durably.

    The parent directories are created when missing. The data is fsynced before
    the rename, and the directory after it, so a power cut keeps the old file or
    the new one.

    Args:
        path: The file to create or replace.
        chunks: The content, in pieces (streamed: never joined in memory).

    Raises:
        OSError: The directory or the file cannot be written; ``path`` is then
            unchanged and the temporary file removed.
    """
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    name = clip_utf8(path.name, TEMP_NAME_BYTES)
    temp = parent / f"{TEMP_PREFIX}{name}.{secrets.token_hex(TEMP_TOKEN_BYTES)}{TEMP_SUFFIX}"
    # os.open with 0o666, not tempfile.mkstemp: mkstemp's 0o600 would make every
    # transcript private whatever the user's umask says.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with open(fd, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    sync_directory(parent)


def sync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (fsync the directory itself).

    Raises:
        OSError: The directory cannot be opened or synced.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` bytes of UTF-8, never inside a character.

    Lone surrogates (undecodable file-name bytes, as :func:`os.fsdecode` gives
    them) count as three bytes and are kept.
    """
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return text
    end = max_bytes
    while end > 0 and raw[end] & 0xC0 == 0x80:  # a continuation byte: mid-character
        end -= 1
    return raw[:end].decode("utf-8", "surrogatepass")
