"""Fixtures for the emulator tests: an emulator started in pytest-trio's nursery."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import pytest
import trio

from rtbatch.emulator import Emulator, EmulatorConfig, serve
from tests.emulator.helpers import KEY

Starter = Callable[..., typing.Awaitable[Emulator]]


@pytest.fixture
def start(nursery: trio.Nursery) -> Starter:
    """Start an emulator in the test's nursery: ``emu = await start(rpm=3)``."""

    async def _start(**options: Any) -> Emulator:
        options.setdefault("api_key", KEY)
        options.setdefault("record", True)
        emulator: Emulator = await nursery.start(serve, EmulatorConfig(**options))
        return emulator

    return _start


@pytest.fixture
async def emu(start: Starter) -> Emulator:
    """An emulator with the test key, recording, answering like OpenAI today."""
    return await start()


@pytest.fixture
async def beta_emu(start: Starter) -> Emulator:
    """An emulator that also serves the beta dialect (``accept_beta``)."""
    return await start(accept_beta=True)
