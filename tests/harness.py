"""Helpers for end-to-end runs against the emulator, in process, over loopback.

Rules for the network tests that use this module: loopback only, port 0, the
emulator started in pytest-trio's ``nursery`` fixture, trio's ``autojump_clock``
wherever latency, backoff or timeouts are involved (the emulator runs in the
same trio run, so virtual time is deterministic), and no real sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import trio

from rtbatch.config import ApiKey, RetryPolicy, RunConfig, Timeouts
from rtbatch.emulator import Emulator, EmulatorConfig, serve
from rtbatch.jobs import JobRules, read_jobs
from rtbatch.output.results import ResultFile
from rtbatch.output.resume import prepare_resume
from rtbatch.run import Run, RunReport

TEST_KEY = "sk-test-harness-0123456789"


def write_jobs(path: Path, jobs: list[dict[str, Any]]) -> Path:
    """A job file from dicts."""
    path.write_bytes(b"".join(orjson.dumps(j) + b"\n" for j in jobs))
    return path


def prompt_jobs(n: int, prefix: str = "job") -> list[dict[str, Any]]:
    """``n`` distinct prompt jobs."""
    return [{"id": f"{prefix}-{i}", "prompt": f"Question number {i}?"} for i in range(n)]


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every result line, asserting each is whole JSON."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@dataclass
class Harness:
    """Runs batches against one emulator started in the test's nursery."""

    tmp: Path
    emulator: Emulator
    runs: list[RunReport] = field(default_factory=list)
    last: Run | None = None

    def config(self, **overrides: Any) -> RunConfig:
        retry = overrides.pop("retry", RetryPolicy(initial_s=0.05, max_s=2.0))
        timeouts = overrides.pop("timeouts", Timeouts(job_s=30.0))
        return RunConfig(
            api_key=ApiKey(overrides.pop("key", TEST_KEY)),
            url=overrides.pop("url", self.emulator.url),
            retry=retry,
            timeouts=timeouts,
            seed=overrides.pop("seed", 7),
            **overrides,
        )

    async def run(
        self,
        jobs_file: Path,
        results: Path | None = None,
        *,
        rules: JobRules | None = None,
        **overrides: Any,
    ) -> tuple[RunReport, list[dict[str, Any]]]:
        """Run a job file to the end (resuming like the CLI); the report and all result lines.

        ``rules`` check the file (default: GA and its default models), as a run's
        options would.
        """
        results = results or jobs_file.with_suffix(".results.jsonl")
        config = self.config(**overrides)
        index = prepare_resume(results, retry_failed=config.retry_failed)
        out = ResultFile.open(results)
        total = sum(1 for _ in read_jobs(jobs_file, rules=rules))
        jobs = read_jobs(jobs_file, rules=rules)
        self.last = Run(
            config,
            jobs,
            out,
            done=index.done,
            total=total,
            settled_failed_checks=index.failed_checks,
        )
        try:
            report = await self.last.run()
        finally:
            out.close()
        self.runs.append(report)
        return report, read_results(results)


async def start_emulator(nursery: trio.Nursery, tmp: Path, **options: Any) -> Harness:
    """Start an emulator on an ephemeral port and wrap it in a harness."""
    options.setdefault("record", True)
    # Runs are tested in both dialects: serve beta too (OpenAI's service refuses it).
    options.setdefault("accept_beta", True)
    emulator = await nursery.start(serve, EmulatorConfig(**options))
    return Harness(tmp, emulator)


def by_id(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Results keyed by id, asserting no id appears twice."""
    out: dict[str, dict[str, Any]] = {}
    for record in results:
        assert record["id"] not in out, f"duplicate result for {record['id']}"
        out[record["id"]] = record
    return out


def sent_responses(emulator: Emulator) -> dict[str, dict[str, Any]]:
    """Every completed response the emulator sent, keyed by its job id metadata."""
    out: dict[str, dict[str, Any]] = {}
    for conn in emulator.connections:
        for response in conn.responses:
            if response.get("status") == "completed":
                out[(response.get("metadata") or {}).get("job_id")] = response
    return out


def received(emulator: Emulator, event_type: str) -> list[dict[str, Any]]:
    """Every client event of a type the emulator received, over all connections."""
    return [e for c in emulator.connections for e in c.received if e.get("type") == event_type]
