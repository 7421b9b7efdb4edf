"""Virtual time for runs that hand work to threads: the clock jumps only when no task waits on one.

trio's ``autojump_clock`` jumps to the next deadline as soon as every task is blocked.
A task waiting for a worker thread (an audio file decoded in
:func:`~rtbatch.audio.bridge.open_thread_stream`, or ``trio.to_thread.run_sync``) is
blocked too, so the clock jumps while the thread works and fires idle and job deadlines
that real time would never reach; how often depends on how loaded the machine is.
``MockClock`` cannot be subclassed (trio forbids it), and a real-time
``autojump_threshold`` only narrows the window while it costs that threshold on every
jump.

Here the clock is a plain ``MockClock()`` that never jumps by itself, and
:func:`jump_when_idle` (a task in the test's nursery) does the jumping: it wakes when
every other task is blocked (``wait_all_tasks_blocked``, which trio serves before any
jump), looks at what each task is awaiting, and jumps to the next deadline only if no
task awaits a thread. While one does, it waits in real time for the thread's next item,
and virtual time stands still. So a thread's work costs no virtual time at all, however
slow the machine, as any other CPU work costs none on a virtual clock, and every
deadline fires at the instant it would if decoding were instant.

A thread that keeps time standing for :data:`HOLD_LIMIT_S` of real time fails the test
(:class:`ThreadHeldTime`) rather than hanging it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import CodeType
from typing import Any

import trio
import trio.lowlevel
import trio.testing

from rtbatch.audio.bridge import ThreadStream

#: Awaiting a frame of one of these means "waiting for a worker thread".
THREAD_WAITS: frozenset[CodeType] = frozenset(
    {ThreadStream.receive.__code__, trio.to_thread.run_sync.__code__}
)
#: Real seconds of quiet between looks while a task waits on a thread.
POLL_S = 0.0005
#: Real seconds every task must stay blocked before the clock jumps (loopback in flight).
SETTLE_S = 0.002
#: Real seconds one wait on threads may stand time still before the test fails.
HOLD_LIMIT_S = 30.0


class ThreadHeldTime(AssertionError):
    """Raised when a task waited on a thread for :data:`HOLD_LIMIT_S` of real time."""


def _tasks(task: trio.lowlevel.Task) -> Iterator[trio.lowlevel.Task]:
    yield task
    for nursery in task.child_nurseries:
        for child in nursery.child_tasks:
            yield from _tasks(child)


def _awaited_code(task: trio.lowlevel.Task) -> Iterator[CodeType]:
    """The code of every frame in the chain a suspended task is awaiting."""
    node: Any = task.coro
    while node is not None:
        frame = getattr(node, "cr_frame", None) or getattr(node, "gi_frame", None)
        frame = frame or getattr(node, "ag_frame", None)
        if frame is not None:
            yield frame.f_code
        node = (
            getattr(node, "cr_await", None)
            or getattr(node, "gi_yieldfrom", None)
            or getattr(node, "ag_await", None)
        )


def waiting_on_threads() -> list[trio.lowlevel.Task]:
    """The tasks (other than the caller) suspended while awaiting a worker thread."""
    me = trio.lowlevel.current_task()
    root = trio.lowlevel.current_root_task()
    assert root is not None
    return [
        task
        for task in _tasks(root)
        if task is not me and any(code in THREAD_WAITS for code in _awaited_code(task))
    ]


async def jump_when_idle(clock: trio.testing.MockClock) -> None:
    """Be the clock's autojump, except while a task waits on a thread (runs until cancelled).

    Args:
        clock: the run's clock; its own ``autojump_threshold`` must stay infinite.

    Raises:
        ThreadHeldTime: a task waited on threads for :data:`HOLD_LIMIT_S` real seconds.
    """
    if clock.autojump_threshold != math.inf:
        raise ValueError("the clock must not autojump by itself")
    while True:
        await trio.testing.wait_all_tasks_blocked()
        held_since = time.monotonic()
        while waiters := waiting_on_threads():
            if time.monotonic() - held_since > HOLD_LIMIT_S:
                raise ThreadHeldTime(f"{len(waiters)} task(s) waited on threads: {waiters}")
            # Real time, on purpose: the thread's progress is not on the virtual clock.
            await trio.testing.wait_all_tasks_blocked(cushion=POLL_S)
        # Data a socket sent may still be on its way through the kernel's loopback (its
        # softirq can be deferred on a loaded machine) while every task looks blocked:
        # a jump then fires deadlines that real time would not. Quiet must last a moment.
        await trio.testing.wait_all_tasks_blocked(cushion=SETTLE_S)
        if waiting_on_threads():
            continue
        jump = trio.lowlevel.current_statistics().seconds_to_next_deadline
        if 0 < jump < math.inf:
            clock.jump(jump)
        elif jump == math.inf:
            # Nothing is scheduled: only I/O can wake a task. Look again after a quiet spell.
            await trio.testing.wait_all_tasks_blocked(cushion=POLL_S)


class RealTimeExceeded(AssertionError):
    """Raised by :func:`real_time_limit` when its block ran too long in real time."""


@asynccontextmanager
async def real_time_limit(seconds: float) -> AsyncIterator[None]:
    """Fail the block after ``seconds`` of real time, even if virtual time stands still.

    A task that spins on an expired deadline (a cancel scope whose deadline has passed,
    entered again and again) never lets the run go idle, so virtual time never moves
    and no virtual deadline can end the test. A thread's timer cancels the block
    instead; no trio task waits on that thread, so it never holds the clock.

    Raises:
        RealTimeExceeded: the block was still running after ``seconds``.
    """
    token = trio.lowlevel.current_trio_token()
    done = threading.Event()
    with trio.CancelScope() as scope:

        def watch() -> None:
            if not done.wait(seconds):
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(scope.cancel)

        trio.lowlevel.start_thread_soon(watch, lambda _: None, name="real-time limit")
        try:
            yield
        finally:
            done.set()
    if scope.cancelled_caught:
        raise RealTimeExceeded(
            f"still running after {seconds:g} s of real time, at virtual "
            f"{trio.current_time():.3f} s (a livelock: the clock never went idle)"
        )
