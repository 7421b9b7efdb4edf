"""The rtbatch Realtime emulator: a local server that speaks the OpenAI Realtime API.

Start it inside a trio program::

    emu = await nursery.start(serve, EmulatorConfig(api_key="sk-test", record=True))
    url = emu.url + "?model=gpt-realtime"

or from the shell with ``rtbatch serve``. See ``docs/emulator.md``.

Names are imported on first use (PEP 562) so that ``rtbatch --help``, which imports
the ``serve`` command, does not pay for trio and the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtbatch.emulator.config import EmulatorConfig, FaultSchedule
    from rtbatch.emulator.runtime import ConnectionRecord, Emulator, EmulatorStats
    from rtbatch.emulator.server import serve

__all__ = [
    "ConnectionRecord",
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "FaultSchedule",
    "serve",
]

_HOMES = {
    "ConnectionRecord": "rtbatch.emulator.runtime",
    "Emulator": "rtbatch.emulator.runtime",
    "EmulatorConfig": "rtbatch.emulator.config",
    "EmulatorStats": "rtbatch.emulator.runtime",
    "FaultSchedule": "rtbatch.emulator.config",
    "serve": "rtbatch.emulator.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rtbatch.emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
