"""One shard's share of the account's refill: its share of the work, and what lies idle.

The service's figures (``rate_limits.updated``, a refusal's ``Limit … Used …``) are
the whole account's, shared by every shard of a batch; each shard refills its model
of the service's buckets (:mod:`rtbatch.pacing.pacer`) at its :attr:`Share.floor` of the
account's rate. Shards never talk to each other, so each works its share out from
what it can know:

* **Its share of the work.** Every shard reads the whole job file to pick its own
  lines, so it knows every shard's job count. Until the account first refuses a
  request its share is its jobs over all jobs. The account's bucket starts full, and
  shards of one command (the same ``-c``) drain it at the same speed, so each has
  started about as many jobs as this one when it runs dry; from then on its share is
  what this shard has left over what all have left. Shards that finish together
  leave nobody's share idle at the end (an even 1/N share left a batch's last
  seconds to whichever shard the hash gave the most jobs).
* **What lies idle.** A shard whose others have finished, died or not started (the
  rerun of a killed shard, a pod that came up late) would pace on a share nobody
  else uses. So, while the requests bucket is what it waits for, it *probes*: right
  after one of its own starts has taken what the account had, it starts one more.
  An account the other shards use refuses it, which costs one refusal every
  :data:`PROBE_STARTS` starts at most; an idle one admits it. Every start above the
  floor is such a probe, so asking too much is found out by the request that asks
  it: while probes are admitted they go on, one after each own start, then more
  (:data:`PROBES_TO_GROW`), until the shard runs at the whole account's rate; the
  first refused one ends them. Once the batch should be over by the split's
  reckoning (a shard that started late, or was slowed), the others most likely
  are done, and probes come every :data:`PROBE_MIN_S`. (A share raised for good
  would overrun an account whose other shards are back, and the refusals would
  fall on them.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rtbatch.config import ACCOUNT_SHARE

#: A probe is due after this many of the shard's own starts (at its share of the
#: rate) since one was refused: a refused probe costs at most 1 request in 40 (2.5 %)
#: of an account the other shards still use.
PROBE_STARTS = 40
#: ... but never sooner than this, however fast the shard runs ...
PROBE_MIN_S = 2.0
#: ... nor later: a shard left alone takes the idle account within this.
PROBE_MAX_S = 30.0
#: Probes admitted in a row that add one more probe after each own start. An account
#: the others use can still hold a few requests no model accounted for (what went
#: unused during a hold), so one admitted probe proves little; this many, each right
#: after an own start, say it refills faster than the shards take it.
PROBES_TO_GROW = 5


class Share:
    """This process's share of the account's refill rate (1.0 when it is the only one).

    Args:
        step: one shard's even share, ``1 / N``: the floor while the work is not known.
        own_jobs: this shard's jobs still to run when it started (0: not known).
        other_jobs: the other shards' jobs still to run, as estimated at the start.
    """

    __slots__ = (
        "_all_done_at",
        "_in_row",
        "_others",
        "_own",
        "_per_start",
        "_refused_at",
        "_split",
        "floor",
        "next_probe_at",
    )

    def __init__(
        self, step: float = 1.0, own_jobs: int = 0, other_jobs: Sequence[float] = ()
    ) -> None:
        ACCOUNT_SHARE.check("share", step)
        self._own = own_jobs
        self._others = tuple(other_jobs)
        self._split = step >= 1 or own_jobs <= 0
        #: What the shard paces on: its share of the work left.
        self.floor = step if self._split else self._of_work(0)
        #: The instant the next probe is allowed after one was refused.
        self.next_probe_at = -math.inf
        # When the split expects every shard to be done: past it the others more likely
        # than not are, and a probe every PROBE_MIN_S finds out.
        self._all_done_at = math.inf
        self._refused_at = -math.inf
        self._per_start = 0  # probes after each own start, while they are admitted
        self._in_row = 0

    @classmethod
    def of_work(cls, step: float, work: Sequence[int], done: int) -> Share:
        """A shard's share from every shard's job count, its own first, and its jobs done.

        A rerun knows only its own progress: the others are taken to be as far on.
        """
        if not work or not work[0]:
            return cls(step)
        own, *others = work
        pending = max(0, own - done)
        return cls(step, pending, [n * pending / own for n in others])

    @property
    def value(self) -> float:
        """The share used now: the floor, and what admitted probes add."""
        return min(1.0, self.floor * (1 + self._per_start))

    def first_refusal(self, admitted: int, now: float, capacity: float) -> bool:
        """The account refused for the first time: split what is left. Returns if it changed.

        Args:
            admitted: the requests this process had started and the service had taken.
            now: the instant; the first probe comes an interval later.
            capacity: the requests bucket's size, per minute.
        """
        if self._split:
            return False
        self._split = True
        self.floor = self._of_work(admitted)
        if capacity > 0 and self.floor > 0:
            # At their shares, all shards end when the account has served what is left.
            left = max(0, self._own - admitted) / self.floor
            self._all_done_at = now + left / (capacity / 60.0)
        self.next_probe_at = now + self._interval(capacity)
        return True

    def probes_after_start(self, now: float) -> int:
        """How many probes may follow an own start at ``now``."""
        if self.floor >= 1.0:
            return 0
        if self._per_start:
            return self._per_start
        # Past the split's end of the batch, a probe every PROBE_MIN_S at most.
        due = min(self.next_probe_at, max(self._all_done_at, self._refused_at + PROBE_MIN_S))
        return 1 if now >= due else 0

    def probe_admitted(self) -> None:
        """The account took a start beyond this share: go on probing, and more often."""
        self._in_row += 1
        self._per_start = max(1, self._per_start)
        if self._in_row >= PROBES_TO_GROW and self.value < 1.0:
            self._in_row = 0
            self._per_start += 1

    def probe_refused(self, now: float, capacity: float) -> None:
        """The account had nothing beyond what the shards take: wait before asking again."""
        self._per_start = self._in_row = 0
        self._refused_at = now
        self.next_probe_at = now + self._interval(capacity)

    def refused(self, now: float, capacity: float) -> None:
        """An ordinary request was refused: the account is full, so probing stops."""
        if self._per_start:
            self.probe_refused(now, capacity)

    def _interval(self, capacity: float) -> float:
        """:data:`PROBE_STARTS` starts at the floor of a bucket refilling ``capacity``/min."""
        per_s = capacity * self.floor / 60.0
        wait = PROBE_STARTS / per_s if per_s > 0 else PROBE_MAX_S
        return min(PROBE_MAX_S, max(PROBE_MIN_S, wait))

    def _of_work(self, taken: int) -> float:
        """This shard's part of the jobs left, if every shard has started ``taken``."""
        own = max(0, self._own - taken)
        rest = sum(max(0.0, n - taken) for n in self._others)
        if own == 0:
            return 1.0 / (1 + len(self._others))  # little left here: the even share
        return own / (own + rest)
