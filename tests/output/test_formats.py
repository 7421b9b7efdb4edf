"""formats.py: --format parsing, transcript file names, and txt/srt/vtt/json content.

srt and vtt files are read back with the `srt` and `webvtt-py` packages, not
with our own code, and their times compared with the segments'.
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
import srt
import webvtt

from rtbatch.output.formats import (
    CUE_MAX_LINES,
    FORMATS,
    LINE_WIDTH_CHARS,
    MAX_NAME_BYTES,
    Segment,
    cues,
    parse_formats,
    render_srt,
    render_vtt,
    srt_time,
    transcript_name,
    transcript_path,
    vtt_time,
    write_transcripts,
)

LONG_TEXT = " ".join(f"word{i}" for i in range(120))  # about 840 characters: several cues
SEGMENTS: list[Segment] = [
    {"start_ms": 0, "end_ms": 1500, "text": "Hello   world."},
    {"start_ms": 1500, "end_ms": 2200, "text": "   "},  # blank: no cue
    {"start_ms": 2200, "end_ms": 4000, "text": "Fish & chips <b>now</b>."},
    {"start_ms": 4000, "end_ms": 4000, "text": ""},  # empty: no cue
    {"start_ms": 3_723_004, "end_ms": 3_725_999, "text": "After an hour."},
]
USAGE = {"type": "tokens", "input_tokens": 10, "output_tokens": 4, "total_tokens": 14}


def ms(delta: timedelta) -> int:
    """A parser's timedelta as whole milliseconds."""
    return delta // timedelta(milliseconds=1)


def vtt_ms(stamp: str) -> int:
    """webvtt-py's 'HH:MM:SS.mmm' as milliseconds."""
    hours, minutes, rest = stamp.split(":")
    seconds, millis = rest.split(".")
    return ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def spoken(segments: list[Segment]) -> Iterator[Segment]:
    """The segments that have text."""
    return (s for s in segments if s["text"].strip())


# --- parse_formats ----------------------------------------------------------------------------


def test_parse_formats_takes_any_subset_in_canonical_order() -> None:
    """A subset comes back in FORMATS order, case and spaces ignored, repeats once."""
    assert parse_formats("vtt,txt") == ("txt", "vtt")
    assert parse_formats(" JSON , srt,srt") == ("srt", "json")
    assert parse_formats("json") == ("json",)


def test_parse_formats_all_means_every_format() -> None:
    """'all' asks for every format, as whisper's CLI does."""
    assert parse_formats("all") == FORMATS == ("txt", "srt", "vtt", "json")


@pytest.mark.parametrize(
    ("value", "named"),
    [("txt,docx", "'docx'"), ("srt,,vtt", "'srt,,vtt'"), ("", "''"), ("txt,", "'txt,'")],
)
def test_parse_formats_names_the_bad_entry(value: str, named: str) -> None:
    """An unknown or empty entry is a ValueError that quotes it and lists the choices."""
    with pytest.raises(ValueError, match="expected a comma-separated list") as caught:
        parse_formats(value)
    assert named in str(caught.value)
    assert "txt, srt, vtt, json" in str(caught.value)


# --- timestamps and cues ----------------------------------------------------------------------


def test_timestamps_are_formatted_exactly() -> None:
    """srt uses HH:MM:SS,mmm and vtt HH:MM:SS.mmm, zero-padded, hours past 99 kept."""
    assert srt_time(0) == "00:00:00,000"
    assert srt_time(3_723_004) == "01:02:03,004"
    assert vtt_time(3_723_004) == "01:02:03.004"
    assert vtt_time(59_999) == "00:00:59.999"
    assert srt_time(101 * 3_600_000 + 5) == "101:00:00,005"


def test_a_long_segment_becomes_several_cues_tiling_its_span() -> None:
    """A long text is split into cues of at most 2 lines of 42 characters covering it exactly."""
    segment: Segment = {"start_ms": 10_000, "end_ms": 70_000, "text": LONG_TEXT}
    found = list(cues([segment]))
    assert len(found) > 1
    assert found[0][0] == 10_000
    assert found[-1][1] == 70_000
    for (_, end, _), (start, _, _) in itertools.pairwise(found):
        assert end == start
    for start, end, lines in found:
        assert start < end
        assert 1 <= len(lines) <= CUE_MAX_LINES
        assert all(len(line) <= LINE_WIDTH_CHARS for line in lines)
    assert " ".join(" ".join(lines) for _, _, lines in found) == LONG_TEXT


def test_cue_times_follow_the_characters() -> None:
    """Cues share the span in proportion to their characters: equal text, equal time."""
    text = " ".join(["abcdefghij"] * 12)  # 4 lines of 3 words: two cues of equal length
    found = list(cues([{"start_ms": 0, "end_ms": 1000, "text": text}]))
    assert [(start, end) for start, end, _ in found] == [(0, 500), (500, 1000)]


# --- srt and vtt, read back by well-kept parsers ----------------------------------------------


def test_srt_parses_and_its_times_equal_the_segments() -> None:
    """The srt package reads one numbered cue per spoken segment, with the segment's times."""
    text = render_srt(SEGMENTS)
    assert text.startswith("1\n00:00:00,000 --> 00:00:01,500\nHello world.\n\n2\n")
    subtitles = list(srt.parse(text))
    expected = list(spoken(SEGMENTS))
    assert [s.index for s in subtitles] == [1, 2, 3]
    assert [(ms(s.start), ms(s.end)) for s in subtitles] == [
        (s["start_ms"], s["end_ms"]) for s in expected
    ]
    assert [s.content for s in subtitles] == [
        "Hello world.",
        "Fish & chips <b>now</b>.",
        "After an hour.",
    ]


def test_vtt_parses_and_its_times_equal_the_segments() -> None:
    """webvtt-py reads one cue per spoken segment, the segment's times, the text escaped."""
    text = render_vtt(SEGMENTS)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello world.\n\n")
    captions = webvtt.from_string(text).captions
    expected = list(spoken(SEGMENTS))
    assert [(vtt_ms(c.start), vtt_ms(c.end)) for c in captions] == [
        (s["start_ms"], s["end_ms"]) for s in expected
    ]
    assert "&lt;b&gt;" in captions[1].text  # escaped, so no tag is read into it
    assert [html.unescape(c.text) for c in captions] == [
        "Hello world.",
        "Fish & chips <b>now</b>.",
        "After an hour.",
    ]


def test_long_segments_parse_in_both_formats_with_exact_ends() -> None:
    """Split segments still parse; their first cue starts and last cue ends on the segment."""
    segments: list[Segment] = [
        {"start_ms": 0, "end_ms": 600_000, "text": LONG_TEXT},
        {"start_ms": 600_000, "end_ms": 601_000, "text": "Short."},
    ]
    subtitles = list(srt.parse(render_srt(segments)))
    captions = webvtt.from_string(render_vtt(segments)).captions
    assert len(subtitles) == len(captions) > 2
    srt_times = [(ms(s.start), ms(s.end)) for s in subtitles]
    vtt_times = [(vtt_ms(c.start), vtt_ms(c.end)) for c in captions]
    assert srt_times == vtt_times
    assert srt_times[0][0] == 0
    assert srt_times[-2][1] == 600_000
    assert srt_times[-1] == (600_000, 601_000)


def test_no_spoken_segment_gives_valid_empty_files() -> None:
    """Silence only: an empty srt and a vtt holding just its header, both parseable."""
    silent: list[Segment] = [{"start_ms": 0, "end_ms": 500, "text": ""}]
    assert render_srt(silent) == ""
    assert list(srt.parse(render_srt(silent))) == []
    assert render_vtt(silent) == "WEBVTT\n"
    assert webvtt.from_string(render_vtt(silent)).captions == []


# --- file names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_id", "name"),
    [
        ("calls/2026/a.mp3", "calls/2026/a"),
        ("call-17", "call-17"),
        ("a.MP3", "a"),
        ("v1.2", "v1.2"),
        ("notes.txt", "notes.txt"),
        ("Meeting 5 – Zürich.m4a", "Meeting 5 – Zürich"),
        ("/etc/passwd", "etc/passwd"),
        ("../../up.wav", "__/__/up"),
        ("a/./b//c.flac", "a/_/b/c"),
        (".hidden.mp3", "_hidden"),
        ("..mp3", "__mp3"),
        ('a:b*c?d"e<f>g|h\\i\nj', "a_b_c_d_e_f_g_h_i_j"),
        ("/", "_"),
    ],
)
def test_transcript_names_mirror_the_id_safely(job_id: str, name: str) -> None:
    """Ids keep their directories, lose an audio extension, and get unsafe parts replaced."""
    assert str(transcript_name(job_id)) == name


def test_long_id_components_are_cut_to_the_byte_limit() -> None:
    """Each component is cut to MAX_NAME_BYTES bytes of UTF-8, never inside a character."""
    name = transcript_name("d/" + "é" * 200 + ".mp3")
    assert name.parent.name == "d"
    assert len(name.name.encode()) <= MAX_NAME_BYTES
    assert set(name.name) == {"é"}


@pytest.mark.parametrize("job_id", ["../../x", "/abs/x.mp3", "..", "a/../../..", "./.."])
def test_no_id_escapes_the_directory(tmp_path: Path, job_id: str) -> None:
    """Whatever the id, every transcript path lies inside DIR."""
    directory = tmp_path / "out"
    for fmt in FORMATS:
        path = transcript_path(directory, job_id, fmt)
        assert path.resolve().is_relative_to(directory.resolve())
        assert path.suffix == f".{fmt}"


# --- writing ----------------------------------------------------------------------------------


def test_write_transcripts_writes_each_format_under_mirrored_directories(tmp_path: Path) -> None:
    """One file per format, named after the id under DIR, content as documented."""
    written = write_transcripts(
        tmp_path, "calls/2026/a.mp3", "Hello world. Fish.", SEGMENTS, USAGE, FORMATS
    )
    base = tmp_path / "calls" / "2026"
    assert written == [base / "a.txt", base / "a.srt", base / "a.vtt", base / "a.json"]
    assert (base / "a.txt").read_text() == "Hello world. Fish.\n"
    assert len(list(srt.parse((base / "a.srt").read_text()))) == 3
    assert len(webvtt.read(str(base / "a.vtt")).captions) == 3
    record = orjson.loads((base / "a.json").read_bytes())
    assert record == {
        "id": "calls/2026/a.mp3",
        "transcript": "Hello world. Fish.",
        "segments": SEGMENTS,
        "usage": USAGE,
    }
    assert sorted(p.name for p in base.iterdir()) == ["a.json", "a.srt", "a.txt", "a.vtt"]


def test_json_keeps_the_documented_segment_keys_and_txt_one_newline(tmp_path: Path) -> None:
    """json segments carry start_ms, end_ms and text only; txt never doubles its newline."""
    extra = [{"start_ms": 0, "end_ms": 5, "text": "hi", "item_id": "item_1"}]
    write_transcripts(tmp_path, "a", "hi\n", extra, None, ("txt", "json"))
    record = orjson.loads((tmp_path / "a.json").read_bytes())
    assert record["segments"] == [{"start_ms": 0, "end_ms": 5, "text": "hi"}]
    assert record["usage"] is None
    assert (tmp_path / "a.txt").read_text() == "hi\n"


def test_write_transcripts_writes_only_the_formats_asked(tmp_path: Path) -> None:
    """A subset writes only its files."""
    written = write_transcripts(tmp_path, "x", "t", SEGMENTS, None, parse_formats("srt"))
    assert written == [tmp_path / "x.srt"]
    assert [p.name for p in tmp_path.iterdir()] == ["x.srt"]


def test_rewriting_replaces_the_file_whole(tmp_path: Path) -> None:
    """A second write replaces the first file's content, leaving no temporary file."""
    write_transcripts(tmp_path, "a", "first", SEGMENTS, None, ("txt",))
    write_transcripts(tmp_path, "a", "second", SEGMENTS, None, ("txt",))
    assert (tmp_path / "a.txt").read_text() == "second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_files_get_the_umask_permissions(tmp_path: Path) -> None:
    """Transcripts are readable per the umask (0644 under 022), not private temp files."""
    old = os.umask(0o022)
    try:
        [path] = write_transcripts(tmp_path, "a", "t", SEGMENTS, None, ("txt",))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ({"start_ms": 5, "end_ms": 4, "text": "x"}, r"segments\[1\]\.end_ms: before start_ms"),
        ({"start_ms": -1, "end_ms": 4, "text": "x"}, r"segments\[1\]\.start_ms: expected"),
        ({"start_ms": 1.5, "end_ms": 4, "text": "x"}, r"segments\[1\]\.start_ms: expected"),
        ({"start_ms": 0, "end_ms": True, "text": "x"}, r"segments\[1\]\.end_ms: expected"),
        ({"start_ms": 0, "end_ms": 4, "text": None}, r"segments\[1\]\.text: expected a string"),
        ({"start_ms": 0, "text": "x"}, r"segments\[1\]\.end_ms: expected"),
    ],
)
def test_bad_segments_are_refused_before_anything_is_written(
    tmp_path: Path, segment: object, message: str
) -> None:
    """A malformed segment is a ValueError naming it and its field; no file is written."""
    bad = [SEGMENTS[0], segment]
    with pytest.raises(ValueError, match=message):
        write_transcripts(tmp_path, "a", "t", bad, None, FORMATS)
    assert list(tmp_path.iterdir()) == []
