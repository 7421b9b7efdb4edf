"""share.py: a shard's part of the account, from its work and from probes."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from rtbatch.pacing.pacer import Pacer
from rtbatch.pacing.share import PROBE_MAX_S, PROBE_MIN_S, PROBE_STARTS, PROBES_TO_GROW, Share


def test_the_share_is_the_part_of_the_work_then_of_what_is_left() -> None:
    """217 of 900 jobs: 217/900; after each shard took 155 of the first bucket, 62/280."""
    share = Share(0.25, 217, [219, 229, 235])
    assert share.floor == pytest.approx(217 / 900)
    assert share.first_refusal(155, now=2.0, capacity=600)
    assert share.floor == pytest.approx(62 / (62 + 64 + 74 + 80))
    assert not share.first_refusal(300, now=3.0, capacity=600)  # split once


def test_shares_of_the_work_sum_to_the_account() -> None:
    counts = [217, 219, 229, 235]
    shares = [
        Share(0.25, n, [m for j, m in enumerate(counts) if j != i]) for i, n in enumerate(counts)
    ]
    for share in shares:
        share.first_refusal(155, now=2.0, capacity=600)
    assert math.fsum(share.floor for share in shares) == pytest.approx(1.0)


def test_without_work_or_shards_the_share_is_even_or_whole() -> None:
    assert Share().floor == 1.0 and Share().probes_after_start(0.0) == 0  # alone: no probes
    assert Share(0.25).floor == 0.25
    with pytest.raises(ValueError, match="share"):
        Share(0.0)


def test_probes_wait_an_interval_then_grow_while_admitted() -> None:
    share = Share(0.25, 100, [100, 100, 100])
    share.first_refusal(0, now=0.0, capacity=600)  # 2.5 starts/s: 40 starts are 16 s
    interval = PROBE_STARTS / 2.5
    assert PROBE_MIN_S <= interval <= PROBE_MAX_S
    assert share.probes_after_start(interval - 0.1) == 0
    assert share.probes_after_start(interval) == 1
    for _ in range(PROBES_TO_GROW):
        share.probe_admitted()
    assert share.probes_after_start(interval) == 2 and share.value == 0.75
    share.refused(interval + 1, capacity=600)  # an ordinary refusal: the account is full
    assert share.value == 0.25
    assert share.probes_after_start(interval + 1) == 0
    assert share.probes_after_start(2 * interval + 1) == 1


async def test_a_probe_follows_an_own_start_and_is_not_paced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A start at the share's pace (one of 4 at 600 RPM: every 0.4 s) brings a probe along."""
    pacer = Pacer(8, share=Share(0.25))  # the work unknown: a probe is due at once
    empty = {"name": "requests", "limit": 600, "remaining": 0, "reset_seconds": 60.0}
    pacer.on_refusal(0.01, capacity=False, limits=[empty])  # the account is empty now
    starts: list[tuple[float, bool]] = []

    async def one() -> None:
        async with pacer.slot() as ticket:
            starts.append((round(trio.current_time(), 6), ticket.probe))
        pacer.on_done(10, ticket)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(one)
            await trio.lowlevel.checkpoint()
    first, second, third = starts
    assert first == (0.4, False) and second == (0.4, True)  # the probe goes with the start
    assert third == (0.8, False)  # the probe was not charged: the pace is kept
    assert pacer.probes == pacer.probes_admitted == 1


def test_a_rerun_takes_the_others_to_be_as_far_on() -> None:
    """Half of its 200 jobs done: the others are taken to have half of theirs left too."""
    share = Share.of_work(1 / 3, (200, 100, 300), done=100)
    assert share.floor == pytest.approx(100 / (100 + 50 + 150))
    assert Share.of_work(0.25, (), done=0).floor == 0.25  # unknown work: the even share


def test_past_the_batchs_expected_end_probes_come_every_few_seconds() -> None:
    """400 jobs left at 10/s should be done by 40 s; a shard still running probes often."""
    share = Share(0.25, 100, [100, 100, 100])
    share.first_refusal(0, now=0.0, capacity=600)
    share.probe_refused(20.0, capacity=600)  # before the end: the whole interval
    assert share.probes_after_start(20.0 + PROBE_MIN_S) == 0
    assert share.probes_after_start(40.0) == 1  # the others should be done by now
    share.probe_refused(41.0, capacity=600)
    assert share.probes_after_start(41.0 + PROBE_MIN_S - 0.1) == 0
    assert share.probes_after_start(41.0 + PROBE_MIN_S) == 1
