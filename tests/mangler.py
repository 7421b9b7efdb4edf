"""A WebSocket proxy on loopback that mangles chosen server frames on their way to the client.

It forwards the upgrade's path and query and the ``Authorization`` / ``OpenAI-Beta``
headers to the emulator, every client frame unchanged, and every server frame
unchanged except those a :class:`Mangle` picks (one chosen frame) or a :class:`Fuzz`
picks (frames at random, seeded). Runs in the test's nursery.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
import trio
import trio_websocket as tw

#: Stands for "remove the key" in :attr:`Mangle.value`.
DROP = object()
#: Stands for "cut the frame in half" in :attr:`Mangle.value` (``path`` unused).
TRUNCATE = object()
#: Stands for "send the frame twice" in :attr:`Mangle.value` (``path`` unused).
TWICE = object()

_FORWARDED = (b"authorization", b"openai-beta")


@dataclass
class Mangle:
    """Change the ``nth`` server frame of ``event_type`` (over the proxy's life).

    ``path`` walks objects by key and lists by index; the last step is set to
    ``value``, or removed for :data:`DROP`.
    """

    event_type: str
    path: tuple[str | int, ...]
    value: Any
    nth: int = 0
    seen: int = 0
    applied: int = 0

    def apply(self, frame: str) -> list[str]:
        """The frames to send in place of ``frame``."""
        event = orjson.loads(frame)
        if event.get("type") != self.event_type:
            return [frame]
        self.seen += 1
        if self.seen - 1 != self.nth:
            return [frame]
        self.applied += 1
        if self.value is TRUNCATE:
            return [frame[: len(frame) // 2]]
        if self.value is TWICE:
            return [frame, frame]
        event = copy.deepcopy(event)
        node: Any = event
        for step in self.path[:-1]:
            node = node[step]
        if self.value is DROP:
            del node[self.path[-1]]
        else:
            node[self.path[-1]] = self.value
        return [orjson.dumps(event).decode()]


#: The values a fuzzed field may be given, beside the key's removal.
FUZZ_VALUES: tuple[Any, ...] = ("x", 7, None, [], {})
#: What :class:`Fuzz` may do to a frame it picks.
FUZZ_ACTIONS = ("drop", "replace", "truncate", "twice")


def _slots(node: Any) -> list[tuple[Any, str | int]]:
    """Every (container, key or index) in a decoded JSON value, depth first."""
    found: list[tuple[Any, str | int]] = []
    steps: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        steps = list(node.items())
    elif isinstance(node, list):
        steps = list(enumerate(node))
    for step, child in steps:
        found.append((node, step))
        found += _slots(child)
    return found


@dataclass
class Fuzz:
    """Mangle each server frame with probability ``rate``, from a seeded generator.

    A picked frame has one key dropped, one value replaced by one of
    :data:`FUZZ_VALUES`, or is cut short, or is sent twice. ``done`` lists what was
    done, as ``(event type, action, where)``, for a failure message.
    """

    seed: int
    rate: float
    done: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def applied(self) -> int:
        return len(self.done)

    def apply(self, frame: str) -> list[str]:
        """The frames to send in place of ``frame``."""
        rng = self._rng
        if rng.random() >= self.rate:
            return [frame]
        event = orjson.loads(frame)
        kind = str(event.get("type")) if isinstance(event, dict) else "?"
        action = rng.choice(FUZZ_ACTIONS)
        slots = _slots(event)
        if action in ("drop", "replace") and not slots:
            action = "twice"
        if action == "truncate":
            self.done.append((kind, action, ""))
            return [frame[: rng.randrange(len(frame))]]
        if action == "twice":
            self.done.append((kind, action, ""))
            return [frame, frame]
        node, step = rng.choice(slots)
        if action == "drop":
            del node[step]  # a list loses an element, an object a key
            self.done.append((kind, action, str(step)))
        else:
            value = copy.deepcopy(rng.choice(FUZZ_VALUES))
            node[step] = value
            self.done.append((kind, action, f"{step}={value!r}"))
        return [orjson.dumps(event).decode()]


@dataclass
class Proxy:
    """Serves on an ephemeral port; use ``await nursery.start(proxy.serve)`` for the port."""

    upstream_port: int
    mangle: Mangle | Fuzz
    connections: int = field(default=0)

    async def serve(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(tw.serve_websocket, self._handle, "127.0.0.1", 0, None)
            task_status.started(server.port)

    async def _handle(self, request: tw.WebSocketRequest) -> None:
        self.connections += 1
        headers = [(k, v) for k, v in request.headers if k.lower() in _FORWARDED]
        client = await request.accept()
        url = f"ws://127.0.0.1:{self.upstream_port}{request.path}"
        try:
            async with (
                tw.open_websocket_url(
                    url, extra_headers=headers, max_message_size=32 * 1024 * 1024
                ) as upstream,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(self._pump, client, upstream, False, nursery.cancel_scope)
                nursery.start_soon(self._pump, upstream, client, True, nursery.cancel_scope)
        except (tw.HandshakeError, OSError):
            await client.aclose()

    async def _pump(
        self,
        source: tw.WebSocketConnection,
        sink: tw.WebSocketConnection,
        from_server: bool,
        scope: trio.CancelScope,
    ) -> None:
        try:
            while True:
                frame = await source.get_message()
                frames = (
                    self.mangle.apply(frame) if from_server and isinstance(frame, str) else [frame]
                )
                for out in frames:
                    await sink.send_message(out)
        except tw.ConnectionClosed:
            pass
        finally:
            scope.cancel()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await sink.aclose()
