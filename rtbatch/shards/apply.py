"""A run's shard: which jobs it owns, where it writes, its share of the user's limits.

The scheduler's side (partition, environment sources) is :mod:`rtbatch.shards.partition`; this
module applies a shard to a run's options (docs/scale-out.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TypeVar

from rtbatch.jobs import Job, JobProblem
from rtbatch.output.resume import job_key
from rtbatch.shards import partition

log = logging.getLogger("rtbatch")

_Limit = TypeVar("_Limit", int, float)


def resolve(option: str | None, count: int | None) -> partition.Shard | None:
    """This process's shard from ``--shard``/``--shards`` and the scheduler's variables.

    Raises:
        ShardError: a malformed or inconsistent source (a ``ValueError``: exit 2).
    """
    shard, source = partition.resolve_shard(option, count, os.environ)
    if shard is None:
        log.debug("%s", source)
    else:
        log.info("shard %s (K counts from 0), from %s", shard, source)
    return shard


def shard_output(output: Path | None, shard: partition.Shard | None) -> Path | None:
    """The shard's own result file, named after ``output``; stdout stays stdout.

    ``output`` is the base name (``out/r.jsonl`` → ``out/r.shard-K-of-N.jsonl``),
    unless it already names this very shard, which is then used as it is, so the
    file ``rtbatch merge`` names can be passed back to rerun its shard.

    Raises:
        ShardError: ``output`` is named for another shard.
    """
    if shard is None or output is None:
        return output
    named = partition.shard_from_results_path(output)
    if named is not None and named != shard:
        raise partition.ShardError(
            "--output", f"{output} is the result file of shard {named}, but this is shard {shard}"
        )
    path = output if named == shard else partition.shard_results_path(output, shard)
    log.info("shard %s writes %s", shard, path)
    return path


def per_shard(value: _Limit | None, shard: partition.Shard | None, name: str) -> _Limit | None:
    """This shard's share of a limit given for the whole run (``--rpm``, ``--max-cost``).

    Args:
        value: The whole run's limit, or None for none.
        shard: This process's shard, or None when not sharded (the value is kept).
        name: The option, for the log and for errors.

    Returns:
        The share (:func:`rtbatch.partition.divide_limit`): whole numbers split
        exactly, so the N shares sum to ``value``; floats split evenly.

    Raises:
        ShardError: a whole number below the number of shards.
    """
    if shard is None or value is None:
        return value
    share = partition.divide_limit(value, shard, name=name)
    log.info("%s %s for all %d shards: %s for shard %s", name, value, shard.count, share, shard)
    return share


def own_first(counts: list[int], shard: partition.Shard) -> tuple[int, ...]:
    """Every shard's count, this shard's first (as :meth:`~rtbatch.pacing.Share.of_work` takes)."""
    k = shard.index
    return (counts[k], *counts[:k], *counts[k + 1 :])


def owned(
    items: Iterator[Job | JobProblem], shard: partition.Shard, counts: list[int] | None = None
) -> Iterator[Job | JobProblem]:
    """The items whose key (id, or ``line:N``) hashes to ``shard``; closes ``items``.

    Args:
        counts: ``shard.count`` zeros, to count every shard's items in (the whole file
            is read to find this shard's, so every shard's work is known for the price
            of reading it: :class:`rtbatch.pacing.Share` divides the account by it).
    """
    try:
        for item in items:
            index = partition.shard_of(job_key(item), shard.count)
            if counts is not None:
                counts[index] += 1
            if index == shard.index:
                yield item
    finally:
        if isinstance(items, Generator):
            items.close()
