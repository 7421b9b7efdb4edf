"""The peer: the same batch through the official ``openai`` SDK's realtime client.

Written the way the SDK's README and the asyncio docs suggest, with no handicap:
an ``asyncio.Semaphore`` bounds concurrency; the SDK's own ``connection.session``
and ``connection.response`` helpers send the events; ``connection.recv()`` yields
the SDK's typed server events. No debug logging, no extra awaits.

Each job does the same work as ``rtbatch run``: ``session.update`` (realtime,
text output, VAD off) once per connection, then an out-of-band ``response.create``
(``conversation: "none"``, the prompt as an input message, ``metadata.job_id``),
events until ``response.done``, then one JSON line per job (id, status, text,
usage, response id) appended to the result file and flushed.

Modes:
    per-job  one connection per job (open, configure, answer, close)
    reuse    a pool of C connections, each serving jobs one after another

Run: ``python -m bench.peer_client JOBS OUT --concurrency C --mode per-job --url ws://…/v1/realtime``
(API key from ``OPENAI_API_KEY``). Prints a one-line JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from openai import AsyncOpenAI

MODEL = "gpt-realtime"
SESSION: Any = {
    "type": "realtime",
    "output_modalities": ["text"],
    "audio": {"input": {"turn_detection": None}},
}


def read_jobs(path: str) -> Iterator[dict[str, Any]]:
    """The job file, one dict per non-blank line (streamed)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


async def answer(connection: Any, job: dict[str, Any]) -> dict[str, Any]:
    """One out-of-band response on an open, configured connection."""
    await connection.response.create(
        response={
            "conversation": "none",
            "output_modalities": ["text"],
            "metadata": {"job_id": job["id"]},
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": job["prompt"]}],
                }
            ],
        }
    )
    text: list[str] = []
    while True:
        event = await connection.recv()
        if event.type == "response.output_text.delta":
            text.append(event.delta)
        elif event.type == "response.done":
            response = event.response
            return {
                "id": job["id"],
                "status": response.status,
                "output": {"text": "".join(text)},
                "usage": response.usage.to_dict() if response.usage else None,
                "response_id": response.id,
            }
        elif event.type == "error":
            raise RuntimeError(f"job {job['id']}: {event.error.message}")


def write(out: TextIO, result: dict[str, Any]) -> None:
    """One line per job, flushed (as rtbatch does)."""
    out.write(json.dumps(result) + "\n")
    out.flush()


async def per_job(client: AsyncOpenAI, jobs: str, out: TextIO, concurrency: int) -> int:
    """Variant A: a semaphore of C, one connection per job."""
    semaphore = asyncio.Semaphore(concurrency)

    async def run_job(job: dict[str, Any]) -> None:
        async with semaphore, client.realtime.connect(model=MODEL) as connection:
            await connection.session.update(session=SESSION)
            write(out, await answer(connection, job))

    tasks = [run_job(job) for job in read_jobs(jobs)]
    await asyncio.gather(*tasks)
    return len(tasks)


async def reuse(client: AsyncOpenAI, jobs: str, out: TextIO, concurrency: int) -> int:
    """Variant B: C workers, each with its own connection, take jobs in turn."""
    source = read_jobs(jobs)
    done = 0

    async def worker() -> None:
        nonlocal done
        job = next(source, None)
        if job is None:
            return
        async with client.realtime.connect(model=MODEL) as connection:
            await connection.session.update(session=SESSION)
            while job is not None:
                write(out, await answer(connection, job))
                done += 1
                job = next(source, None)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def main(args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    base = args.url.rstrip("/").removesuffix("/realtime")
    client = AsyncOpenAI(api_key=os.environ["OPENAI_API_KEY"], websocket_base_url=base)
    started = time.perf_counter()
    runner = per_job if args.mode == "per-job" else reuse
    jobs = await runner(client, args.jobs, out, args.concurrency)
    wall = time.perf_counter() - started
    return {"jobs": jobs, "wall_s": round(wall, 3), "jobs_per_s": round(jobs / wall, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs")
    parser.add_argument("output")
    parser.add_argument("--concurrency", "-c", type=int, default=64)
    parser.add_argument("--mode", choices=("per-job", "reuse"), default="per-job")
    parser.add_argument("--url", required=True)
    arguments = parser.parse_args()
    with open(arguments.output, "a", encoding="utf-8") as results:
        summary = asyncio.run(main(arguments, results))
    sys.stdout.write(json.dumps(summary) + "\n")
