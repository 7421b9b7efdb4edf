"""inputs.py: PATHs (files, directories, globs) to sorted, unique audio jobs.

Every tree is built here with tmp_path; the files are empty, since only their
names matter.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest

from rtbatch.audio.discover import (
    AudioInput,
    InputError,
    find_audio,
    job_line,
    job_lines,
    write_job_file,
)
from rtbatch.jobs import Job, TranscriptionOptions, read_jobs

TREE = (
    "calls/2026/a.mp3",
    "calls/2026/b.WAV",
    "calls/2026/cover.jpg",
    "calls/notes.txt",
    "calls/.hidden.mp3",
    "calls/.cache/x.mp3",
    "calls/z.opus",
    "meetings/c.flac",
    "meetings/sub/d.m4a",
    "meetings/sub/e.webm",
)


def make_tree(root: Path, names: tuple[str, ...] = TREE) -> Path:
    """Create empty files at the given relative paths; return root."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def ids(paths: list[str | Path]) -> list[str]:
    """The job ids find_audio gives for the paths."""
    return [item.id for item in find_audio(paths)]


# --- the three kinds of PATH ------------------------------------------------------------------


def test_a_directory_is_searched_recursively_for_audio(tmp_path: Path) -> None:
    """A directory gives its audio files below it, relative to it; others and hidden skipped."""
    make_tree(tmp_path)
    assert ids([tmp_path / "calls"]) == ["2026/a.mp3", "2026/b.WAV", "z.opus"]


def test_several_paths_share_their_common_root(tmp_path: Path) -> None:
    """Two directories: ids are relative to the deepest directory holding both."""
    make_tree(tmp_path)
    assert ids([tmp_path / "meetings", tmp_path / "calls"]) == [
        "calls/2026/a.mp3",
        "calls/2026/b.WAV",
        "calls/z.opus",
        "meetings/c.flac",
        "meetings/sub/d.m4a",
        "meetings/sub/e.webm",
    ]


def test_a_file_is_taken_as_it_is_whatever_its_extension(tmp_path: Path) -> None:
    """A named file is a job even without an audio extension, and even when hidden."""
    make_tree(tmp_path)
    assert ids([tmp_path / "calls" / "notes.txt"]) == ["notes.txt"]
    assert ids([tmp_path / "calls" / ".hidden.mp3", tmp_path / "calls"]) == [
        ".hidden.mp3",
        "2026/a.mp3",
        "2026/b.WAV",
        "z.opus",
    ]


def test_a_quoted_recursive_glob_is_expanded(tmp_path: Path) -> None:
    """'**' matches any number of directories (none included); the root is the fixed part."""
    make_tree(tmp_path, (*TREE, "top.mp3"))
    assert ids([f"{tmp_path}/**/*.mp3"]) == ["calls/2026/a.mp3", "top.mp3"]
    assert ids([f"{tmp_path}/meetings/**"]) == ["c.flac", "sub/d.m4a", "sub/e.webm"]


def test_a_glob_keeps_only_audio_files(tmp_path: Path) -> None:
    """A glob is a search: matching non-audio files are left out."""
    make_tree(tmp_path)
    assert ids([f"{tmp_path}/calls/2026/*"]) == ["a.mp3", "b.WAV"]


def test_a_glob_matching_a_directory_searches_it(tmp_path: Path) -> None:
    """A directory matched by a glob is searched whole, as the shell would pass it."""
    make_tree(tmp_path)
    assert ids([f"{tmp_path}/meet*"]) == [
        "meetings/c.flac",
        "meetings/sub/d.m4a",
        "meetings/sub/e.webm",
    ]


def test_wildcards_skip_hidden_names_unless_spelled_with_a_dot(tmp_path: Path) -> None:
    """'*' and '**' never match a leading dot; a component starting with '.' may."""
    make_tree(tmp_path)
    assert ids([f"{tmp_path}/calls/*"]) == ["2026/a.mp3", "2026/b.WAV", "z.opus"]
    assert ids([f"{tmp_path}/calls/**"]) == ["2026/a.mp3", "2026/b.WAV", "z.opus"]
    assert ids([f"{tmp_path}/calls/.*.mp3"]) == [".hidden.mp3"]
    assert ids([f"{tmp_path}/calls/.c*/*.mp3"]) == [".cache/x.mp3"]


def test_glob_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative glob (as cron passes it quoted) is expanded from the working directory."""
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path / "calls")
    assert ids(["2026/*.mp3", "*.opus"]) == ["2026/a.mp3", "z.opus"]
    assert [str(item.path) for item in find_audio(["*.opus"])] == [
        str(tmp_path / "calls" / "z.opus")
    ]


def test_an_existing_name_with_glob_characters_is_a_file(tmp_path: Path) -> None:
    """A PATH that exists is taken literally even if it holds '[' or '*'."""
    make_tree(tmp_path, ("take[1].mp3", "take1.mp3"))
    assert ids([tmp_path / "take[1].mp3"]) == ["take[1].mp3"]
    assert ids([f"{tmp_path}/take[1].mp3".replace("take[1]", "take[0-9]")]) == ["take1.mp3"]


def test_links_to_files_are_followed_but_not_links_to_directories(tmp_path: Path) -> None:
    """A symlinked file is a job; a symlinked directory is not descended (no loops)."""
    make_tree(tmp_path, ("real/a.mp3",))
    (tmp_path / "real" / "link.mp3").symlink_to(tmp_path / "real" / "a.mp3")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real")
    assert ids([tmp_path / "real"]) == ["a.mp3", "link.mp3"]


# --- ids, order and duplicates ----------------------------------------------------------------


def test_ids_are_the_same_wherever_the_tree_lies(tmp_path: Path) -> None:
    """The same tree in two places gives the same ids, with '/' separators."""
    first = ids([make_tree(tmp_path / "one" / "deep") / "calls"])
    second = ids([make_tree(tmp_path / "two") / "calls"])
    assert first == second == ["2026/a.mp3", "2026/b.WAV", "z.opus"]


def test_order_is_by_path_components_in_code_point_order(tmp_path: Path) -> None:
    """Sorted by each name in turn (so 'a/x' before 'a-b'), upper case before lower."""
    make_tree(tmp_path, ("a-b.mp3", "a/x.mp3", "B.mp3", "a/c/y.mp3", "a/b.mp3"))
    found = ids([tmp_path])
    assert found == ["B.mp3", "a/b.mp3", "a/c/y.mp3", "a/x.mp3", "a-b.mp3"]
    assert found == sorted(found, key=lambda job_id: job_id.split("/"))


def test_a_file_reached_through_several_paths_comes_once(tmp_path: Path) -> None:
    """A directory, a glob and a file naming the same audio give each job once, in order."""
    make_tree(tmp_path)
    calls = tmp_path / "calls"
    found = ids([calls, calls / "2026" / "a.mp3", f"{calls}/**/*.mp3", f"{calls}/../calls/z.opus"])
    assert found == ["2026/a.mp3", "2026/b.WAV", "z.opus"]


def test_items_are_absolute_paths(tmp_path: Path) -> None:
    """Each item carries its id and its absolute path."""
    make_tree(tmp_path)
    assert list(find_audio([tmp_path / "meetings" / "c.flac"])) == [
        AudioInput("c.flac", tmp_path / "meetings" / "c.flac")
    ]


# --- errors and streaming ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing.mp3", "no such file or directory"),
        ("calls/2026/*.ogg", "matches no audio file"),
        ("nowhere/*.mp3", "matches no file: no directory"),
        ("empty", "no audio file in this directory or below"),
    ],
)
def test_a_path_that_matches_nothing_is_an_error_naming_it(
    tmp_path: Path, name: str, reason: str
) -> None:
    """Each PATH must yield a file; the error is a ValueError naming the PATH, at the call."""
    make_tree(tmp_path)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").touch()
    path = f"{tmp_path}/{name}"
    with pytest.raises(InputError) as caught:
        find_audio([tmp_path / "calls", path])  # not iterated: the call itself checks
    assert isinstance(caught.value, ValueError)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert reason in str(caught.value)


def test_no_path_is_an_error() -> None:
    """An empty PATH list is refused."""
    with pytest.raises(ValueError, match="no input path"):
        find_audio([])


def test_directories_are_read_as_the_walk_reaches_them(tmp_path: Path) -> None:
    """The walk is lazy: a file added to a later directory after the call is still found."""
    make_tree(tmp_path, ("a/1.mp3", "z/2.mp3"))
    found = find_audio([tmp_path])
    (tmp_path / "z" / "3.mp3").touch()
    assert [item.id for item in found] == ["a/1.mp3", "z/2.mp3", "z/3.mp3"]


def test_a_directory_lost_during_the_walk_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    """A directory that cannot be read mid-walk raises InputError naming it."""
    make_tree(tmp_path, ("a/1.mp3", "b/2.mp3"))
    found = find_audio([tmp_path])
    assert next(found).id == "a/1.mp3"
    shutil.rmtree(tmp_path / "b")
    with pytest.raises(InputError, match="cannot search") as caught:
        next(found)
    assert caught.value.path == str(tmp_path / "b")


# --- job lines ----------------------------------------------------------------------------------


def test_job_lines_have_the_job_file_shape(tmp_path: Path) -> None:
    """A job line is id, absolute audio, task transcribe and the set transcription options."""
    make_tree(tmp_path)
    item = next(find_audio([tmp_path / "calls"]))
    assert job_line(item) == {
        "id": "2026/a.mp3",
        "audio": str(tmp_path / "calls" / "2026" / "a.mp3"),
        "task": "transcribe",
        "transcription": {},
    }
    options = TranscriptionOptions(model="gpt-4o-transcribe", language="en")
    assert job_line(item, options)["transcription"] == {
        "model": "gpt-4o-transcribe",
        "language": "en",
    }


def test_a_written_job_file_passes_the_job_reader(tmp_path: Path) -> None:
    """write_job_file's output reads back through read_jobs as valid transcribe jobs."""
    make_tree(tmp_path / "in")
    options = TranscriptionOptions(model="whisper-1", language="fr", prompt="Names: Zoë")
    path = tmp_path / "out" / "jobs.jsonl"
    count = write_job_file(find_audio([tmp_path / "in"]), path, options)
    jobs = list(read_jobs(path, check_files=True))
    assert count == len(jobs) == 6
    assert all(isinstance(job, Job) for job in jobs)
    assert [job.id for job in jobs if isinstance(job, Job)] == ids([tmp_path / "in"])
    for job in jobs:
        assert isinstance(job, Job)
        assert job.kind == "transcribe"
        assert job.transcription == options
        assert job.audio == tmp_path / "in" / job.id


def test_job_lines_stream_in_order(tmp_path: Path) -> None:
    """job_lines is lazy and keeps find_audio's order."""
    make_tree(tmp_path)
    lines = job_lines(find_audio([tmp_path / "meetings"]))
    assert next(lines)["id"] == "c.flac"
    assert [line["id"] for line in lines] == ["sub/d.m4a", "sub/e.webm"]


def test_a_name_json_cannot_hold_is_an_input_error(tmp_path: Path) -> None:
    """A file name that is not UTF-8 is found, but refused as a job line, naming the file."""
    os.close(os.open(os.fsencode(tmp_path) + b"/bad\xff.mp3", os.O_CREAT | os.O_WRONLY))
    [item] = find_audio([tmp_path])
    with pytest.raises(InputError, match="not valid UTF-8") as caught:
        job_line(item)
    assert caught.value.path.endswith("bad\\xff.mp3")
    with pytest.raises(InputError):
        write_job_file([item], tmp_path / "jobs.jsonl")
    assert not (tmp_path / "jobs.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir()] == [os.fsdecode(b"bad\xff.mp3")]


def test_job_file_lines_are_compact_json(tmp_path: Path) -> None:
    """Each job is one JSON object on its own line."""
    make_tree(tmp_path, ("a.mp3", "b.mp3"))
    path = tmp_path / "jobs.jsonl"
    write_job_file(find_audio([tmp_path / "a.mp3", tmp_path / "b.mp3"]), path)
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["a.mp3", "b.mp3"]
