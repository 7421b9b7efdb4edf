"""Long files end to end: segments as items, tiling, the model's caps, drops, kills, failures.

Network rules as in tests/harness.py, except the clock: decoding runs in worker
threads, which trio's virtual clock cannot see, so these tests use real time
with an emulator that answers at once. The audio is speech-like
(tests/audio/samples.py): phrases of buzz separated by pauses whose positions
the test knows. Every proof reads what the emulator states it received: each
transcript opens with "Emulated transcript of N samples.", and with ``record``
on, every append event of every connection is kept.

The 40-minute file runs at the default segment limit; the fault tests pass a
small ``max_segment_ms`` so that a few minutes of audio make many segments.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from rtbatch import audio
from rtbatch.audio.silence import SILENCE_MIN_MS
from rtbatch.config import RetryPolicy, Timeouts
from rtbatch.defaults import MAX_SEGMENT_MS
from rtbatch.emulator import FaultSchedule
from rtbatch.emulator.replies import transcript_words, words_within
from rtbatch.emulator.runtime import ConnectionRecord
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK
from rtbatch.models import lookup
from rtbatch.output.checkpoint import checkpoint_path
from rtbatch.run import RunReport
from tests.audio.samples import Speech, speech, write_speech_wav
from tests.harness import Harness, by_id, read_results, start_emulator, write_jobs
from tests.mangler import Mangle, Proxy

pytest.importorskip("av")

RATE = audio.SAMPLE_RATE
#: A token-capped model with a per-item limit (2,000 output tokens, 1,400 s).
CAPPED = "gpt-4o-transcribe"
#: The fault tests' segment limit: a few minutes of audio make many segments.
SHORT_SEGMENT_MS = 20_000
STATED = re.compile(r"^Emulated transcript of (\d+) samples\.")


# --- reading what the emulator received ------------------------------------------------


def stated(text: str) -> int:
    """The sample count a transcript states the emulator received for its item."""
    match = STATED.match(text)
    assert match, text
    return int(match.group(1))


def appended(conn: ConnectionRecord) -> int:
    """24 kHz PCM16 samples the client appended on one connection."""
    return sum(
        len(base64.b64decode(e["audio"])) // 2
        for e in conn.received
        if e.get("type") == "input_audio_buffer.append"
    )


def committed_samples(conn: ConnectionRecord) -> list[int]:
    """The samples each completed transcription of a connection states, in commit order."""
    return [stated(text) for text in conn.transcripts.values()]


def boundaries(segments: list[dict[str, Any]]) -> list[int]:
    """Each segment's end, in samples, from the counts the emulator states (contiguous)."""
    ends, at = [], 0
    for segment in segments:
        at += stated(segment["text"])
        ends.append(at)
    return ends


def assert_tiles(segments: list[dict[str, Any]], total: int) -> list[int]:
    """The segments cover ``total`` samples exactly, in order; their ends, in samples.

    The stated counts add up to the file's length, and each segment's
    ``start_ms``/``end_ms`` is where those counts put it (ms, rounded down).
    """
    ends = boundaries(segments)
    assert ends[-1] == total
    starts = [0, *ends[:-1]]
    for segment, start, end in zip(segments, starts, ends, strict=True):
        assert segment["start_ms"] == start * 1000 // RATE, segment
        assert segment["end_ms"] == end * 1000 // RATE, segment
    for before, after in itertools.pairwise(segments):
        assert before["end_ms"] == after["start_ms"]
    return ends


def assert_whole(segments: list[dict[str, Any]]) -> None:
    """No segment's transcript was cut: each is all the words its duration gets."""
    for segment in segments:
        n = stated(segment["text"])
        assert segment["text"] == " ".join(transcript_words(n)), segment["start_ms"]


def long_pauses(voice: Speech) -> list[tuple[int, int]]:
    """The pauses the detector reports: at least its minimum long."""
    return [(a, b) for a, b in voice.pauses if (b - a) * 1000 >= SILENCE_MIN_MS * voice.rate]


def transcribe_job(path: Path, job_id: str = "long", model: str | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {"id": job_id, "audio": str(path), "task": "transcribe"}
    if model is not None:
        job["transcription"] = {"model": model}
    return job


def short_cuts(path: Path) -> list[audio.Cut]:
    """The segments the session makes of ``path`` at :data:`SHORT_SEGMENT_MS`."""
    return [
        item
        for item in audio.iter_segmented(
            path,
            max_segment_ms=SHORT_SEGMENT_MS,
            tolerance_ms=SHORT_SEGMENT_MS // 5,
        )
        if isinstance(item, audio.Cut)
    ]


# --- forty minutes at the default limit -----------------------------------------------

LEAD_BURST_MS = 7 * 60_000


@pytest.fixture(scope="module")
def forty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Speech]:
    """Seven minutes of unbroken buzz (a hard cut), then phrases and pauses: 41 minutes."""
    voice = speech(RATE, repeats=50, lead_burst_ms=LEAD_BURST_MS)
    path = tmp_path_factory.mktemp("long") / "forty.wav"
    write_speech_wav(path, voice)
    assert voice.samples > 40 * 60 * RATE
    return path, voice


async def transcribe_capped(
    nursery: trio.Nursery, tmp_path: Path, path: Path, **overrides: Any
) -> tuple[Harness, int, dict[str, Any]]:
    """One transcribe job of ``path`` on :data:`CAPPED`: the harness, exit code and result."""
    h = await start_emulator(nursery, tmp_path, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path, model=CAPPED)])
    report, results = await h.run(jobs, **overrides)
    (result,) = results
    return h, report.exit_code, result


async def test_forty_minutes_tile_cut_in_silences_and_are_never_truncated(
    nursery: trio.Nursery, tmp_path: Path, forty: tuple[Path, Speech]
) -> None:
    """At the default limit, segments tile the file, cut in pauses, each transcript whole."""
    path, voice = forty
    h, code, result = await transcribe_capped(nursery, tmp_path, path)
    assert code == EXIT_OK
    assert result["status"] == "completed", result
    segments = result["output"]["segments"]
    ends = assert_tiles(segments, voice.samples)
    limit = MAX_SEGMENT_MS * RATE // 1000
    assert len(segments) >= voice.samples // limit + 1
    assert all(stated(s["text"]) <= limit for s in segments)
    # Where each cut lies: the one hard cut is in the opening burst, at the limit;
    # every other lies inside a pause the detector can see.
    pauses = long_pauses(voice)
    cuts = ends[:-1]
    hard = [c for c in cuts if not any(a < c < b for a, b in pauses)]
    assert hard == [limit]
    assert limit < LEAD_BURST_MS * RATE // 1000
    # No transcript is cut by the model's 2,000-token cap, and they join in order.
    assert_whole(segments)
    assert result["output"]["transcript"] == " ".join(s["text"] for s in segments)
    assert h.emulator.stats.transcriptions == len(segments)
    words = len(result["output"]["transcript"].split())
    assert words > words_within(lookup(CAPPED).transcript_tokens or 0)  # type: ignore[union-attr]


async def test_forty_minutes_as_one_item_fail_at_the_model_s_item_limit(
    nursery: trio.Nursery, tmp_path: Path, forty: tuple[Path, Speech]
) -> None:
    """Sent whole (a limit past its length), the file is one item, refused past 1,400 s."""
    path, voice = forty
    h, code, result = await transcribe_capped(nursery, tmp_path, path, max_segment_ms=60 * 60_000)
    assert code == EXIT_FAILED
    assert result["status"] == "failed"
    assert result["attempts"] == 1  # the service's refusal is final
    assert result["error"]["code"] == "invalid_value"
    message = result["error"]["message"]
    assert message.startswith("segment 0 (00:00:00-00:41:")
    assert f"audio duration {voice.samples / RATE} seconds" in message
    assert "longer than 1400 seconds" in message
    assert h.emulator.stats.transcriptions == 1


async def test_twelve_minutes_as_one_item_are_cut_at_the_cap_but_whole_in_segments(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Under the item limit but over the output cap: one item is truncated, segments are not."""
    voice = speech(RATE, repeats=18)  # 12.3 minutes: over the cap's ~10, under 1,400 s
    path = tmp_path / "twelve.wav"
    write_speech_wav(path, voice)
    cap_words = words_within(lookup(CAPPED).transcript_tokens or 0)  # type: ignore[union-attr]
    assert len(transcript_words(voice.samples)) > cap_words
    h = await start_emulator(nursery, tmp_path, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path, model=CAPPED)])

    _, one = await h.run(jobs, tmp_path / "one.jsonl", max_segment_ms=60 * 60_000)
    (whole,) = one[0]["output"]["segments"]
    assert stated(whole["text"]) == voice.samples  # all the audio arrived ...
    assert len(whole["text"].split()) == cap_words  # ... and the transcript stops at the cap

    _, cut = await h.run(jobs, tmp_path / "segmented.jsonl")
    segments = cut[0]["output"]["segments"]
    assert len(segments) >= 3
    assert_tiles(segments, voice.samples)
    assert_whole(segments)
    assert len(cut[0]["output"]["transcript"].split()) > cap_words


def assert_whole_in_two_tries(
    report: RunReport, results: list[dict[str, Any]], voice: Speech, cuts: list[audio.Cut]
) -> None:
    """One line, completed on its second try: every segment once, each its own transcript."""
    assert report.exit_code == EXIT_OK
    (result,) = results
    assert result["status"] == "completed" and result["attempts"] == 2
    segments = result["output"]["segments"]
    assert_tiles(segments, voice.samples)
    assert [stated(s["text"]) for s in segments] == [c.samples for c in cuts]


# --- faults in the middle of a file -------------------------------------------------------


@pytest.fixture
def two_minutes(tmp_path: Path) -> tuple[Path, Speech, list[audio.Cut]]:
    """Two minutes of phrases (123 s) and its segments at the short limit."""
    voice = speech(RATE, repeats=3)
    path = tmp_path / "two.wav"
    write_speech_wav(path, voice)
    cuts = short_cuts(path)
    assert len(cuts) >= 6
    return path, voice, cuts


async def test_a_drop_mid_file_resends_only_the_unfinished_segments(
    nursery: trio.Nursery, tmp_path: Path, two_minutes: tuple[Path, Speech, list[audio.Cut]]
) -> None:
    """The connection drops in segment 3: the retry appends from segment 3's start on, once."""
    path, voice, cuts = two_minutes
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses={3: "drop"}))
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path)])
    report, results = await h.run(jobs, concurrency=1, max_segment_ms=SHORT_SEGMENT_MS)
    assert_whole_in_two_tries(report, results, voice, cuts)
    first, second = h.emulator.connections
    assert first.close_code is None  # cut without a close frame
    # Segments 0-2 were transcribed before the drop; segment 3 was not, nor anything after.
    assert committed_samples(first) == [c.samples for c in cuts[:3]]
    assert appended(first) > cuts[3].start_sample
    # The retry sent every sample from segment 3's start, and nothing before it.
    assert appended(second) == voice.samples - cuts[3].start_sample
    assert committed_samples(second) == [c.samples for c in cuts[3:]]


async def test_a_stall_mid_file_resends_that_segment_and_none_that_finished(
    nursery: trio.Nursery, tmp_path: Path, two_minutes: tuple[Path, Speech, list[audio.Cut]]
) -> None:
    """Segment 2's transcript stalls while the later ones finish: the retry sends segment
    2 alone (the later segments' cuts fall where they did and are not billed again)."""
    path, voice, cuts = two_minutes
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses={2: "stall"}))
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path)])
    report, results = await h.run(
        jobs,
        concurrency=1,
        max_segment_ms=SHORT_SEGMENT_MS,
        timeouts=Timeouts(job_s=60.0, idle_s=0.5),
        retry=RetryPolicy(initial_s=0.01, max_s=0.01),
    )
    assert_whole_in_two_tries(report, results, voice, cuts)
    first, second = h.emulator.connections
    assert sorted(committed_samples(first)) == sorted(
        c.samples for i, c in enumerate(cuts) if i != 2
    )
    assert committed_samples(second) == [cuts[2].samples]
    assert appended(second) == cuts[2].samples


async def test_a_malformed_transcript_mid_file_keeps_the_segments_before_it(
    nursery: trio.Nursery, tmp_path: Path, two_minutes: tuple[Path, Speech, list[audio.Cut]]
) -> None:
    """Segment 3's transcript arrives with a number for its text (issue 21's regression).

    A protocol error of that try, not a CheckpointMismatch: the segments already
    recorded survive, and the retry sends only from segment 3's start.
    """
    path, voice, cuts = two_minutes
    h = await start_emulator(nursery, tmp_path)
    mangle = Mangle("conversation.item.input_audio_transcription.completed", ("transcript",), 7, 3)
    port = await nursery.start(Proxy(h.emulator.port, mangle).serve)
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path)])
    report, results = await h.run(
        jobs,
        url=f"ws://127.0.0.1:{port}/v1/realtime",
        concurrency=1,
        max_segment_ms=SHORT_SEGMENT_MS,
        retry=RetryPolicy(max_attempts=3, initial_s=0.01, max_s=0.05),
    )
    assert mangle.applied == 1
    assert report.exit_code == EXIT_OK
    (result,) = results
    assert result["status"] == "completed" and result["attempts"] == 2
    segments = result["output"]["segments"]
    assert_tiles(segments, voice.samples)
    first, second = h.emulator.connections
    assert committed_samples(first)[:3] == [c.samples for c in cuts[:3]]
    # The retry sent every sample from segment 3's start, and nothing before it.
    assert committed_samples(second) == [c.samples for c in cuts[3:]]
    assert appended(second) == voice.samples - cuts[3].start_sample


async def test_a_failed_segment_is_retried_alone_on_the_same_session(
    nursery: trio.Nursery, tmp_path: Path, two_minutes: tuple[Path, Speech, list[audio.Cut]]
) -> None:
    """A server_error on segment 2 costs only segments from 2 on; each keeps its own transcript."""
    path, voice, cuts = two_minutes
    h = await start_emulator(
        nursery, tmp_path, schedule=FaultSchedule(responses={2: "server_error"})
    )
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path)])
    report, results = await h.run(jobs, concurrency=1, max_segment_ms=SHORT_SEGMENT_MS)
    assert report.exit_code == EXIT_OK
    (result,) = results
    assert result["status"] == "completed" and result["attempts"] == 2
    (conn,) = h.emulator.connections  # a server error leaves the session usable
    segments = result["output"]["segments"]
    assert_tiles(segments, voice.samples)
    # Each segment's transcript is the one of its own item, however late others arrive.
    assert [stated(s["text"]) for s in segments] == [c.samples for c in cuts]
    # What was sent twice is a run of whole segments starting at segment 2.
    again = appended(conn) - voice.samples
    resent = [c.end_sample - cuts[2].start_sample for c in cuts[2:]]
    assert again in resent, (again, resent)


async def test_a_segment_failing_for_good_leaves_the_job_incomplete_naming_it(
    nursery: trio.Nursery, tmp_path: Path, two_minutes: tuple[Path, Speech, list[audio.Cut]]
) -> None:
    """Every try of segment 2 fails: the line is incomplete, with segments 0-1, naming segment 2."""
    path, _, cuts = two_minutes
    # Every transcription from the third on fails; each try reaches segment 2 first.
    failing = {i: "server_error" for i in range(2, 4 * len(cuts))}
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses=failing))
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path)])
    report, results = await h.run(
        jobs,
        concurrency=1,
        max_segment_ms=SHORT_SEGMENT_MS,
        retry=RetryPolicy(max_attempts=3, initial_s=0.01, max_s=0.05),
    )
    assert report.exit_code == EXIT_OK  # incomplete is a final status, not a failure
    (result,) = results
    assert result["status"] == "incomplete" and result["attempts"] == 3
    assert result["output"]["reason"] == "segment_failed"
    segments = result["output"]["segments"]
    assert [stated(s["text"]) for s in segments] == [c.samples for c in cuts[:2]]
    assert segments[-1]["end_ms"] == cuts[2].start_ms
    assert result["output"]["transcript"] == " ".join(s["text"] for s in segments)
    assert result["error"]["type"] == "server_error"
    assert result["error"]["message"].startswith(
        f"segment 2 ({clock(cuts[2].start_ms)}-{clock(cuts[2].end_ms)}): "
    )
    usage = result["usage"]
    assert usage["seconds"] == pytest.approx(sum(c.samples for c in cuts[:2]) / RATE)


def clock(ms: int) -> str:
    """HH:MM:SS, as an error names a segment's span."""
    s = ms // 1000
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


# --- kill -9 and a rerun ------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtbatch", "run", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTBATCH_")}
    return {**env, "OPENAI_API_KEY": "sk-test-long-audio", "PYTHONUNBUFFERED": "1"}


def _recorded(results: Path) -> int:
    """Whole lines in the segment checkpoint beside ``results`` (0 when there is none)."""
    try:
        return checkpoint_path(results).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


#: How often the kill test looks at the other process's checkpoint, and for how long.
POLL_S = 0.02
POLL_FOR_S = 10.0


async def _until(condition: Any, what: str) -> None:
    """Poll another process's progress (a file it writes) until ``condition()`` holds."""
    for _ in range(round(POLL_FOR_S / POLL_S)):
        if condition():
            return
        await trio.sleep(POLL_S)
    raise AssertionError(f"not reached within {POLL_FOR_S:g} s: {what}")


async def test_kill_9_mid_file_then_rerun_resends_only_unrecorded_segments(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """kill -9 with segments 0-3 recorded; the same command again sends from segment 4 on."""
    voice = speech(RATE, repeats=4)  # 164 s
    path = tmp_path / "call.wav"
    write_speech_wav(path, voice)
    cuts = short_cuts(path)
    done = 4
    assert len(cuts) > done + 2
    # Transcriptions from segment 4 on never finish in the first run: the kill lands
    # with segments 0-3 recorded and the rest sent, a fixed point in the middle.
    stalls = {i: "stall" for i in range(done, len(cuts))}
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses=stalls))
    jobs = write_jobs(tmp_path / "jobs.jsonl", [transcribe_job(path, "calls/call.wav")])
    out = tmp_path / "results.jsonl"
    args = _cli(str(jobs), "-o", str(out), "--url", h.emulator.url, "-c", "1", "-q")
    args += ["--max-segment", str(SHORT_SEGMENT_MS / 1000)]
    proc = await trio.lowlevel.open_process(args, env=_env(), stderr=subprocess.DEVNULL)
    try:
        await _until(
            lambda: _recorded(out) == done and h.emulator.stats.transcriptions == len(cuts),
            "segments 0-3 recorded, every segment committed",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert not out.exists() or out.read_bytes() == b""
    assert _recorded(out) == done
    killed = len(h.emulator.connections)

    rerun = await trio.run_process(args, env=_env(), capture_stderr=True, check=False)
    assert rerun.returncode == EXIT_OK, rerun.stderr.decode()
    lines = read_results(out)
    assert len(lines) == 1 and len(by_id(lines)) == 1
    (result,) = lines
    assert result["status"] == "completed"
    assert [stated(s["text"]) for s in result["output"]["segments"]] == [c.samples for c in cuts]
    assert_tiles(result["output"]["segments"], voice.samples)
    # The rerun appended segments 4 on, whole, and not one sample of 0-3.
    again = h.emulator.connections[killed:]
    assert sum(appended(c) for c in again) == voice.samples - cuts[done].start_sample
    assert [n for c in again for n in committed_samples(c)] == [c.samples for c in cuts[done:]]
    assert not checkpoint_path(out).exists()  # forgotten once the line was written
