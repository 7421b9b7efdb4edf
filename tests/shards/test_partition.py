"""shards.py: a stable partition, shards from options and schedulers, divided limits."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rtbatch.shards.partition import (
    UNSHARDED,
    Shard,
    ShardError,
    divide_limit,
    parse_shard,
    resolve_shard,
    shard_from_results_path,
    shard_of,
    shard_results_path,
)

# Computed once (BLAKE2b, digest_size=8, big-endian, mod 4) and pinned: a change
# here moves jobs between shards, and every sharded result file then goes stale.
PINNED_4 = {
    "job-0": 0,
    "job-1": 3,
    "job-2": 2,
    "job-3": 0,
    "job-4": 3,
    "job-5": 0,
    "job-6": 2,
    "job-7": 0,
    "capital-fr": 0,
    "chat-1": 3,
    "call-17": 0,
    "question-3": 3,
    "line:3": 0,
    "ünïcödé": 1,
    "日本語": 0,
}


def test_partition_is_pinned() -> None:
    """Each pinned id lands on its pinned shard of 4, and the digest is the documented one."""
    assert {key: shard_of(key, 4) for key in PINNED_4} == PINNED_4
    assert shard_of("job-0", 2**64) == 0x89F4957D9DA6C900


def test_partition_ignores_the_process_hash_seed(tmp_path: Path) -> None:
    """Another interpreter with another PYTHONHASHSEED puts every id on the same shard."""
    code = (
        "from rtbatch.shards.partition import shard_of\n"
        "print(' '.join(str(shard_of(f'id-{i}', 7)) for i in range(200)))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [int(k) for k in out] == [shard_of(f"id-{i}", 7) for i in range(200)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16])
def test_every_id_has_exactly_one_owner_and_shares_balance(count: int) -> None:
    """Of 10,000 ids each is owned by one shard, and every share is within 15 % of even."""
    ids = [f"batch-{i:05d}" for i in range(10_000)]
    shards = [Shard(k, count) for k in range(count)]
    owners: Counter[int] = Counter()
    for key in ids:
        mine = [shard.index for shard in shards if shard_of(key, count) == shard.index]
        assert len(mine) == 1
        owners[mine[0]] += 1
    even = len(ids) / count
    assert all(abs(owners[k] - even) <= 0.15 * even for k in range(count)), owners


@pytest.mark.parametrize(
    ("text", "shard"),
    [("0/4", Shard(0, 4)), (" 3 / 4 ", Shard(3, 4)), ("0/1", Shard(0, 1)), ("9/10", Shard(9, 10))],
)
def test_parse_shard(text: str, shard: Shard) -> None:
    """K/N reads with K counting from 0; spaces are allowed; str() gives K/N back."""
    assert parse_shard(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("4/4", "K counts from 0, so 0..3"),
        ("1/0", "at least 1"),
        ("-1/4", "expected K/N"),
        ("a/b", "expected K/N"),
        ("2", "expected K/N"),
        ("", "expected K/N"),
    ],
)
def test_parse_shard_errors_name_the_option(text: str, words: str) -> None:
    """A bad K/N is a ShardError (a ValueError) naming --shard and the problem."""
    with pytest.raises(ShardError) as caught:
        parse_shard(text)
    assert isinstance(caught.value, ValueError)
    assert caught.value.name == "--shard"
    assert str(caught.value).startswith("--shard: ") and words in str(caught.value)


SLURM_0_3 = {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"}
SLURM_1_4 = {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}


@pytest.mark.parametrize(
    ("option", "shards", "environ", "shard", "source"),
    [
        ("1/4", None, {}, Shard(1, 4), "--shard 1/4"),
        ("1/4", 4, {}, Shard(1, 4), "--shard 1/4"),
        ("1/4", None, {"JOB_COMPLETION_INDEX": "3"}, Shard(1, 4), "--shard 1/4"),
        (None, 4, {"JOB_COMPLETION_INDEX": "3"}, Shard(3, 4), "JOB_COMPLETION_INDEX=3 with"),
        (None, 1, {"JOB_COMPLETION_INDEX": "0"}, Shard(0, 1), "Kubernetes Indexed Job"),
        (
            None,
            4,
            {"JOB_COMPLETION_INDEX": "2", "SLURM_ARRAY_TASK_ID": "0", **SLURM_0_3},
            Shard(2, 4),
            "JOB_COMPLETION_INDEX=2",
        ),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "2", **SLURM_0_3},
            Shard(2, 4),
            "SLURM_ARRAY_TASK_ID=2",
        ),
        (None, None, {"SLURM_ARRAY_TASK_ID": "1", **SLURM_1_4}, Shard(0, 4), "array 1-4"),
        (None, None, {"SLURM_ARRAY_TASK_ID": "4", **SLURM_1_4}, Shard(3, 4), "array 1-4"),
        (
            None,
            None,
            {
                "SLURM_ARRAY_TASK_ID": "101",
                "SLURM_ARRAY_TASK_MIN": "100",
                "SLURM_ARRAY_TASK_MAX": "103",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_STEP": "1",
            },
            Shard(1, 4),
            "array 100-103",
        ),
        (None, 4, {"SLURM_ARRAY_TASK_ID": "3", **SLURM_0_3}, Shard(3, 4), "SLURM_ARRAY_TASK_ID"),
        (None, None, {}, None, UNSHARDED),
        (None, None, {"JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": " "}, None, UNSHARDED),
    ],
)
def test_resolve_shard_sources(
    option: str | None,
    shards: int | None,
    environ: dict[str, str],
    shard: Shard | None,
    source: str,
) -> None:
    """The option wins, then JOB_COMPLETION_INDEX with --shards, then the Slurm array."""
    got, description = resolve_shard(option, shards, environ)
    assert got == shard
    assert source in description


@pytest.mark.parametrize(
    ("option", "shards", "environ", "name", "words"),
    [
        ("1/4", 3, {}, "--shards", "disagrees with --shard 1/4"),
        ("4/4", None, {}, "--shard", "0..3"),
        (None, 4, {}, "--shards", "not which one"),
        (None, 0, {}, "--shards", "at least 1"),
        (None, None, {"JOB_COMPLETION_INDEX": "1"}, "JOB_COMPLETION_INDEX", "--shards"),
        (None, 4, {"JOB_COMPLETION_INDEX": "4"}, "JOB_COMPLETION_INDEX", "not below --shards 4"),
        (None, 4, {"JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX", "whole number"),
        (None, 4, {"JOB_COMPLETION_INDEX": "-1"}, "JOB_COMPLETION_INDEX", "negative"),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "0"},
            "SLURM_ARRAY_TASK_COUNT",
            "is not set",
        ),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"},
            "SLURM_ARRAY_TASK_MIN",
            "is not set",
        ),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_STEP": "2", **SLURM_0_3},
            "SLURM_ARRAY_TASK_STEP",
            "step 1",
        ),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MAX": "7", **SLURM_0_3},
            "SLURM_ARRAY_TASK_COUNT",
            "contiguous",
        ),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "4", **SLURM_0_3},
            "SLURM_ARRAY_TASK_ID",
            "outside the array 0..3",
        ),
        (
            None,
            None,
            {"SLURM_ARRAY_TASK_ID": "0", **SLURM_1_4},
            "SLURM_ARRAY_TASK_ID",
            "outside the array 1..4",
        ),
        (
            None,
            None,
            {
                "SLURM_ARRAY_TASK_ID": "0",
                "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_COUNT": "0",
            },
            "SLURM_ARRAY_TASK_COUNT",
            "at least 1",
        ),
        (None, 3, {"SLURM_ARRAY_TASK_ID": "1", **SLURM_0_3}, "--shards", "disagrees"),
    ],
)
def test_resolve_shard_errors(
    option: str | None, shards: int | None, environ: dict[str, str], name: str, words: str
) -> None:
    """Each inconsistent or malformed source is a ShardError naming its option or variable."""
    with pytest.raises(ShardError) as caught:
        resolve_shard(option, shards, environ)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}: ") and words in str(caught.value)


def test_results_path_names_the_shard() -> None:
    """RESULTS.jsonl becomes RESULTS.shard-K-of-N.jsonl, and the name reads back as the shard."""
    path = shard_results_path(Path("out/run.results.jsonl"), Shard(2, 4))
    assert path == Path("out/run.results.shard-2-of-4.jsonl")
    assert shard_from_results_path(path) == Shard(2, 4)
    assert shard_results_path(Path("r.out"), Shard(0, 1)) == Path("r.out.shard-0-of-1.jsonl")


@pytest.mark.parametrize("name", ["results.jsonl", "r.shard-4-of-4.jsonl", "r.shard-1-of-4.json"])
def test_other_names_are_no_shard(name: str) -> None:
    """A name that is not a valid shard result name gives None."""
    assert shard_from_results_path(Path(name)) is None


@pytest.mark.parametrize("count", range(1, 10))
def test_divided_whole_numbers_sum_to_the_whole(count: int) -> None:
    """Shares of W >= N sum to W, are all at least 1, differ by at most 1, extras go first."""
    for whole in range(count, 200):
        shares = [divide_limit(whole, Shard(k, count)) for k in range(count)]
        assert sum(shares) == whole
        assert min(shares) >= 1 and max(shares) - min(shares) <= 1
        assert shares == sorted(shares, reverse=True)


def test_divided_float_and_none() -> None:
    """A float limit (dollars) is split evenly; no limit stays no limit."""
    assert [divide_limit(10.0, Shard(k, 4)) for k in range(4)] == [2.5] * 4
    assert divide_limit(None, Shard(0, 4)) is None
    assert divide_limit(7, Shard(0, 1)) == 7


@pytest.mark.parametrize(("value", "words"), [(3, "cannot be divided among 4"), (0, "positive")])
def test_divide_limit_refuses(value: int, words: str) -> None:
    """A whole number below N, or a limit that is not positive, is refused naming the option."""
    with pytest.raises(ShardError) as caught:
        divide_limit(value, Shard(1, 4), name="--rpm")
    assert caught.value.name == "--rpm" and words in str(caught.value)
