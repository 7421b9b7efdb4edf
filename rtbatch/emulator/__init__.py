"""The rtbatch Realtime emulator: a local server that speaks the OpenAI Realtime API.

Start it inside a trio program::

    emu = await nursery.start(serve, EmulatorConfig(api_key="sk-test", record=True))
    url = emu.url + "?model=gpt-realtime"

or from the shell with ``rtbatch serve``. See ``docs/emulator.md``.

Names are imported on first use (PEP 562) so that ``rtbatch --help``, which imports
the ``serve`` command, does not pay for trio and the server.
"""

from __future__ import annotations

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
    "default_instructions",
    "serve",
]


def _load(name: str) -> Any:
    # Plain imports, one per home, rather than importlib: the layering test reads
    # the import graph from the source, and a name string would hide an edge.
    if name in ("ConnectionRecord", "Emulator", "EmulatorStats"):
        from rtbatch.emulator import runtime

        return getattr(runtime, name)
    if name in ("EmulatorConfig", "FaultSchedule"):
        from rtbatch.emulator import config

        return getattr(config, name)
    if name == "serve":
        from rtbatch.emulator import server

        return server.serve
    raise AttributeError(f"module 'rtbatch.emulator' has no attribute {name!r}")


def default_instructions() -> str:
    """The instructions an emulated session starts with (both dialects say the same).

    For estimates that assume the emulator's replies; a function, so that reading
    it loads only the dialect module.
    """
    from rtbatch.emulator.dialects import ga

    return ga.DEFAULT_INSTRUCTIONS


def __getattr__(name: str) -> Any:
    value = _load(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
