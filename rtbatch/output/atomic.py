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
from typing import BinaryIO

#: Temporary files start with a dot, so listings and globs skip them.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".part"
#: How much of the target's name the temporary name repeats, in UTF-8 bytes:
#: enough to tell whose it is, short enough to stay under the 255-byte limit.
TEMP_NAME_BYTES = 64
#: Random bytes in the temporary name (as hex), so concurrent writers never share one.
TEMP_TOKEN_BYTES = 6


class AtomicFile:
    """A file written under a temporary name beside ``path``, and renamed into place whole.

    The one atomic writer of rtbatch: transcripts, job files and checkpoints
    (:func:`write_whole`), a merged result file, a repaired result file and a
    job's WAV answer all go through it. Use::

        with AtomicFile(path) as out:
            out.stream.write(data)
            out.commit()

    :meth:`commit` flushes and fsyncs the data, renames the temporary file to
    ``path`` (replacing any file there) and fsyncs the directory, so a power cut
    keeps the old file or the new one. Leaving the block without committing, by
    an exception or cancellation included, deletes the temporary file and
    leaves ``path`` as it was.

    Args:
        path: The file to create or replace. Missing parent directories are created.
        mode: Permission bits of the new file; by default 0o666 less the umask
            (``tempfile.mkstemp``'s 0o600 would make every transcript private).

    Raises:
        OSError: The directory or the temporary file cannot be created.
    """

    def __init__(self, path: Path, *, mode: int | None = None) -> None:
        self.path = path
        parent = path.parent
        parent.mkdir(parents=True, exist_ok=True)
        name = clip_utf8(path.name, TEMP_NAME_BYTES)
        token = secrets.token_hex(TEMP_TOKEN_BYTES)
        self.temp = parent / f"{TEMP_PREFIX}{name}.{token}{TEMP_SUFFIX}"
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            # Closed by commit or discard, whichever comes first.
            self.stream: BinaryIO = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.temp.unlink(missing_ok=True)
            raise
        self._done = False

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def commit(self) -> None:
        """Make the written data the content of :attr:`path`, durably.

        Raises:
            OSError: The data cannot be synced or renamed; the temporary file is
                then removed and ``path`` unchanged.
        """
        if self._done:
            raise ValueError(f"{self.path}: already committed or discarded")
        try:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            os.replace(self.temp, self.path)
        except BaseException:
            self.discard()
            raise
        self._done = True
        # The rename is durable once the directory entry is on disk; some file
        # systems cannot sync a directory, and there it stays best-effort.
        with suppress(OSError):
            sync_directory(self.path.parent)

    def discard(self) -> None:
        """Close and delete the temporary file, unless committed. Idempotent."""
        if self._done:
            return
        self._done = True
        with suppress(OSError):
            self.stream.close()
        with suppress(FileNotFoundError):
            os.unlink(self.temp)


def write_whole(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` as the whole content of ``path``, atomically and durably.

    Args:
        path: The file to create or replace (:class:`AtomicFile`).
        chunks: The content, in pieces (streamed: never joined in memory).

    Raises:
        OSError: The directory or the file cannot be written; ``path`` is then
            unchanged and the temporary file removed.
    """
    with AtomicFile(path) as out:
        for chunk in chunks:
            out.stream.write(chunk)
        out.commit()


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
