"""A run resolves the service's name once a minute, not once per connection.

trio's ``open_tcp_stream`` looks a hostname up for every connection, each lookup in
a worker thread (at most 40 at once, trio's default). A run opens ``-c``
connections at its start and a new one for every dropped or stalled link, so at
``-c 500`` that was 500 lookups at once through 40 threads, and under Kubernetes'
``ndots: 5`` each lookup of ``api.openai.com`` is a dozen DNS queries (the search
domains first, A and AAAA each). :class:`CachingResolver` answers repeated
lookups from memory for :data:`~rtbatch.defaults.DNS_CACHE_S`, and lookups that
arrive while one is under way wait for it rather than ask again, and share its
failure too (500 connections must not retry a DNS timeout one after another). A
failure is not kept: the next connection asks again. Each answer from memory is turned one
address further (:func:`rotated`), as a round-robin DNS server turns its records,
so a gateway behind several addresses still gets the run's connections spread.

It is trio's own hook (:func:`trio.socket.set_custom_hostname_resolver`), so
happy eyeballs, IDNA and the TLS server name are trio's as before; numeric hosts
never reach it. The hook serves every lookup of the trio run while a batch runs
(a program embedding the run included, unless it installed its own resolver, which
is then left alone), and the answers go with the run.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio

__all__ = ["CachingResolver", "cached_resolution", "rotated"]

_Key = tuple[bytes | None, bytes | str | int | None, int, int, int, int]


class _Lookup:
    """A lookup under way: what it ends with, for every caller that waited for it."""

    __slots__ = ("addresses", "done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.addresses: list[Any] | None = None
        self.error: OSError | None = None


class CachingResolver(trio.abc.HostnameResolver):
    """``getaddrinfo`` answered from memory for ``ttl_s`` of trio's clock after a lookup.

    Args:
        ttl_s: how long an answer is reused; the next lookup after it asks again.
    """

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._answers: dict[_Key, tuple[float, list[Any]]] = {}
        self._under_way: dict[_Key, _Lookup] = {}
        self._turns = itertools.count(1)

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        key: _Key = (host, port, family, type, proto, flags)
        while True:
            answer = self._answers.get(key)
            if answer is not None and trio.current_time() < answer[0]:
                await trio.lowlevel.checkpoint()
                return rotated(answer[1], next(self._turns))
            under_way = self._under_way.get(key)
            if under_way is None:
                break
            await under_way.done.wait()
            # Its failure is every waiter's (500 connections must not retry a DNS
            # timeout one after another); a lookup cancelled with its caller ended
            # with neither, and the loop starts another.
            if under_way.error is not None:
                error = under_way.error
                raise error.__class__(*error.args) from error
            if under_way.addresses is not None:
                return rotated(under_way.addresses, next(self._turns))
        lookup = self._under_way[key] = _Lookup()
        try:
            addresses = await trio.to_thread.run_sync(
                socket.getaddrinfo, host, port, family, type, proto, flags, abandon_on_cancel=True
            )
            self._answers[key] = (trio.current_time() + self._ttl_s, addresses)
            lookup.addresses = addresses
            return addresses
        except OSError as exc:
            lookup.error = exc  # shared with those waiting now, not kept for later ones
            raise
        finally:
            del self._under_way[key]
            lookup.done.set()

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        return await trio.to_thread.run_sync(
            socket.getnameinfo, sockaddr, flags, abandon_on_cancel=True
        )


def rotated(addresses: list[Any], turn: int) -> list[Any]:
    """``addresses`` with each family's own entries turned by ``turn``, families in place.

    The system resolver ordered the families by preference (RFC 6724: IPv4 first
    where IPv6 has no route); only the order within a family is the DNS server's.
    """
    by_family: dict[int, list[Any]] = {}
    for address in addresses:
        by_family.setdefault(address[0], []).append(address)
    turned = {f: iter(a[turn % len(a) :] + a[: turn % len(a)]) for f, a in by_family.items()}
    return [next(turned[address[0]]) for address in addresses]


@contextmanager
def cached_resolution(ttl_s: float) -> Iterator[CachingResolver | None]:
    """Install a :class:`CachingResolver` for the body, in the current trio run.

    A program that embeds the run and installed its own resolver keeps it (None is
    yielded then): how it resolves names is its business.
    """
    resolver = CachingResolver(ttl_s)
    previous = trio.socket.set_custom_hostname_resolver(resolver)
    if previous is not None:
        trio.socket.set_custom_hostname_resolver(previous)
        yield None
        return
    try:
        yield resolver
    finally:
        # The hook is the whole trio run's: another may have been put in meanwhile.
        current = trio.socket.set_custom_hostname_resolver(None)
        if current is not resolver:
            trio.socket.set_custom_hostname_resolver(current)
