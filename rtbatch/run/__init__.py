"""The run: one nursery of workers over a queue per session kind, retries, shutdown.

One concept per module:

- :mod:`~rtbatch.run.batch`: :class:`Run`, the nursery, the feeder, the writer,
  signals, and the one place a try is concluded;
- :mod:`~rtbatch.run.worker`: one worker's loop over the sessions it holds;
- :mod:`~rtbatch.run.ledger`: an attempt's count, next wait, cost and segments;
- :mod:`~rtbatch.run.queues`: a FIFO queue per session kind under one bound;
- :mod:`~rtbatch.run.lines`: how a job's try becomes its result line;
- :mod:`~rtbatch.run.stop`: why the run stops, and the exit code that says so;
- :mod:`~rtbatch.run.report`: how the run ended.
"""

from __future__ import annotations

from rtbatch.run.batch import Run
from rtbatch.run.report import RunReport

__all__ = ["Run", "RunReport"]
