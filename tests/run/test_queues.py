"""Work queues (rtbatch/run/queues.py): retries are taken before new jobs."""

from __future__ import annotations

import trio

from rtbatch.jobs import Job
from rtbatch.run.ledger import Attempt
from rtbatch.run.queues import WorkQueues


def _attempt(job_id: str) -> Attempt:
    return Attempt(Job(id=job_id, line=1, kind="text", prompt="hi"))


async def test_a_retry_is_taken_before_the_new_jobs_queued_ahead_of_it() -> None:
    """A chain of retries behind a full queue would wait for the queue each time; the
    run ends with its slowest job, so a retry goes first."""
    queues = WorkQueues(bound=3)
    for name in ("a", "b", "c"):
        await queues.put(_attempt(name))
    queues.put_retry(_attempt("r"))
    taken = [await queues.take(prefer=None) for _ in range(4)]
    assert [a.job.id for a in taken if a is not None] == ["r", "a", "b", "c"]
    with trio.move_on_after(0) as nothing_left:
        await queues.take(prefer=None)
    assert nothing_left.cancelled_caught
