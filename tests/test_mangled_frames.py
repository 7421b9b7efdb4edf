"""Every server value rtbatch reads, mangled once, for every job kind: retried, never lost.

A generated matrix: for each job kind, each event it reads, each field of that event
and each wrong shape for the field's type (another type, null, the key dropped), and
each event cut short or sent twice, one frame is mangled on its way from the emulator
(tests/mangler.py). Whatever the shape, the run must end with the job's one line,
completed on a clean retry with an output, and never with an internal error. Text
kinds run on trio's virtual clock and must notice at the frame, not at a deadline;
audio kinds run in real time (decoding threads, which the virtual clock cannot see).
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from rtbatch.config import RetryPolicy, Timeouts
from rtbatch.exitcodes import EXIT_OK
from tests.audio.samples import speech, write_speech_wav
from tests.harness import by_id, start_emulator, write_jobs
from tests.mangler import DROP, TRUNCATE, TWICE, Mangle, Proxy

AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"
SEGMENT_MS = 20_000

#: A wrong shape for each JSON type, and the two every field may meet.
WRONG = {
    "str": [7, [], {}],
    "id": [7, [], {}, ""],
    "num": ["x", [], {}],
    "obj": ["x", 7, []],
    "list": ["x", 7, {}],
}
ANY_FIELD = [None, DROP]


def _response_fields(part: str) -> list[tuple[tuple[str | int, ...], str]]:
    return [
        (("response",), "obj"),
        (("response", "status"), "str"),
        (("response", "output"), "list"),
        (("response", "output", 0, "content"), "list"),
        (("response", "output", 0, "content", 0, part), "str"),
        (("response", "usage"), "obj"),
        (("response", "usage", "total_tokens"), "num"),
        (("response", "metadata"), "obj"),
        (("response", "metadata", "job_id"), "str"),
    ]


SESSION = ("session.created", [(("session",), "obj")])
DONE_TEXT = ("response.done", _response_fields("text"))
DONE_AUDIO = ("response.done", _response_fields("transcript"))
DELTA = ("response.output_audio.delta", [(("delta",), "str")])
COMMITTED = ("input_audio_buffer.committed", [(("item_id",), "id")])
TRANSCRIPT = (
    "conversation.item.input_audio_transcription.completed",
    [
        (("item_id",), "id"),
        (("transcript",), "str"),
        (("usage",), "obj"),
        (("usage", "seconds"), "num"),
    ],
)

#: What each job kind reads, and which of its frames of a type is mangled.
KINDS: dict[str, tuple[list[tuple[str, list[Any]]], int]] = {
    "text": ([SESSION, DONE_TEXT], 0),
    "text_audio_out": ([DELTA, DONE_AUDIO], 0),
    "respond": ([SESSION, COMMITTED, DONE_TEXT], 0),
    "transcribe": ([SESSION, TRANSCRIPT], 0),
    "segments": ([COMMITTED, TRANSCRIPT], 1),  # the second segment's: mid-file
}
TEXT_KINDS = ("text", "text_audio_out")


def _cells(kinds: tuple[str, ...]) -> list[Any]:
    cells = []
    for kind in kinds:
        events, nth = KINDS[kind]
        for event_type, fields in events:
            for value in (TRUNCATE, TWICE):
                name = "truncated" if value is TRUNCATE else "twice"
                cells.append(
                    pytest.param(
                        kind, Mangle(event_type, (), value, nth), id=f"{kind}-{event_type}-{name}"
                    )
                )
            for path, json_type in fields:
                for value in WRONG[json_type] + ANY_FIELD:
                    shown = "drop" if value is DROP else repr(value)
                    where = ".".join(map(str, path))
                    cells.append(
                        pytest.param(
                            kind,
                            Mangle(event_type, path, value, nth),
                            id=f"{kind}-{event_type}-{where}={shown}",
                        )
                    )
    return cells


def _job(kind: str, tmp: Path) -> dict[str, Any]:
    if kind == "text":
        return {"id": "job", "prompt": "hi"}
    if kind == "text_audio_out":
        return {"id": "job", "prompt": "speak", "output_modalities": ["audio"]}
    if kind == "respond":
        return {"id": "job", "audio": str(AUDIO / "question.ogg"), "task": "respond"}
    if kind == "transcribe":
        return {"id": "job", "audio": str(AUDIO / "hello.wav"), "task": "transcribe"}
    path = tmp / "long.wav"
    write_speech_wav(path, speech(24_000, repeats=1))  # about 40 s: a few segments
    return {"id": "job", "audio": str(path), "task": "transcribe"}


async def _run_mangled(
    nursery: trio.Nursery, tmp_path: Path, kind: str, mangle: Mangle
) -> tuple[Any, dict[str, Any]]:
    h = await start_emulator(nursery, tmp_path)
    port = await nursery.start(Proxy(h.emulator.port, mangle).serve)
    jobs = write_jobs(tmp_path / "jobs.jsonl", [_job(kind, tmp_path)])
    report, results = await h.run(
        jobs,
        url=f"ws://127.0.0.1:{port}/v1/realtime",
        audio_out=tmp_path / "answers",
        max_segment_ms=SEGMENT_MS,
        retry=RetryPolicy(max_attempts=3, initial_s=0.01, max_s=0.05),
        timeouts=Timeouts(job_s=60.0, idle_s=2.0),
    )
    assert mangle.applied == 1, "the cell's frame never passed the proxy"
    assert report.fatal is None  # never an internal error, never run-fatal
    assert report.exit_code == EXIT_OK
    (record,) = by_id(results).values()
    assert record["status"] == "completed"
    assert record["attempts"] <= 2  # one mangled frame costs one try at most
    output = record["output"]
    if kind in ("transcribe", "segments"):
        assert isinstance(output["transcript"], str) and output["transcript"]
    else:
        assert output.get("text") or output.get("transcript")
    if kind == "text_audio_out":
        with wave.open(output["audio_path"]) as wav:
            assert wav.getnframes() > 0
    return report, record


@pytest.mark.parametrize(("kind", "mangle"), _cells(TEXT_KINDS))
async def test_a_mangled_frame_of_a_text_job_costs_one_try_at_the_frame(
    nursery: trio.Nursery,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    kind: str,
    mangle: Mangle,
) -> None:
    """Text kinds: retried at once on the bad frame, long before the 2 s idle deadline."""
    report, _ = await _run_mangled(nursery, tmp_path, kind, mangle)
    assert report.summary.wall_s < 1.0


@pytest.mark.parametrize(("kind", "mangle"), _cells(tuple(k for k in KINDS if k not in TEXT_KINDS)))
async def test_a_mangled_frame_of_an_audio_job_costs_one_try(
    nursery: trio.Nursery, tmp_path: Path, kind: str, mangle: Mangle
) -> None:
    """Respond, transcribe and long files in segments: one line, completed on a clean try."""
    await _run_mangled(nursery, tmp_path, kind, mangle)
