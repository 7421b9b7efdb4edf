"""When the next request may start, from the account's limits.

:mod:`~rtbatch.pacing.pacer` holds the pacer the pool asks for a slot;
:mod:`~rtbatch.pacing.buckets` the state behind each of its signals (token buckets,
hint holds, the concurrency allowance, the learned rate); :mod:`~rtbatch.pacing.share`
a shard's share of the account.
"""

from rtbatch.pacing.pacer import Pacer, Ticket
from rtbatch.pacing.share import Share

__all__ = ["Pacer", "Share", "Ticket"]
