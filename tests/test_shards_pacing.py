"""Shards sharing one account, on virtual time: when do they finish together?

Each shard is a whole :class:`~rtbatch.run.Run` over its partition of one job file,
given every shard's job count as ``rtbatch run --shard`` gives it (read from the
file), against one emulator that enforces the account's limit. The emulator and the
shards share trio's ``autojump_clock``, so the assertions are about instants: when
the last shard finished against when the account's rate allows, and how many
requests the account refused. Network rules as in tests/harness.py.
"""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from rtbatch.exitcodes import EXIT_OK
from rtbatch.jobs import read_jobs
from rtbatch.output.results import ResultFile
from rtbatch.run import Run
from rtbatch.shards import partition as shards
from rtbatch.shards.apply import own_first, owned
from tests.harness import Harness, by_id, prompt_jobs, read_results, start_emulator, write_jobs

SHARDS = 4
CONCURRENCY = 4


def _work(jobs: Path, shard: shards.Shard) -> tuple[int, ...]:
    """Every shard's job count, this shard's first, read as the runner reads it."""
    counts = [0] * shard.count
    for _ in owned(read_jobs(jobs), shard, counts):
        pass
    return own_first(counts, shard)


async def _shard(h: Harness, jobs: Path, shard: shards.Shard, ends: dict[int, float]) -> None:
    results = jobs.with_name(f"results.{shard.index}.jsonl")
    out = ResultFile.open(results)
    work = _work(jobs, shard)
    config = h.config(concurrency=CONCURRENCY, account_share=1 / shard.count)
    run = Run(config, owned(read_jobs(jobs), shard), out, total=work[0], shard_work=work)
    try:
        report = await run.run()
    finally:
        out.close()
    assert report.exit_code == EXIT_OK
    assert len(by_id(read_results(results))) == work[0]
    ends[shard.index] = trio.current_time()


async def _run_shards(h: Harness, jobs: Path, indexes: range) -> dict[int, float]:
    ends: dict[int, float] = {}
    async with trio.open_nursery() as nursery:
        for k in indexes:
            nursery.start_soon(_shard, h, jobs, shards.Shard(k, SHARDS), ends)
    return ends


async def test_shards_finish_together_at_the_accounts_rate(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """900 jobs, 4 shards, 600 RPM: after the first bucket, 300 at 10/s, all done by 33.6 s.

    The hash gives the shards 217 to 235 jobs. On an even quarter of the account
    each, the largest ran its last 6 s alone and finished at 34 to 36 s (with or
    without probes); on its part of the work left, the last shard ends by 33.6 s
    (30.3 to 31.5 s over 30 schedules of this run).
    """
    h = await start_emulator(nursery, tmp_path, rpm=600, latency_ms=50, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(900))
    ends = await _run_shards(h, jobs, range(SHARDS))
    # The first bucket (600) goes in about 2 s; the other 300 at 10/s take 30 s.
    assert max(ends.values()) <= 2.0 + 30.0 / 0.95
    limits = h.emulator.limits
    refused = sum(limits.refused.values())
    assert refused <= 0.05 * (900 + refused)


async def test_a_shard_alone_takes_the_idle_account(
    nursery: trio.Nursery, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """One of 4 shards runs alone (the others done, or not started): it probes, finds the
    account idle, and runs at the account's rate, not at its quarter of it.

    Shard 2 has 235 jobs; 120 RPM admits the first 120 at once, then 2/s. On its
    part of the work (0.28 of the account) the other 115 took 206 s with probing
    switched off; a probe is due after 30 s, and from then on the account is the
    shard's: it ends at 82 s.
    """
    h = await start_emulator(nursery, tmp_path, rpm=120, latency_ms=50, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(900))
    ends = await _run_shards(h, jobs, range(2, 3))
    assert ends[2] <= 120.0
    assert sum(h.emulator.limits.refused.values()) <= 5
