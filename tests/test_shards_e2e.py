"""Shards as real processes: ``rtbatch run --shard K/N`` against one emulator, then ``merge``.

Rules: loopback only, port 0, the emulator started in pytest-trio's nursery; the
CLI runs as ``python -m rtbatch`` so signals and exit codes are the real ones.
The victim shard starts first and is paced slowly; it is killed as soon as the
other shards have exited, and the test checks that the kill landed mid-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import trio

from rtbatch.exitcodes import EXIT_OK
from rtbatch.shards import partition as shards
from rtbatch.shards.partition import Shard
from tests.harness import (
    by_id,
    prompt_jobs,
    read_results,
    sent_responses,
    start_emulator,
    write_jobs,
)

SHARDS = 4
JOBS = 300
VICTIM = 1
# The victim's first run is paced (its share of --rpm 480 is one start every 0.5 s) so
# that it is still running when the other shards, started after it, have finished.
VICTIM_PACE = ("-c", "1", "--rpm", "480")
# Variables of the scheduler that must not leak into the shards from the test's environment.
SCHEDULER_VARIABLES = (shards.K8S_INDEX, shards.SLURM_TASK_ID, "RTBATCH_SHARD", "RTBATCH_SHARDS")


def _rtbatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtbatch", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCHEDULER_VARIABLES}
    return {**env, "OPENAI_API_KEY": "sk-test-shards", "PYTHONUNBUFFERED": "1"}


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def _read_until(stream: trio.abc.ReceiveStream, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        chunk = await stream.receive_some()
        assert chunk, f"the stream ended before {marker!r}: {seen.decode()}"
        seen += chunk


async def test_four_shards_a_kill_a_rerun_then_merge(nursery: trio.Nursery, tmp_path: Path) -> None:
    """4 shard processes, one killed -9 and rerun: the merge has every job exactly once."""
    h = await start_emulator(nursery, tmp_path, latency_ms=20, record=False)
    jobs = write_jobs(tmp_path / "jobs.jsonl", prompt_jobs(JOBS))
    base = tmp_path / "out" / "results.jsonl"
    files = [shards.shard_results_path(base, Shard(k, SHARDS)) for k in range(SHARDS)]

    def shard_cmd(k: int) -> list[str]:
        args = ("-o", str(base), "--url", h.emulator.url, "-c", "4")
        return _rtbatch("run", str(jobs), *args, "--shard", f"{k}/{SHARDS}")

    victim = await trio.lowlevel.open_process(
        [*shard_cmd(VICTIM), *VICTIM_PACE], env=_env(), stderr=subprocess.PIPE
    )
    assert victim.stderr is not None
    with trio.fail_after(30):  # real seconds: the start of a Python process
        await _read_until(victim.stderr, b"writes")  # it has its shard and result file
    others = [
        await trio.lowlevel.open_process(shard_cmd(k), env=_env(), stderr=subprocess.DEVNULL)
        for k in range(SHARDS)
        if k != VICTIM
    ]
    assert [await p.wait() for p in others] == [EXIT_OK] * (SHARDS - 1)
    victim.send_signal(signal.SIGKILL)
    assert await victim.wait() == -signal.SIGKILL
    await victim.stderr.aclose()
    owned = [j for j in prompt_jobs(JOBS) if shards.shard_of(j["id"], SHARDS) == VICTIM]
    assert 0 < _lines(files[VICTIM]) < len(owned), "the kill did not land mid-run"
    killed_at = _lines(files[VICTIM])

    merged = tmp_path / "merged.jsonl"
    merge = _rtbatch("merge", str(jobs), *map(str, files), "-o", str(merged))
    early = await trio.run_process(merge, env=_env(), capture_stderr=True, check=False)
    assert early.returncode == 1
    assert f"shard {VICTIM}/{SHARDS}" in early.stderr.decode()

    summary = tmp_path / "rerun.json"
    rerun = await trio.run_process(
        [*shard_cmd(VICTIM), "--summary", str(summary)],
        env=_env(),
        capture_stderr=True,
        check=False,
    )
    assert rerun.returncode == EXIT_OK, rerun.stderr.decode()
    # The last line may have been torn by the kill; the rerun drops and redoes it.
    assert orjson.loads(summary.read_bytes())["skipped"] in (killed_at - 1, killed_at)

    done = await trio.run_process(merge, env=_env(), capture_stderr=True, check=False)
    assert done.returncode == EXIT_OK, done.stderr.decode()
    results = read_results(merged)
    assert [r["id"] for r in results] == [j["id"] for j in prompt_jobs(JOBS)]
    assert {r["status"] for r in results} == {"completed"}
    for k, path in enumerate(files):
        assert {shards.shard_of(r["id"], SHARDS) for r in read_results(path)} == {k}


async def test_a_shard_sends_only_its_own_jobs(nursery: trio.Nursery, tmp_path: Path) -> None:
    """One shard's run sends the jobs it owns and no other, and records its invalid line."""
    h = await start_emulator(nursery, tmp_path, record=True)
    specs = prompt_jobs(40)
    lines = [orjson.dumps(j) for j in specs]
    lines.insert(5, b'{"id": "bad", "promt": "typo"}')  # line 6
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b"\n".join(lines) + b"\n")
    shard = Shard(shards.shard_of("line:6", 3), 3)  # the shard that owns the invalid line
    out = tmp_path / "r.jsonl"
    done = await trio.run_process(
        _rtbatch(
            "run",
            str(jobs),
            "-o",
            str(out),
            "--url",
            h.emulator.url,
            "--skip-invalid",
            "--shard",
            str(shard),
        ),
        env=_env(),
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr.decode()  # the invalid line is a failed job
    mine = {j["id"] for j in specs if shards.shard_of(j["id"], shard.count) == shard.index}
    assert 0 < len(mine) < len(specs)
    assert set(sent_responses(h.emulator)) == mine
    results = by_id(read_results(shards.shard_results_path(out, shard)))
    assert set(results) == mine | {"bad"}
    assert results["bad"]["line"] == 6
