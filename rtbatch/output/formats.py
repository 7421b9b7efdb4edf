"""Transcript files: txt, srt, vtt and json, one per format per audio job.

A transcript is its segments, ``[{"start_ms", "end_ms", "text"}]`` in the
source file's time, the whole ``transcript`` text, and the ``usage`` summed
over the segments: what a transcribe job's result carries in ``output``.

**Formats.**

- ``txt``: the ``transcript`` exactly, ending with a newline (one is added if
  it has none).
- ``srt`` (SubRip) and ``vtt`` (WebVTT): one or more cues per segment, times
  ``HH:MM:SS,mmm`` and ``HH:MM:SS.mmm`` (hours grow past two digits if need
  be). Segments whose text is empty or blank are skipped. A segment's text has
  its whitespace collapsed and is wrapped at :data:`LINE_WIDTH_CHARS`; one cue
  holds at most :data:`CUE_MAX_LINES` lines (the common broadcast rule, 2 × 42),
  so a long segment becomes several cues. The service gives no word times, so
  the segment's span is shared between its cues in proportion to their
  characters: the first cue starts at the segment's ``start_ms``, the last
  ends at its ``end_ms``, and each cue starts where the one before it ends.
  vtt escapes ``&``, ``<`` and ``>``; srt has no escapes, and its cue text is
  written as it is.
- ``json``: ``{"id", "transcript", "segments", "usage"}``, indented; each
  segment as ``{"start_ms", "end_ms", "text"}`` (other keys are not copied),
  ``usage`` as given (``null`` when None).

**File names.** A job's files are ``DIR/<name>.<format>``, where ``<name>`` is
the job id with its directory structure kept (``calls/2026/a.mp3`` gives
``DIR/calls/2026/a.srt``, as whisper's tools name theirs), made safe:

- the id is split at ``/``; empty components are dropped, so an absolute id
  stays under DIR;
- in each component, :data:`UNSAFE_NAME_CHARACTERS` (control characters and
  ``\\ : * ? " < > |``) become :data:`REPLACEMENT_CHARACTER`, and leading dots
  do too, so ``.``, ``..`` and hidden names cannot occur: nothing escapes DIR;
- the last component loses an audio extension (:data:`rtbatch.audio_extensions.AUDIO_EXTENSIONS`,
  any case); another extension stays (``v1.2`` gives ``v1.2.srt``);
- each component is cut to :data:`MAX_NAME_BYTES` bytes of UTF-8;
- an id with nothing left is named :data:`EMPTY_NAME`.

Different ids can therefore share a name: ``a.mp3`` and ``a.wav`` both give
``a.srt`` (as with whisper), and so do ids differing only in unsafe
characters; the later write replaces the earlier.

Files are written whole (:func:`rtbatch.output.atomic.write_whole`): never torn, and
an existing file is replaced only by a complete new one.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal, TypedDict, get_args

import orjson

from rtbatch.audio_extensions import AUDIO_EXTENSIONS
from rtbatch.output.atomic import clip_utf8, write_whole
from rtbatch.output.transcript import clock

Format = Literal["txt", "srt", "vtt", "json"]
#: Every format, in the order files are written and listed.
FORMATS: Final[tuple[Format, ...]] = get_args(Format)
#: ``--format all`` asks for every format, as in whisper's CLI.
ALL_FORMATS: Final = "all"

#: Longest subtitle line, in characters (broadcast subtitling guidelines: 42).
LINE_WIDTH_CHARS: Final = 42
#: Most lines in one subtitle cue.
CUE_MAX_LINES: Final = 2

#: Characters replaced in file names: control characters, the path separator
#: of Windows, and what Windows or shells treat specially.
UNSAFE_NAME_CHARACTERS: Final = re.compile(r'[\x00-\x1f\x7f-\x9f\\:*?"<>|]')
REPLACEMENT_CHARACTER: Final = "_"
#: Longest file-name component, in UTF-8 bytes: 255 (the usual file-system
#: limit) less room for ``.json`` and for a suffix other tools may add (editors,
#: sync clients).
MAX_NAME_BYTES: Final = 200
#: The name of a job whose id has no usable character.
EMPTY_NAME: Final = "_"

_LEADING_DOTS = re.compile(r"^\.+")
_WHITESPACE = re.compile(r"\s+")


class Segment(TypedDict):
    """One transcribed stretch of the source file, times in milliseconds."""

    start_ms: int
    end_ms: int
    text: str


def parse_formats(value: str) -> tuple[Format, ...]:
    """Read a ``--format`` value: comma-separated formats, any subset, or ``all``.

    Case and spaces around entries are ignored; a repeated entry counts once.

    Args:
        value: For example ``"srt,vtt"``.

    Returns:
        The formats asked for, in :data:`FORMATS` order.

    Raises:
        ValueError: An entry is empty or not a format; the message names it.
    """
    expected = f"expected a comma-separated list of {', '.join(FORMATS)}, or {ALL_FORMATS}"
    wanted: set[str] = set()
    for entry in value.split(","):
        name = entry.strip().lower()
        if not name:
            raise ValueError(f"empty entry in format list {value!r} ({expected})")
        if name == ALL_FORMATS:
            wanted.update(FORMATS)
        elif name in FORMATS:
            wanted.add(name)
        else:
            raise ValueError(f"unknown transcript format {entry.strip()!r} ({expected})")
    return tuple(f for f in FORMATS if f in wanted)


def transcript_name(job_id: str) -> PurePosixPath:
    """The relative path, without extension, of a job's transcript files.

    See the module's docstring for the rules; the result never has an empty,
    ``.`` or ``..`` component and is never absolute.
    """
    components = [c for c in job_id.split("/") if c]
    names: list[str] = []
    for position, component in enumerate(components):
        name = UNSAFE_NAME_CHARACTERS.sub(REPLACEMENT_CHARACTER, component)
        if position == len(components) - 1:
            name = _without_audio_extension(name)
        name = _LEADING_DOTS.sub(lambda dots: REPLACEMENT_CHARACTER * len(dots[0]), name)
        names.append(clip_utf8(name, MAX_NAME_BYTES))
    return PurePosixPath(*names) if names else PurePosixPath(EMPTY_NAME)


def transcript_path(directory: Path, job_id: str, fmt: Format) -> Path:
    """Where the ``fmt`` file of job ``job_id`` goes under ``directory``."""
    name = transcript_name(job_id)
    return directory.joinpath(*name.parent.parts, f"{name.name}.{fmt}")


def write_transcripts(
    directory: Path,
    job_id: str,
    transcript: str,
    segments: Sequence[Segment],
    usage: dict[str, Any] | None,
    formats: Iterable[Format],
) -> list[Path]:
    """Write one job's transcript files, one per format, each whole.

    Blocking (file writes and fsyncs): call it from a worker thread in a trio
    program. Every file is rendered before the first is written, so bad
    segments fail the call with nothing written.

    Args:
        directory: The transcript directory (``--transcripts DIR``), created if missing.
        job_id: The job's id; see :func:`transcript_name` for the file names.
        transcript: The whole text.
        segments: The segments in the source file's time.
        usage: The job's usage, copied into the json file.
        formats: Which files to write.

    Returns:
        The paths written, in ``formats`` order.

    Raises:
        ValueError: A segment is malformed; the message names it and its field.
        OSError: A file cannot be written (the files already written stay).
    """
    rendered = [
        (transcript_path(directory, job_id, fmt), render(fmt, job_id, transcript, segments, usage))
        for fmt in formats
    ]
    for path, data in rendered:
        write_whole(path, [data])
    return [path for path, _ in rendered]


def render(
    fmt: Format,
    job_id: str,
    transcript: str,
    segments: Sequence[Segment],
    usage: dict[str, Any] | None,
) -> bytes:
    """One transcript file's content, as UTF-8 bytes.

    Raises:
        ValueError: As :func:`check_segments`.
    """
    check_segments(segments)
    if fmt == "txt":
        return (transcript if transcript.endswith("\n") else f"{transcript}\n").encode()
    if fmt == "srt":
        return render_srt(segments).encode()
    if fmt == "vtt":
        return render_vtt(segments).encode()
    times = [
        {"start_ms": s["start_ms"], "end_ms": s["end_ms"], "text": s["text"]} for s in segments
    ]
    record = {"id": job_id, "transcript": transcript, "segments": times, "usage": usage}
    return orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n"


def render_srt(segments: Sequence[Segment]) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm`` times, blank lines between."""
    blocks = []
    for number, (start, end, lines) in enumerate(cues(segments), start=1):
        text = "\n".join(lines)
        blocks.append(f"{number}\n{srt_time(start)} --> {srt_time(end)}\n{text}\n")
    return "\n".join(blocks)


def render_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT text: the header, then cues with ``HH:MM:SS.mmm`` times and escaped text."""
    blocks = ["WEBVTT\n"]
    for start, end, lines in cues(segments):
        text = "\n".join(_vtt_escape(line) for line in lines)
        blocks.append(f"{vtt_time(start)} --> {vtt_time(end)}\n{text}\n")
    return "\n".join(blocks)


def cues(segments: Sequence[Segment]) -> Iterable[tuple[int, int, list[str]]]:
    """The subtitle cues of ``segments``: (start ms, end ms, lines), in order.

    Blank segments give none; a long one gives several, sharing its span in
    proportion to their characters (see the module's docstring).
    """
    for segment in segments:
        text = _WHITESPACE.sub(" ", segment["text"]).strip()
        if not text:
            continue
        lines = textwrap.wrap(text, LINE_WIDTH_CHARS, break_on_hyphens=False)
        groups = [lines[i : i + CUE_MAX_LINES] for i in range(0, len(lines), CUE_MAX_LINES)]
        start, span = segment["start_ms"], segment["end_ms"] - segment["start_ms"]
        total = sum(len(line) for line in lines)
        done = 0
        cue_start = start
        for group in groups:
            done += sum(len(line) for line in group)
            # Integer shares of the span: the last cue ends exactly at end_ms.
            cue_end = start + span * done // total
            yield cue_start, cue_end, group
            cue_start = cue_end


def srt_time(ms: int) -> str:
    """``HH:MM:SS,mmm``, as SubRip writes times."""
    return clock(ms, ",")


def vtt_time(ms: int) -> str:
    """``HH:MM:SS.mmm``, as WebVTT writes times."""
    return clock(ms, ".")


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _without_audio_extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if dot and stem.strip(".") and extension.lower() in AUDIO_EXTENSIONS:
        return stem
    return name


def check_segments(segments: Sequence[Segment]) -> None:
    """Check that each segment has integer times, 0 <= start <= end, and a text.

    Raises:
        ValueError: Naming the first bad segment and field, e.g.
            ``segments[3].end_ms: before start_ms (1200 < 1500)``.
    """
    for index, segment in enumerate(segments):
        where = f"segments[{index}]"
        if not isinstance(segment, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(segment).__name__}")
        for key in ("start_ms", "end_ms"):
            value = segment.get(key)
            if type(value) is not int or value < 0:
                raise ValueError(f"{where}.{key}: expected an integer >= 0, got {value!r}")
        if segment["end_ms"] < segment["start_ms"]:
            raise ValueError(
                f"{where}.end_ms: before start_ms ({segment['end_ms']} < {segment['start_ms']})"
            )
        if not isinstance(segment.get("text"), str):
            raise ValueError(f"{where}.text: expected a string, got {segment.get('text')!r}")
