"""Shards: a stable partition of one job file among N processes or machines.

Schedulers already spread work over cores and machines; rtbatch plugs into them
rather than growing a scheduler of its own. Each of N processes runs the same
command with its own shard index K and takes the jobs whose key hashes to K:

- **K counts from 0**, so a shard is ``K/N`` with K in 0..N-1, written the same
  way in ``--shard 0/4`` and in the result file ``RESULTS.shard-0-of-4.jsonl``.
  Kubernetes' ``JOB_COMPLETION_INDEX`` counts from 0 too; a Slurm array may start
  anywhere, and its task ids are mapped onto 0..N-1 from ``SLURM_ARRAY_TASK_MIN``.
- **The partition is a pure function of the job key** (the id, or ``line:N`` for
  an invalid line: :func:`rtbatch.output.resume.job_key`): the first 8 bytes of the
  BLAKE2b digest (``digest_size=8``) of the key's UTF-8 bytes, read big-endian,
  modulo N. It is the same on every machine, Python version and rerun; Python's
  own ``hash()`` is salted per process and would move jobs between shards.
- **Limits are shared, not multiplied**: :func:`divide_limit` splits the user's
  ``--rpm``, ``--tpm`` and ``--max-cost`` so that the N shares sum to the whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import overload

OPTION = "--shard"
COUNT_OPTION = "--shards"
K8S_INDEX = "JOB_COMPLETION_INDEX"
SLURM_TASK_ID = "SLURM_ARRAY_TASK_ID"
SLURM_TASK_COUNT = "SLURM_ARRAY_TASK_COUNT"
SLURM_TASK_MIN = "SLURM_ARRAY_TASK_MIN"
SLURM_TASK_MAX = "SLURM_ARRAY_TASK_MAX"
SLURM_TASK_STEP = "SLURM_ARRAY_TASK_STEP"
#: The description :func:`resolve_shard` returns when nothing asks for sharding.
UNSHARDED = "not sharded (no --shard, JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)"

# 64 bits make the modulo bias negligible for any realistic N (below 2**-40 at N = 10**6).
_DIGEST_BYTES = 8
_SHARD_TEXT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_RESULTS_SUFFIX = ".jsonl"
_SHARD_NAME = re.compile(r"\.shard-(\d+)-of-(\d+)\.jsonl$")


class ShardError(ValueError):
    """Raised when a shard cannot be worked out; ``name`` is the option or variable at fault."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count``, the index counting from 0."""

    index: int
    count: int

    def __post_init__(self) -> None:
        problem = _problem(self.index, self.count)
        if problem is not None:
            raise ShardError(OPTION, problem)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, *, name: str = OPTION) -> Shard:
    """Read ``"K/N"`` (K counting from 0) as a :class:`Shard`.

    Args:
        text: The option's value, e.g. ``"2/4"``.
        name: The option named in errors.

    Returns:
        The shard.

    Raises:
        ShardError: The text is not ``K/N`` with 0 <= K < N.
    """
    match = _SHARD_TEXT.fullmatch(text)
    if match is None:
        raise ShardError(name, f"expected K/N such as 0/4 (K counts from 0), got {text!r}")
    index, count = int(match[1]), int(match[2])
    problem = _problem(index, count)
    if problem is not None:
        raise ShardError(name, f"{text!r}: {problem}")
    return Shard(index, count)


def _problem(index: int, count: int) -> str | None:
    if count < 1:
        return f"the number of shards must be at least 1, got {count}"
    if not 0 <= index < count:
        return f"there is no shard {index} of {count}: K counts from 0, so 0..{count - 1}"
    return None


def shard_of(key: str, count: int) -> int:
    """The index of the shard that owns ``key`` among ``count`` shards.

    Args:
        key: The job key (:func:`rtbatch.output.resume.job_key`): the id, or ``line:N``.
        count: The number of shards, at least 1.

    Returns:
        An index in 0..count-1, the same on every machine and run.
    """
    # surrogatepass: an id is a str, and any str must hash without raising.
    data = key.encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(data, digest_size=_DIGEST_BYTES).digest()
    return int.from_bytes(digest, "big") % count


def resolve_shard(
    option: str | None, shards_option: int | None, environ: Mapping[str, str]
) -> tuple[Shard | None, str]:
    """Work out this process's shard from the options and the scheduler's variables.

    The first source present wins (an empty variable counts as absent):

    1. ``--shard K/N``; ``--shards``, if also given, must equal N.
    2. ``JOB_COMPLETION_INDEX`` (a Kubernetes Indexed Job, counting from 0) with
       ``--shards N``, which must equal the Job's ``completions``.
    3. ``SLURM_ARRAY_TASK_ID`` with ``SLURM_ARRAY_TASK_COUNT`` and
       ``SLURM_ARRAY_TASK_MIN``: task MIN+K is shard K of COUNT, so ``--array=0-3``,
       ``--array=1-4`` and ``--array=100-103`` all give shards 0..3 of 4. The
       array must be contiguous: ``SLURM_ARRAY_TASK_STEP``, if set, must be 1,
       and MAX - MIN + 1 must equal COUNT when ``SLURM_ARRAY_TASK_MAX`` is set.
       ``--shards``, if given, must equal COUNT.

    Args:
        option: The ``--shard`` value, or None.
        shards_option: The ``--shards`` value, or None.
        environ: The process environment (``os.environ``).

    Returns:
        The shard, or None when nothing asks for sharding; and the source, for
        the run's log (e.g. ``"--shard 1/4"``).

    Raises:
        ShardError: A source is malformed or inconsistent, or ``--shards`` is
            given with no index; the message names the option or variable.
    """
    if shards_option is not None and shards_option < 1:
        raise ShardError(COUNT_OPTION, f"must be at least 1, got {shards_option}")
    if option is not None:
        shard = parse_shard(option)
        if shards_option is not None and shards_option != shard.count:
            raise ShardError(
                COUNT_OPTION, f"{shards_option} disagrees with {OPTION} {option}; give one"
            )
        return shard, f"{OPTION} {shard}"
    k8s = environ.get(K8S_INDEX, "").strip()
    if k8s:
        return _from_kubernetes(k8s, shards_option)
    slurm = environ.get(SLURM_TASK_ID, "").strip()
    if slurm:
        return _from_slurm(slurm, shards_option, environ)
    if shards_option is not None:
        raise ShardError(
            COUNT_OPTION,
            f"says how many shards there are, but not which one this is: pass {OPTION} K/N, "
            f"or run where {K8S_INDEX} or {SLURM_TASK_ID} is set",
        )
    return None, UNSHARDED


def _from_kubernetes(value: str, shards_option: int | None) -> tuple[Shard, str]:
    index = _integer(K8S_INDEX, value)
    if shards_option is None:
        raise ShardError(
            K8S_INDEX,
            f"is set ({value}, a Kubernetes Indexed Job) but {COUNT_OPTION} is not: "
            f"pass {COUNT_OPTION} N equal to the Job's completions",
        )
    if index >= shards_option:
        raise ShardError(
            K8S_INDEX,
            f"{index} is not below {COUNT_OPTION} {shards_option}: "
            f"{COUNT_OPTION} must equal the Job's completions",
        )
    source = f"{K8S_INDEX}={index} with {COUNT_OPTION} {shards_option} (Kubernetes Indexed Job)"
    return Shard(index, shards_option), source


def _from_slurm(
    value: str, shards_option: int | None, environ: Mapping[str, str]
) -> tuple[Shard, str]:
    task = _integer(SLURM_TASK_ID, value)
    count = _integer(SLURM_TASK_COUNT, _required(SLURM_TASK_COUNT, environ))
    if count < 1:
        raise ShardError(SLURM_TASK_COUNT, f"must be at least 1, got {count}")
    first = _integer(SLURM_TASK_MIN, _required(SLURM_TASK_MIN, environ))
    step = environ.get(SLURM_TASK_STEP, "").strip()
    if step and step != "1":
        raise ShardError(
            SLURM_TASK_STEP,
            f"is {step}: shards need a contiguous array with step 1 (e.g. --array=0-3)",
        )
    last = environ.get(SLURM_TASK_MAX, "").strip()
    if last and _integer(SLURM_TASK_MAX, last) - first + 1 != count:
        raise ShardError(
            SLURM_TASK_COUNT,
            f"{count} tasks between {SLURM_TASK_MIN}={first} and {SLURM_TASK_MAX}={last}: "
            "shards need a contiguous array (e.g. --array=0-3, not a list with gaps)",
        )
    if not first <= task < first + count:
        raise ShardError(
            SLURM_TASK_ID,
            f"{task} is outside the array {first}..{first + count - 1} "
            f"({SLURM_TASK_MIN}={first}, {SLURM_TASK_COUNT}={count})",
        )
    if shards_option is not None and shards_option != count:
        raise ShardError(
            COUNT_OPTION, f"{shards_option} disagrees with {SLURM_TASK_COUNT}={count}; give one"
        )
    source = (
        f"{SLURM_TASK_ID}={task} of Slurm array {first}-{first + count - 1} "
        f"({SLURM_TASK_MIN}={first}, {SLURM_TASK_COUNT}={count})"
    )
    return Shard(task - first, count), source


def _required(name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ShardError(name, f"is not set, but {SLURM_TASK_ID} is: is this a Slurm job array?")
    return value


def _integer(name: str, value: str) -> int:
    try:
        number = int(value, 10)
    except ValueError:
        raise ShardError(name, f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise ShardError(name, f"must not be negative, got {number}")
    return number


def shard_results_path(results: Path, shard: Shard) -> Path:
    """The shard's own result file: ``RESULTS.shard-K-of-N.jsonl``, K counting from 0.

    A trailing ``.jsonl`` of ``results`` is replaced, so ``out/r.jsonl`` becomes
    ``out/r.shard-0-of-4.jsonl``; any other name keeps its suffix
    (``r.out`` becomes ``r.out.shard-0-of-4.jsonl``).
    """
    stem = results.name.removesuffix(_RESULTS_SUFFIX)
    return results.with_name(f"{stem}.shard-{shard.index}-of-{shard.count}{_RESULTS_SUFFIX}")


def shard_from_results_path(path: Path) -> Shard | None:
    """The shard a result file is named for by :func:`shard_results_path`, or None."""
    match = _SHARD_NAME.search(path.name)
    if match is None or _problem(int(match[1]), int(match[2])) is not None:
        return None
    return Shard(int(match[1]), int(match[2]))


@overload
def divide_limit(value: None, shard: Shard, *, name: str = ...) -> None: ...
@overload
def divide_limit(value: int, shard: Shard, *, name: str = ...) -> int: ...
@overload
def divide_limit(value: float, shard: Shard, *, name: str = ...) -> float: ...
def divide_limit(value: float | None, shard: Shard, *, name: str = "limit") -> float | None:
    """This shard's share of a limit the user set for the whole run.

    A whole number W (``--rpm``, ``--tpm``) gives each shard W // N, and the
    first W % N shards (indexes 0, 1, …) one more, so the shares sum to exactly
    W and differ by at most one. A W below N cannot be divided without a shard
    getting 0 (which would never start a job), so it is refused. A float
    (``--max-cost``, in dollars) gives each shard W / N.

    Args:
        value: The whole run's limit, or None for no limit.
        shard: This process's shard.
        name: The option named in errors (e.g. ``"--rpm"``).

    Returns:
        The share, of the value's type; None for None.

    Raises:
        ShardError: The value is not positive, or a whole number below N.
    """
    if value is None:
        return None
    if value <= 0:
        raise ShardError(name, f"must be positive to be divided among shards, got {value}")
    if isinstance(value, int):
        if value < shard.count:
            raise ShardError(
                name,
                f"{value} cannot be divided among {shard.count} shards (each needs at least 1): "
                f"raise it to {shard.count} or run fewer shards",
            )
        share, extra = divmod(value, shard.count)
        return share + (1 if shard.index < extra else 0)
    return value / shard.count
