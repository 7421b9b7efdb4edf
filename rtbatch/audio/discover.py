"""The inputs of ``rtbatch transcribe PATH...``: audio files found, in order, as jobs.

Each PATH is one of three things, tried in this order:

- **an existing file**: taken as it is, whatever its extension (you named it);
- **an existing directory**: searched recursively for files whose extension is
  in :data:`AUDIO_EXTENSIONS` (case-insensitive);
- **a glob** (it contains one of :data:`GLOB_CHARACTERS`): expanded here, since
  cron and make may pass it quoted. ``*``, ``?`` and ``[...]`` match within one
  name, ``**`` as a whole component matches any number of directories (none
  included). A glob is a search like a directory: a matching file is kept only
  with an audio extension, and a matching directory is searched recursively.

Searches follow the shell's habits: names starting with ``.`` are skipped (they
match a glob component only if it starts with ``.`` too; name a hidden file to
include it), symbolic links to files are followed, links to directories are
not descended (no loops, no escaping the tree).

**Job ids.** Each file's id is its path relative to the *common root*, the
deepest directory holding every PATH (a file counts by its directory, a glob
by the directories before its first wildcard), with ``/`` separators:
``rtbatch transcribe calls/`` gives ``2026/a.mp3``, ``rtbatch transcribe calls
meetings`` gives ``calls/2026/a.mp3`` and ``meetings/b.wav``. Paths are made
absolute and normalised (``.``, ``..``, repeated ``/``) but links are not
resolved, so ids are the same on every machine and every rerun *of the same
command*; other PATHs may give another root and so other ids.

**Order and duplicates.** Files come sorted by their id's components (code
point order of each name, not the locale's), and a file reached through two
PATHs comes once. A file reached under two different names (a link) is two
jobs.

**Memory.** Nothing is collected whole: each directory's listing is read,
filtered and sorted when the walk enters it and dropped when it leaves, and
the PATHs' sorted streams are merged lazily. A flat directory of 100,000 files
holds its names once; a job costs nothing after it is yielded.

**Errors.** A PATH that does not exist, or matches no audio file, raises
:class:`InputError` naming it *when* :func:`find_audio` *is called*, before
anything is yielded. A directory that cannot be read part-way through the walk
raises it during iteration: files are never skipped silently.
"""

from __future__ import annotations

import fnmatch
import heapq
import os
import stat
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from rtbatch.audio_extensions import AUDIO_EXTENSIONS
from rtbatch.jobs import TranscriptionOptions
from rtbatch.output.atomic import write_whole

#: A PATH holding one of these, and naming no existing file, is a glob.
GLOB_CHARACTERS: Final = "*?["
#: A glob component that matches any number of directories.
RECURSIVE_WILDCARD: Final = "**"
#: Names starting with this are hidden: skipped by searches and wildcards.
HIDDEN_PREFIX: Final = "."

_Parts = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AudioInput:
    """One audio file found: its job id and where it is.

    ``id`` is the path relative to the common root with ``/`` separators;
    ``path`` is absolute and normalised, links unresolved.
    """

    id: str
    path: Path


class InputError(ValueError):
    """Raised when a PATH matches no audio file or cannot be searched."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def find_audio(
    paths: Sequence[str | os.PathLike[str]],
    *,
    extensions: Collection[str] = AUDIO_EXTENSIONS,
) -> Iterator[AudioInput]:
    """Find the audio files named by ``paths``, sorted by id, each once.

    Every PATH is checked now (it exists, or as a glob matches, and yields at
    least one file); the rest of the walk happens lazily as the iterator is
    consumed.

    Args:
        paths: Files, directories and globs, as typed on the command line.
        extensions: Lower-case extensions without the dot that searches keep.

    Returns:
        An iterator of :class:`AudioInput`, sorted by id components.

    Raises:
        ValueError: ``paths`` is empty.
        InputError: A PATH does not exist, is neither a file nor a directory,
            matches no audio file, or cannot be read (at the call); a
            directory cannot be read (during iteration).
    """
    if not paths:
        raise ValueError("no input path given")
    shown = [os.fsdecode(p) for p in paths]
    wanted = frozenset(e.lower() for e in extensions)
    sources = [_classify(text, wanted) for text in shown]
    root = os.path.commonpath([s.base for s in sources])
    heads: list[tuple[_Parts, int, str, Iterator[tuple[_Parts, str]]]] = []
    for order, (text, source) in enumerate(zip(shown, sources, strict=True)):
        stream = source.stream(_parts(root, source.base))
        first = next(stream, None)
        if first is None:
            raise InputError(text, source.empty_reason)
        heads.append((first[0], order, first[1], stream))
    return _merge(heads)


def job_line(item: AudioInput, transcription: TranscriptionOptions | None = None) -> dict[str, Any]:
    """The job-file line (as a dict) that transcribes ``item``; see ``docs/jobs.md``.

    The audio path is absolute, so the line means the same in a job file
    anywhere. Only the transcription settings that are set are written.

    Raises:
        InputError: The file's name is not valid UTF-8, so JSON cannot hold it.
    """
    try:
        item.id.encode("utf-8")
        audio = str(item.path)
        audio.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(item.path).decode("utf-8", "backslashreplace")
        raise InputError(shown, "file name is not valid UTF-8; rename the file") from None
    options: dict[str, str] = {}
    if transcription is not None:
        for name in ("model", "language", "prompt"):
            value = getattr(transcription, name)
            if value is not None:
                options[name] = value
    return {"id": item.id, "audio": audio, "task": "transcribe", "transcription": options}


#: The suffix of a reference transcript beside its audio file (``call.mp3`` → ``call.txt``).
REFERENCE_SUFFIX: Final = ".txt"


def job_lines(
    items: Iterable[AudioInput],
    transcription: TranscriptionOptions | None = None,
    *,
    references: bool = False,
) -> Iterator[dict[str, Any]]:
    """:func:`job_line` for each item, lazily and in order.

    With ``references``, a file that has a text file of the same name beside it
    (:data:`REFERENCE_SUFFIX`) is scored against it: its line names the file as
    its ``reference``.
    """
    for item in items:
        line = job_line(item, transcription)
        sidecar = item.path.with_suffix(REFERENCE_SUFFIX)
        if references and sidecar.is_file():
            line["reference"] = {"path": str(sidecar)}
        yield line


def write_job_file(
    items: Iterable[AudioInput],
    path: Path,
    transcription: TranscriptionOptions | None = None,
    *,
    references: bool = False,
) -> int:
    """Write the items as a job file that :func:`rtbatch.jobs.read_jobs` reads.

    The file is streamed and written whole (see :mod:`rtbatch.output.atomic`): a failure
    leaves no partial job file behind. ``references`` as for :func:`job_lines`.

    Returns:
        The number of lines written.

    Raises:
        InputError: As :func:`job_line`, or as the iterator of :func:`find_audio`.
        OSError: The file cannot be written.
    """
    count = 0

    def lines() -> Iterator[bytes]:
        nonlocal count
        for line in job_lines(items, transcription, references=references):
            count += 1
            yield orjson.dumps(line) + b"\n"

    write_whole(path, lines())
    return count


# --- the three kinds of PATH ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """One PATH, classified: its base directory and how to walk it."""

    kind: str  # "file", "directory" or "glob"
    base: str  # absolute, normalised: a file's directory, a directory, a glob's fixed part
    extensions: frozenset[str]
    name: str = ""  # a file's name
    pattern: _Parts = ()  # a glob's components from its first wildcard on

    @property
    def empty_reason(self) -> str:
        listed = ", ".join(sorted(self.extensions))
        if self.kind == "glob":
            return f"matches no audio file (looked for: {listed})"
        return f"no audio file in this directory or below (looked for: {listed})"

    def stream(self, prefix: _Parts) -> Iterator[tuple[_Parts, str]]:
        if self.kind == "file":
            return iter([((*prefix, self.name), os.path.join(self.base, self.name))])
        return _walk(self.base, prefix, self.pattern or None, self.extensions)


def _classify(text: str, extensions: frozenset[str]) -> _Source:
    absolute = os.path.abspath(text)
    try:
        mode = os.stat(absolute).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputError(text, exc.strerror or str(exc)) from exc
    if mode is not None:
        if stat.S_ISDIR(mode):
            return _Source("directory", absolute, extensions)
        if stat.S_ISREG(mode):
            base, name = os.path.split(absolute)
            return _Source("file", base, extensions, name=name)
        raise InputError(text, "not a regular file or a directory")
    if not _is_magic(text):
        raise InputError(text, "no such file or directory")
    parts = absolute.split(os.sep)
    fixed = next(i for i, part in enumerate(parts) if _is_magic(part))
    base = os.sep.join(parts[:fixed]) or os.sep
    if not os.path.isdir(base):
        raise InputError(text, f"matches no file: no directory {base}")
    return _Source("glob", base, extensions, pattern=tuple(parts[fixed:]))


def _is_magic(part: str) -> bool:
    return any(c in part for c in GLOB_CHARACTERS)


def _parts(root: str, path: str) -> _Parts:
    relative = os.path.relpath(path, root)
    return () if relative == os.curdir else tuple(relative.split(os.sep))


def _merge(
    heads: list[tuple[_Parts, int, str, Iterator[tuple[_Parts, str]]]],
) -> Iterator[AudioInput]:
    """Merge the PATHs' sorted streams; equal ids are adjacent, so one is kept."""
    heapq.heapify(heads)
    last: _Parts | None = None
    while heads:
        parts, order, path, stream = heads[0]
        if parts != last:
            yield AudioInput("/".join(parts), Path(path))
            last = parts
        following = next(stream, None)
        if following is None:
            heapq.heappop(heads)
        else:
            heapq.heapreplace(heads, (following[0], order, following[1], stream))


# --- walking ----------------------------------------------------------------------------------

# Glob matching runs as a small automaton over path components: a state is how
# many pattern components are matched so far, and a directory's frame carries
# the set of states its path can be in, so each name is matched once.
_States = frozenset[int]


def _walk(
    top: str, prefix: _Parts, pattern: _Parts | None, extensions: frozenset[str]
) -> Iterator[tuple[_Parts, str]]:
    """Depth first, each directory's entries in name order: sorted by components.

    With ``pattern`` None every audio file below ``top`` is yielded; otherwise
    the files that match it, and every audio file below a directory that does.
    """
    start = _closure(pattern, frozenset({0})) if pattern is not None else None
    # A frame: the directory's path, its components, glob states, remaining entries.
    stack = [(top, prefix, start, _entries(top, extensions, pattern is None))]
    while stack:
        directory, parts, states, entries = stack[-1]
        if not entries:
            stack.pop()
            continue
        name, is_dir = entries.pop()
        path = os.path.join(directory, name)
        if states is None or pattern is None:
            if is_dir:
                stack.append((path, (*parts, name), None, _entries(path, extensions, True)))
            else:
                yield (*parts, name), path
            continue
        after = _step(pattern, states, name)
        if not after:
            continue
        matched = len(pattern) in after
        if is_dir:
            if matched:  # a matching directory is searched whole, as a directory PATH is
                stack.append((path, (*parts, name), None, _entries(path, extensions, True)))
            elif any(state < len(pattern) for state in after):
                stack.append((path, (*parts, name), after, _entries(path, extensions, False)))
        elif matched:
            yield (*parts, name), path


def _entries(
    directory: str, extensions: frozenset[str], skip_hidden: bool
) -> list[tuple[str, bool]]:
    """A directory's entries, (name, is a directory), sorted *descending*.

    Descending, so that the walk pops them from the end in ascending order.
    Only directories and audio files are kept, so a directory full of other
    files costs nothing to hold. Hidden names are kept for a glob, whose
    components may name them.
    """
    found: list[tuple[str, bool]] = []
    try:
        with os.scandir(directory) as scan:
            for entry in scan:
                if skip_hidden and entry.name.startswith(HIDDEN_PREFIX):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    found.append((entry.name, True))
                elif _is_audio(entry.name, extensions) and entry.is_file():
                    found.append((entry.name, False))
    except OSError as exc:
        raise InputError(directory, f"cannot search: {exc.strerror or exc}") from exc
    found.sort(reverse=True)
    return found


def _is_audio(name: str, extensions: frozenset[str]) -> bool:
    stem, dot, extension = name.rpartition(".")
    return bool(dot and stem) and extension.lower() in extensions


def _step(pattern: _Parts, states: _States, name: str) -> _States:
    """The states after matching one more component, ``name``."""
    hidden = name.startswith(HIDDEN_PREFIX)
    after: set[int] = set()
    for state in states:
        if state == len(pattern):
            continue
        part = pattern[state]
        if part == RECURSIVE_WILDCARD:
            if not hidden:
                after.add(state)
        elif (not hidden or part.startswith(HIDDEN_PREFIX)) and fnmatch.fnmatchcase(name, part):
            after.add(state + 1)
    return _closure(pattern, frozenset(after))


def _closure(pattern: _Parts, states: _States) -> _States:
    """Add the states reached by letting each ``**`` match no directory."""
    closed = set(states)
    for state in sorted(states):
        while state < len(pattern) and pattern[state] == RECURSIVE_WILDCARD:
            state += 1
            closed.add(state)
    return frozenset(closed)
