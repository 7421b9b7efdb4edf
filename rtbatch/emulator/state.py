"""What one connection's handlers share: its session objects and the responses in flight.

:class:`~rtbatch.emulator.connection.Connection` owns a :class:`SessionState` and hands
it to the response and transcription streams, which therefore never import the
connection (imports run one way: connection -> responses, transcription -> state).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.conversation import Conversation, Item
from rtbatch.emulator.dialects import Dialect, ResponseParams
from rtbatch.emulator.ids import IdFactory
from rtbatch.emulator.outbox import Outbox
from rtbatch.emulator.runtime import ConnectionRecord, Emulator
from rtbatch.emulator.tools import NO_TOOLS, Plan
from rtbatch.emulator.usage import InputCost, PromptCache

#: Call ids a session remembers: memory stays bounded however many calls it makes.
MAX_KNOWN_CALLS = 4096


@dataclass(slots=True)
class ResponseRun:
    """One response in flight.

    Attributes:
        id: ``resp_…``.
        params: its effective settings.
        in_band: writes to the default conversation.
        inputs: the items it reads.
        cost: its input tokens.
        fault: injected fault kind, if any.
        reserved: tokens reserved against the account's limits.
        finished: ``response.done`` was sent (or the response was abandoned).
        cancel_requested: the client asked to cancel it.
        wake: set to interrupt the stream's current pause.
        plan: the function calls it makes, or the answer it gives to their outputs.
    """

    id: str
    params: ResponseParams
    in_band: bool
    inputs: list[Item]
    cost: InputCost
    fault: str | None
    reserved: int = 0
    finished: bool = False
    cancel_requested: bool = False
    wake: trio.Event = field(default_factory=trio.Event)
    plan: Plan = NO_TOOLS

    def cancel(self) -> None:
        """Ask the stream to stop at its next pause and finish ``cancelled``."""
        self.cancel_requested = True
        self.wake.set()


@dataclass(slots=True)
class SessionState:
    """One connection's shared objects.

    Attributes:
        emulator: the running emulator (stats, limits, faults, config).
        outbox: sends server events.
        ids: id factory for this connection.
        dialect: the wire dialect.
        conversation: the default conversation.
        record: what happened (kept only with ``config.record``).
        model: the connection's ``?model=`` value (``""`` for transcription sessions).
        nursery: where streams run; set while the connection is served.
        active: the in-band response in flight, if any.
        running: every response in flight, by id.
        cache: prompt-prefix cache for cached-token accounting.
        calls: call id -> function name, for every call made in this session (by a
            response, or a ``function_call`` item the client created); the newest
            :data:`MAX_KNOWN_CALLS` are kept.
    """

    emulator: Emulator
    outbox: Outbox
    ids: IdFactory
    dialect: Dialect
    conversation: Conversation
    record: ConnectionRecord
    model: str
    nursery: trio.Nursery | None = None
    active: ResponseRun | None = None
    running: dict[str, ResponseRun] = field(default_factory=dict)
    cache: PromptCache = field(default_factory=PromptCache)
    calls: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def remember_call(self, call_id: str, name: str) -> None:
        """Know ``call_id`` from now on (the oldest is forgotten past the bound)."""
        self.calls[call_id] = name
        self.calls.move_to_end(call_id)
        if len(self.calls) > MAX_KNOWN_CALLS:
            self.calls.popitem(last=False)

    @property
    def config(self) -> EmulatorConfig:
        """The emulator's settings."""
        return self.emulator.config

    @property
    def recording(self) -> bool:
        """Whether the connection log is kept (``config.record``)."""
        return self.emulator.config.record

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Run a stream as a child task of the connection.

        Raises:
            RuntimeError: the connection is not being served.
        """
        if self.nursery is None:
            raise RuntimeError("the connection is not being served")
        self.nursery.start_soon(fn, *args)
