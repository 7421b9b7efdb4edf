"""One lookup of the service's name per run, not one per connection (rtbatch/resolver.py).

The system resolver is counted where it is called, ``socket.getaddrinfo`` (the
standard library's), and still answers: no lookup result is made up.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from rtbatch.config import RetryPolicy
from rtbatch.defaults import DNS_CACHE_S
from rtbatch.resolver import CachingResolver, cached_resolution, rotated
from tests.harness import prompt_jobs, start_emulator, write_jobs

AUDIO = Path(__file__).resolve().parent.parent / "jobs" / "audio"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Hosts the system resolver was asked for by name (not trio's numeric-only tries)."""
    asked: list[Any] = []
    real: Callable[..., Any] = socket.getaddrinfo

    def counting(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        flags = args[3] if len(args) > 3 else kwargs.get("flags", 0)
        if not flags & socket.AI_NUMERICHOST:
            asked.append(host)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    return asked


async def test_lookups_at_once_share_one_and_a_later_one_reuses_it(lookups: list[Any]) -> None:
    resolver = CachingResolver(60.0)
    answers: list[Any] = []

    async def ask() -> None:
        answers.append(await resolver.getaddrinfo(b"localhost", 443, type=socket.SOCK_STREAM))

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(ask)
    await ask()
    assert lookups == [b"localhost"]
    first = answers[0]
    assert first and all(sorted(a) == sorted(first) for a in answers)


def test_each_family_is_turned_in_its_own_places() -> None:
    """Round-robin within a family; the system's preference between families stays."""
    v6 = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"2001:db8::{i}", 443, 0, 0)) for i in (1, 2)
    ]
    v4 = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"192.0.2.{i}", 443)) for i in (1, 2, 3)]
    addresses = [v4[0], v6[0], v4[1], v6[1], v4[2]]
    assert rotated(addresses, 0) == addresses
    assert rotated(addresses, 1) == [v4[1], v6[1], v4[2], v6[0], v4[0]]
    assert rotated(addresses, 3) == [v4[0], v6[1], v4[1], v6[0], v4[2]]


async def test_answers_from_memory_are_turned(lookups: list[Any]) -> None:
    resolver = CachingResolver(60.0)
    answers = [await resolver.getaddrinfo(b"localhost", 443) for _ in range(3)]
    assert lookups == [b"localhost"]
    assert answers[1] == rotated(answers[0], 1) and answers[2] == rotated(answers[0], 2)


async def test_an_answer_is_asked_again_after_its_time(
    autojump_clock: Any, lookups: list[Any]
) -> None:
    resolver = CachingResolver(60.0)
    await resolver.getaddrinfo(b"localhost", 443)
    await trio.sleep(59.9)
    await resolver.getaddrinfo(b"localhost", 443)
    assert len(lookups) == 1
    await trio.sleep(0.2)
    await resolver.getaddrinfo(b"localhost", 443)
    assert len(lookups) == 2


@dataclass
class Gate:
    """Holds the system resolver's first call until opened; nothing sleeps."""

    opened: threading.Event = field(default_factory=threading.Event)
    #: Set once the first call is inside the system resolver (a thread may start late).
    entered: threading.Event = field(default_factory=threading.Event)
    calls: list[Any] = field(default_factory=list)

    async def wait_entered(self) -> None:
        assert await trio.to_thread.run_sync(self.entered.wait, 10)


def _gated(monkeypatch: pytest.MonkeyPatch, first: Callable[[], Any]) -> Gate:
    """The system resolver's first call waits for the gate, then returns ``first()``.

    Later calls are the real resolver's.
    """
    real = socket.getaddrinfo
    gate = Gate()
    lock = threading.Lock()

    def system(*args: Any, **kwargs: Any) -> Any:
        with lock:
            gate.calls.append(args[0])
            is_first = len(gate.calls) == 1
        if is_first:
            gate.entered.set()
            gate.opened.wait(30)
            return first()
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", system)
    return gate


async def test_a_failure_is_every_waiter_s_and_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten callers of a lookup that fails get its error at once; the next one asks again."""

    def fail() -> Any:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    gate = _gated(monkeypatch, fail)
    resolver = CachingResolver(60.0)
    errors: list[BaseException] = []

    async def ask() -> None:
        try:
            await resolver.getaddrinfo(b"localhost", 443)
        except socket.gaierror as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask)
        await gate.wait_entered()  # the first lookup is under way, held at the gate
        for _ in range(9):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()  # they wait for that lookup
        gate.opened.set()
    assert len(errors) == 10 and all(e.errno == socket.EAI_AGAIN for e in errors)
    assert await resolver.getaddrinfo(b"localhost", 443)
    assert len(gate.calls) == 2


async def test_a_lookup_cancelled_with_its_caller_leaves_the_others_an_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five callers wait on a lookup whose caller is cancelled: one of them asks again."""
    gate = _gated(monkeypatch, list)
    resolver = CachingResolver(60.0)
    answers: list[Any] = []
    first = trio.CancelScope()

    async def first_caller() -> None:
        with first:
            await resolver.getaddrinfo(b"localhost", 443)

    async def ask() -> None:
        answers.append(await resolver.getaddrinfo(b"localhost", 443))

    try:
        # Waiters left waiting forever would hang the test: fail it instead.
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first_caller)
                await gate.wait_entered()  # its lookup held at the gate
                for _ in range(5):
                    nursery.start_soon(ask)
                await trio.testing.wait_all_tasks_blocked()  # they wait for that lookup
                first.cancel()
    finally:
        gate.opened.set()  # the abandoned thread ends
    assert len(answers) == 5 and all(answers)
    assert gate.calls == [b"localhost", b"localhost"]


async def test_a_resolver_the_embedding_program_installed_is_kept() -> None:
    theirs = CachingResolver(1.0)
    trio.socket.set_custom_hostname_resolver(theirs)
    try:
        with cached_resolution(60.0) as ours:
            assert ours is None
        assert trio.socket.set_custom_hostname_resolver(theirs) is theirs
    finally:
        trio.socket.set_custom_hostname_resolver(None)


async def test_a_resolver_put_in_during_the_run_is_left_at_its_end() -> None:
    theirs = CachingResolver(1.0)
    try:
        with cached_resolution(60.0) as ours:
            assert ours is not None
            assert trio.socket.set_custom_hostname_resolver(theirs) is ours
        assert trio.socket.set_custom_hostname_resolver(None) is theirs
    finally:
        trio.socket.set_custom_hostname_resolver(None)


async def test_a_run_with_drops_looks_the_name_up_once(
    nursery: trio.Nursery, tmp_path: Path, lookups: list[Any]
) -> None:
    """Eight connections and the reconnections after 20 % drops: one lookup of the host.

    On the real clock: trio's virtual one would jump past the connect deadline
    while the lookup's thread runs.
    """
    assert DNS_CACHE_S >= 10  # the run below lasts well under that
    h = await start_emulator(nursery, tmp_path, faults={"drop": 0.2}, seed=3)
    url = h.emulator.url.replace("127.0.0.1", "localhost")
    assert "localhost" in url
    # Both kinds of session: a transcription session dials its own URL.
    listed = prompt_jobs(40) + [
        {"id": f"t-{i}", "audio": str(AUDIO / "hello.wav"), "task": "transcribe"} for i in range(6)
    ]
    jobs = write_jobs(tmp_path / "jobs.jsonl", listed)
    retry = RetryPolicy(max_attempts=20, initial_s=0.01, max_s=0.1)
    _, results = await h.run(jobs, url=url, concurrency=8, retry=retry)
    assert sorted(r["id"] for r in results) == sorted(j["id"] for j in listed)
    assert {r["status"] for r in results} == {"completed"}
    assert {c.intent for c in h.emulator.connections} == {"realtime", "transcription"}
    reconnections = len(h.emulator.connections) - 8
    assert reconnections > 0  # the drops did make the run dial again
    assert lookups == [b"localhost"]


def test_the_readme_states_the_code_s_lifetime() -> None:
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert "name is looked up once a minute" in readme
    assert DNS_CACHE_S == 60.0
