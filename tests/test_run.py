"""End-to-end text runs against the emulator over real sockets (see tests/harness.py rules)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from rtbatch.events import Response
from rtbatch.exitcodes import EXIT_FAILED, EXIT_OK
from rtbatch.protocol import read_response
from tests.harness import by_id, prompt_jobs, received, sent_responses, start_emulator, write_jobs


@pytest.mark.parametrize("dialect", ["ga", "beta"])
async def test_thousand_jobs_all_complete_with_the_servers_output(
    nursery: trio.Nursery, tmp_path: Path, dialect: str
) -> None:
    """1,000 jobs at concurrency 50: one completed line each, text and usage as the server sent."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(1000))
    report, results = await h.run(jobs, concurrency=50, dialect=dialect)
    assert report.exit_code == EXIT_OK
    got = by_id(results)
    assert len(got) == 1000
    sent = sent_responses(h.emulator)
    for job_id, record in got.items():
        assert record["status"] == "completed"
        server = read_response(msgspec.convert(sent[job_id], Response))
        assert record["output"]["text"] == server.text
        assert record["usage"] == sent[job_id]["usage"]
        assert record["response_id"] == server.response_id
        assert record["attempts"] == 1
    assert all(c.dialect == dialect for c in h.emulator.connections)
    assert len(h.emulator.connections) == 50
    assert report.summary.usage.output_tokens == sum(r["usage"]["output_tokens"] for r in results)


async def test_messages_options_and_instructions_reach_the_server(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Multi-turn messages, per-job options and instructions arrive as sent; defaults fill gaps."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {
                "id": "multi",
                "messages": [
                    {"role": "system", "content": "Be terse."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello."},
                    {"role": "user", "content": "Name a colour."},
                ],
                "instructions": "Answer in one word.",
                "max_output_tokens": 77,
                "voice": "marin",
            },
            {"id": "plain", "prompt": "What is 2+2?", "metadata": {"batch": 3}},
        ],
    )
    report, results = await h.run(jobs, concurrency=2, instructions="Default instructions.")
    assert report.exit_code == EXIT_OK
    creates = {
        e["response"]["metadata"]["job_id"]: e["response"]
        for e in received(h.emulator, "response.create")
    }
    multi = creates["multi"]
    assert [(i["role"], i["content"][0]["text"]) for i in multi["input"]] == [
        ("system", "Be terse."),
        ("user", "Hi"),
        ("assistant", "Hello."),
        ("user", "Name a colour."),
    ]
    assert multi["instructions"] == "Answer in one word."
    assert multi["max_output_tokens"] == 77
    assert multi["audio"] == {"output": {"voice": "marin"}}
    assert creates["plain"]["instructions"] == "Default instructions."
    assert by_id(results)["plain"]["metadata"] == {"batch": 3}


async def test_jobs_share_no_state_on_a_connection(nursery: trio.Nursery, tmp_path: Path) -> None:
    """On one reused connection, each response sees only its own job's items."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(20))
    report, _ = await h.run(jobs, concurrency=1)
    assert report.exit_code == EXIT_OK
    assert len(h.emulator.connections) == 1
    conn = h.emulator.connections[0]
    creates = [e for e in conn.received if e["type"] == "response.create"]
    assert len(creates) == 20
    for i, event in enumerate(creates):
        response = event["response"]
        assert response["conversation"] == "none"
        assert response["input"] == [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"Question number {i}?"}],
            }
        ]
    assert not [e for e in conn.received if e["type"] == "conversation.item.create"]
    for response in conn.responses:
        assert response["conversation_id"] is None


async def test_a_job_the_dialect_cannot_express_fails_alone(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """GA has no temperature: that job is refused unsent, with a clear error; the rest complete."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "hot", "prompt": "x", "temperature": 0.9},
            *prompt_jobs(5),
        ],
    )
    report, results = await h.run(jobs, concurrency=3)
    assert report.exit_code == EXIT_FAILED
    got = by_id(results)
    assert got["hot"]["status"] == "failed"
    assert got["hot"]["error"]["type"] == "invalid_job"
    assert "temperature" in got["hot"]["error"]["message"]
    assert got["hot"]["attempts"] == 0
    assert sum(r["status"] == "completed" for r in results) == 5
    assert len(received(h.emulator, "response.create")) == 5


async def test_rerun_skips_completed_jobs(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Running the same file again sends nothing and leaves one line per job."""
    h = await start_emulator(nursery, tmp_path)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(30))
    await h.run(jobs, concurrency=4)
    before = len(received(h.emulator, "response.create"))
    report, results = await h.run(jobs, concurrency=4)
    assert report.exit_code == EXIT_OK
    assert report.summary.skipped == 30
    assert len(received(h.emulator, "response.create")) == before
    assert len(by_id(results)) == 30


async def test_incomplete_response_is_reported_as_such(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A reply cut by max_output_tokens ends 'incomplete' with its reason, and is not retried."""
    h = await start_emulator(nursery, tmp_path, reply_words=40)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "short", "prompt": "x", "max_output_tokens": 3}]
    )
    report, results = await h.run(jobs)
    (record,) = results
    assert record["status"] == "incomplete"
    assert record["output"]["reason"] == "max_output_tokens"
    assert record["attempts"] == 1
    assert report.exit_code == EXIT_OK
