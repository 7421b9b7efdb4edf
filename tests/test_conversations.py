"""Conversations end to end: turns answered in order, in context, checkpointed, resumed.

Rules as in tests/harness.py: loopback only, port 0, the emulator started in
pytest-trio's nursery. Text conversations run on trio's virtual clock; audio
turns in real time (their decoding threads are invisible to the virtual clock),
with an emulator that answers at once. The kill -9 test runs ``rtbatch run`` in a
child process, as tests/test_long_audio.py does for segments.

The emulator's reply is a hash of everything the response reads
(rtbatch/emulator/replies.py), so a later turn's answer depends on the earlier
answers in its ``input``: the proofs compare it with the answer to the same
history sent whole as a ``messages`` job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
import trio

from rtbatch.emulator import FaultSchedule
from rtbatch.emulator.replies import WORD_AUDIO_MS
from rtbatch.exitcodes import EXIT_OK
from rtbatch.output.checkpoint import checkpoint_path
from tests.contract import assert_conforms, client_adapter
from tests.harness import Harness, by_id, read_results, received, start_emulator, write_jobs

virtual = pytest.mark.usefixtures("autojump_clock")

AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"
DIALECTS = [("ga", "gpt-realtime-1.5"), ("beta", "gpt-realtime")]
SAID = ("Hello, who are you?", "What did you just say?", "Now say it backwards.")
LOOKUP = {
    "type": "function",
    "name": "lookup_order",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}


def _chat(job_id: str = "chat", said: tuple[str, ...] = SAID, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "turns": [{"text": t} for t in said], **fields}


def _history(said: tuple[str, ...], answers: list[str]) -> list[dict[str, str]]:
    """The conversation up to the last turn, as a messages job spells it."""
    messages = []
    for text, answer in zip(said, [*answers, None], strict=False):
        messages.append({"role": "user", "content": text})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
    return messages


def _inputs(h: Harness) -> list[list[dict[str, Any]]]:
    return [e["response"]["input"] for e in received(h.emulator, "response.create")]


def _said(item: dict[str, Any]) -> tuple[str, str]:
    part = item["content"][0]
    return item["role"], part["text"]


def _write(tmp: Path, jobs: list[dict[str, Any]]) -> Path:
    tmp.mkdir(exist_ok=True)
    return write_jobs(tmp / "jobs.jsonl", jobs)


async def _run(h: Harness, tmp: Path, jobs: list[dict[str, Any]], **kw: Any) -> Any:
    report, results = await h.run(_write(tmp, jobs), **kw)
    assert report.fatal is None, report.fatal
    return report, by_id(results)


@virtual
@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_three_turns_each_answered_with_the_earlier_answers_in_context(
    nursery: trio.Nursery, tmp_path: Path, dialect: str, model: str
) -> None:
    """Turn k reads turns 1..k-1 and their real answers; its answer is the emulator's to them."""
    h = await start_emulator(nursery, tmp_path)
    report, results = await _run(h, tmp_path, [_chat()], dialect=dialect, model=model)
    line = results["chat"]
    assert (line["status"], line["kind"], report.exit_code) == ("completed", "conversation", 0)
    turns = line["output"]["turns"]
    answers = [t["text"] for t in turns]
    assert [t["turn"] for t in turns] == [1, 2, 3] and len(set(answers)) == 3
    assert line["output"]["text"] == answers[-1]
    # What each response read: the turns so far and the answers as they came back.
    inputs = _inputs(h)
    assert len(inputs) == 3
    for k, items in enumerate(inputs):
        expected = [(m["role"], m["content"]) for m in _history(SAID[: k + 1], answers[:k])]
        assert [_said(i) for i in items] == expected
    # The same history sent whole gets the same answers; another history another one.
    replay = [
        {"id": f"replay-{k}", "messages": _history(SAID[: k + 1], answers[:k])} for k in range(3)
    ]
    forged = {"id": "forged", "messages": _history(SAID, [answers[0], "Something else."])}
    _, again = await _run(h, tmp_path / "again", [*replay, forged], dialect=dialect, model=model)
    assert [again[f"replay-{k}"]["output"]["text"] for k in range(3)] == answers
    assert again["forged"]["output"]["text"] != answers[2]
    # The job's usage and cost are its turns' sums.
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert line["usage"][key] == sum(t["usage"][key] for t in turns)
    assert line["cost_usd"] == pytest.approx(sum(t["cost_usd"] for t in turns), abs=1e-9)
    assert report.summary.usage.total_tokens == line["usage"]["total_tokens"]
    # Out of band throughout (nothing written to the session's conversation), and every
    # response.create an event of the SDK's models, no field unknown.
    for event in received(h.emulator, "response.create"):
        assert event["response"]["conversation"] == "none"
        assert_conforms(client_adapter(dialect), event)


@virtual
async def test_a_turn_with_tools_runs_its_rounds_and_later_turns_read_the_calls(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Turn 1 calls and gets its scripted output; turn 2 reads call, output and answer."""
    h = await start_emulator(nursery, tmp_path)
    job = _chat(
        said=("Where is my order? Please lookup_order.", "Thanks, and when will it come?"),
        tools=[LOOKUP],
        tool_outputs={"lookup_order": {"output": {"status": "shipped"}}},
    )
    report, results = await _run(h, tmp_path, [job])
    first, second = results["chat"]["output"]["turns"]
    assert [c["name"] for c in first["tool_calls"]] == ["lookup_order"]
    assert first["tool_calls"][0]["output"] == {"status": "shipped"}
    assert len(first["rounds"]) == 2 and second["tool_calls"] == []
    assert first["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in first["rounds"]))
    *_, last = _inputs(h)
    types = [i["type"] for i in last]
    assert types == ["message", "function_call", "function_call_output", "message", "message"]
    assert last[1]["call_id"] == last[2]["call_id"] == first["tool_calls"][0]["call_id"]
    assert _said(last[3]) == ("assistant", first["text"])
    assert dict(report.summary.tool_calls) == {"lookup_order": 1}


async def test_audio_turns_are_committed_referenced_and_deleted_after_the_job(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Each audio turn is one committed item, referenced by every later turn, gone after."""
    h = await start_emulator(nursery, tmp_path)
    job = {
        "id": "voice",
        "turns": [
            {"audio": str(AUDIO / "hello.wav")},
            {"text": "Say that again, please."},
            {"audio": str(AUDIO / "question.ogg")},
        ],
    }
    _, results = await _run(h, tmp_path, [job, {"id": "next", "prompt": "Hi"}], concurrency=1)
    line = results["voice"]
    assert line["status"] == "completed" and len(line["output"]["turns"]) == 3
    assert line["usage"]["input_token_details"]["audio_tokens"] > 0
    commits = received(h.emulator, "input_audio_buffer.commit")
    assert len(commits) == 2
    first, second, third = _inputs(h)[:3]
    assert first[0]["type"] == "item_reference"
    assert second[0] == first[0] and third[0] == first[0]
    assert third[-1]["type"] == "item_reference" and third[-1] != first[0]
    deleted = {e["item_id"] for e in received(h.emulator, "conversation.item.delete")}
    assert deleted == {first[0]["id"], third[-1]["id"]}
    # The next job on the same connection read only its own prompt.
    assert [_said(i) for i in _inputs(h)[3]] == [("user", "Hi")]


@virtual
async def test_spoken_answers_are_replayed_as_their_transcripts_and_kept_in_one_wav(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A spoken turn's transcript is the next turn's assistant message; one WAV holds both."""
    h = await start_emulator(nursery, tmp_path)
    job = _chat(said=SAID[:2], output_modalities=["audio"])
    _, results = await _run(h, tmp_path, [job], audio_out=tmp_path / "answers")
    output = results["chat"]["output"]
    first, second = output["turns"]
    assert first["text"] is None and first["transcript"] and second["transcript"]
    assert output["transcript"] == second["transcript"]
    assert _said(_inputs(h)[1][1]) == ("assistant", first["transcript"])
    with wave.open(output["audio_path"]) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    words = len(first["transcript"].split()) + len(second["transcript"].split())
    assert seconds == pytest.approx(words * WORD_AUDIO_MS / 1000)


@virtual
async def test_a_drop_mid_conversation_replays_the_finished_turns_without_asking_again(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """The second turn's connection drops: the retry asks turns 2-3 with turn 1 replayed."""
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses={1: "drop"}))
    _, results = await _run(h, tmp_path, [_chat()])
    line = results["chat"]
    assert line["status"] == "completed" and line["attempts"] == 2
    answers = [t["text"] for t in line["output"]["turns"]]
    # Responses: turn 1, turn 2 (dropped), then turns 2 and 3 on a new connection.
    inputs = _inputs(h)
    assert len(inputs) == 4
    assert [_said(i) for i in inputs[2]] == [
        ("user", SAID[0]),
        ("assistant", answers[0]),
        ("user", SAID[1]),
    ]
    _, clean = await _run(h, tmp_path / "clean", [_chat()])
    assert [t["text"] for t in clean["chat"]["output"]["turns"]] == answers


@virtual
async def test_a_turn_failing_for_good_leaves_the_finished_turns_in_an_incomplete_line(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Turn 2 fails at every attempt: the line is incomplete, turn 1 in it, the error named."""
    schedule = FaultSchedule(responses={i: "server_error" for i in range(1, 4)})
    h = await start_emulator(nursery, tmp_path, schedule=schedule)
    from rtbatch.config import RetryPolicy

    retry = RetryPolicy(max_attempts=3, initial_s=0.05, max_s=0.1)
    report, results = await _run(h, tmp_path, [_chat()], retry=retry)
    line = results["chat"]
    assert (line["status"], line["output"]["reason"], line["attempts"]) == (
        "incomplete",
        "turn_failed",
        3,
    )
    (turn,) = line["output"]["turns"]
    assert turn["turn"] == 1 and line["error"]["code"] == "server_error"
    assert line["cost_usd"] == turn["cost_usd"] and line["usage"]["total_tokens"] > 0
    assert report.summary.counts["incomplete"] == 1


# --- kill -9 and a rerun ------------------------------------------------------------------

#: How often the kill test looks at the other process's checkpoint, and for how long.
POLL_S = 0.02
POLL_FOR_S = 10.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTBATCH_")}
    return {**env, "OPENAI_API_KEY": "sk-test-conversations", "PYTHONUNBUFFERED": "1"}


def _recorded(results: Path) -> list[bytes]:
    try:
        return checkpoint_path(results).read_bytes().splitlines()
    except FileNotFoundError:
        return []


async def test_kill_9_mid_conversation_then_rerun_asks_only_the_unfinished_turns(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """kill -9 with turns 1-2 recorded; the same command again asks turn 3 alone, in context."""
    import orjson

    # The third response never finishes in the first run: the kill lands with two
    # turns recorded and the third asked, a fixed point mid-conversation.
    h = await start_emulator(nursery, tmp_path, schedule=FaultSchedule(responses={2: "stall"}))
    jobs = write_jobs(tmp_path / "jobs.jsonl", [_chat()])
    out = tmp_path / "results.jsonl"
    args = [sys.executable, "-m", "rtbatch", "run", str(jobs), "-o", str(out)]
    args += ["--url", h.emulator.url, "-c", "1", "-q"]
    proc = await trio.lowlevel.open_process(args, env=_env(), stderr=subprocess.DEVNULL)
    try:
        for _ in range(round(POLL_FOR_S / POLL_S)):
            if len(_recorded(out)) == 2 and len(_inputs(h)) == 3:
                break
            await trio.sleep(POLL_S)
        else:
            raise AssertionError("not reached: turns 1-2 recorded, turn 3 asked")
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert not out.exists() or out.read_bytes() == b""
    recorded = [orjson.loads(line)["output"] for line in _recorded(out)]
    assert [r["turn"] for r in recorded] == [1, 2]
    asked = len(_inputs(h))

    rerun = await trio.run_process(args, env=_env(), capture_stderr=True, check=False)
    assert rerun.returncode == EXIT_OK, rerun.stderr.decode()
    (line,) = read_results(out)
    assert line["status"] == "completed" and line["attempts"] == 1
    turns = line["output"]["turns"]
    assert turns[:2] == [
        {**r, "cost_usd": t["cost_usd"]} for r, t in zip(recorded, turns, strict=False)
    ]
    # The rerun asked one response: turn 3, reading turns 1-2 and their recorded answers.
    (again,) = _inputs(h)[asked:]
    answers = [r["text"] for r in recorded]
    assert [_said(i) for i in again] == [(m["role"], m["content"]) for m in _history(SAID, answers)]
    assert line["usage"]["total_tokens"] == sum(t["usage"]["total_tokens"] for t in turns)
    assert not checkpoint_path(out).exists()  # forgotten once the line was written


async def test_a_conversation_recorded_whole_is_written_without_asking_or_sending_audio(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Killed after its last turn but before its line: the rerun writes it from the record."""
    import orjson

    from rtbatch.jobs import Turn
    from rtbatch.output.turns import turn_key

    h = await start_emulator(nursery, tmp_path)
    job = {"id": "chat", "turns": [{"audio": str(AUDIO / "hello.wav")}, {"text": "And?"}]}
    jobs = write_jobs(tmp_path / "jobs.jsonl", [job])
    first = tmp_path / "first.jsonl"
    args = [sys.executable, "-m", "rtbatch", "run", str(jobs), "--url", h.emulator.url, "-q"]
    done = await trio.run_process([*args, "-o", str(first)], env=_env(), capture_stderr=True)
    assert done.returncode == EXIT_OK, done.stderr.decode()
    (line,) = read_results(first)
    # The checkpoint as a run killed between the last turn and its line leaves it.
    out = tmp_path / "results.jsonl"
    keys = [turn_key(Turn(audio=AUDIO / "hello.wav")), turn_key(Turn(text="And?"))]
    checkpoint_path(out).write_bytes(
        b"".join(
            orjson.dumps({"job": "chat", "turn": i, "key": keys[i], "output": t}) + b"\n"
            for i, t in enumerate(line["output"]["turns"])
        )
    )
    sent = len(received(h.emulator, "input_audio_buffer.append"))
    asked = len(_inputs(h))
    rerun = await trio.run_process([*args, "-o", str(out)], env=_env(), capture_stderr=True)
    assert rerun.returncode == EXIT_OK, rerun.stderr.decode()
    (again,) = read_results(out)
    assert again["output"]["turns"] == line["output"]["turns"]
    assert (again["usage"], again["cost_usd"]) == (line["usage"], line["cost_usd"])
    assert len(_inputs(h)) == asked
    assert len(received(h.emulator, "input_audio_buffer.append")) == sent
    assert not checkpoint_path(out).exists()
