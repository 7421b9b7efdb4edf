"""Pure parts of the emulator, tested without a network or an event loop."""

from __future__ import annotations

import ast
import importlib
import ssl
import typing
from pathlib import Path

import pytest
import trio
import wsproto
from wsproto.events import AcceptConnection, Request, TextMessage

import rtbatch.emulator as emulator_pkg
from rtbatch.emulator import (
    ConnectionRecord,
    Emulator,
    EmulatorConfig,
    EmulatorStats,
    FaultSchedule,
    serve,
)
from rtbatch.emulator.faults import FaultPlanner
from rtbatch.emulator.outbox import text_frame
from rtbatch.emulator.ratelimit import TokenBucket, WindowCounter
from rtbatch.emulator.replies import count_tokens, reply_key, reply_words, tone_b64
from rtbatch.emulator.server import mask_key
from rtbatch.emulator.usage import PromptCache, Segment
from rtbatch.emulator.validation import Enum, ListOf, Num, Obj, Str

EMULATOR_DIR = Path(emulator_pkg.__file__).parent


def _is_module_path(dotted: str) -> bool:
    parts = dotted.split(".")
    base = EMULATOR_DIR.parent.parent.joinpath(*parts)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports() -> dict[str, set[str]]:
    """Module -> the rtbatch modules it imports (at run time or for type checking)."""
    graph: dict[str, set[str]] = {}
    for path in EMULATOR_DIR.rglob("*.py"):
        parts = path.relative_to(EMULATOR_DIR.parent.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from rtbatch.emulator import faults`` imports a module, not a name.
                names = {f"{node.module}.{alias.name}" for alias in node.names}
                submodules = {n for n in names if _is_module_path(n)}
                found |= submodules if submodules == names else {node.module, *submodules}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = {m for m in found if m.startswith("rtbatch")}
    return graph


def test_emulator_imports_run_one_way_and_only_the_catalogue_from_the_client():
    """No import cycle among emulator modules; of the client it imports rtbatch.models only."""
    graph = _imports()
    modules = set(graph)
    # A module's own packages run first whatever it imports: not an edge of the design.
    edges = {
        name: {m for m in targets if m in modules and not name.startswith(f"{m}.")} - {name}
        for name, targets in graph.items()
    }
    outside = {m for targets in graph.values() for m in targets} - modules
    assert {m for m in outside if not m.startswith("rtbatch.emulator")} == {"rtbatch.models"}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for target in edges[name]:
            visit(target, (*path, name))
        done.add(name)

    for name in sorted(edges):
        visit(name, ())
    assert "rtbatch.emulator.connection" not in edges["rtbatch.emulator.responses"]


def _emulator_types(hints: dict[str, object]) -> set[str]:
    """Names of the rtbatch.emulator classes that appear anywhere in type hints."""
    found: set[str] = set()
    stack = list(hints.values())
    while stack:
        hint = stack.pop()
        stack.extend(typing.get_args(hint))
        module = getattr(hint, "__module__", "")
        if isinstance(hint, type) and module.startswith("rtbatch.emulator"):
            found.add(hint.__name__)
    return found


def test_public_api_is_complete_and_sorted():
    """__all__ is sorted, every name is its home module's object, and every emulator type
    a caller meets through serve, EmulatorConfig, Emulator or its records is exported."""
    names = emulator_pkg.__all__
    assert names == sorted(names)
    assert set(dir(emulator_pkg)) >= set(names)
    for name in names:
        value = getattr(emulator_pkg, name)
        home = importlib.import_module(value.__module__)
        assert getattr(home, name) is value, name
    with pytest.raises(AttributeError):
        _ = emulator_pkg.Connection
    # What a caller meets: serve's signature, the Emulator it hands out, and the
    # fields of every object reachable from those.
    owners = [serve, EmulatorConfig, FaultSchedule, Emulator, EmulatorStats, ConnectionRecord]
    reachable: set[str] = set()
    for owner in owners:
        reachable |= _emulator_types(typing.get_type_hints(owner, localns={"ssl": ssl}))
    # The functions are the face's verbs, not types a caller meets.
    types = set(names) - {"serve", "default_instructions"}
    assert reachable == types, sorted(reachable ^ types)


@pytest.mark.parametrize(
    "options,field",
    [
        ({"port": 70000}, "port"),
        ({"reply_words": 0}, "reply_words"),
        ({"faults": {"drop": 1.5}}, "faults"),
        ({"faults": {"melt": 0.1}}, "faults"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"rpm": 0}, "rpm"),
        ({"session_max_seconds": 0}, "session_max_seconds"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_config_rejects_bad_fields_by_name(options, field):
    """EmulatorConfig validation names the offending field."""
    with pytest.raises(ValueError, match=field):
        EmulatorConfig(**options)


def test_config_repr_masks_key_and_schedule_is_checked():
    """The repr never shows the key; schedules reject unknown kinds."""
    config = EmulatorConfig(api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(config) and "'***'" in repr(config)
    with pytest.raises(ValueError, match=r"schedule\.responses"):
        FaultSchedule(responses={0: "handshake_429"})


def test_mask_key():
    """Keys are shown as sk-…last4; short keys are fully masked."""
    assert mask_key("sk-proj-abcdefghij1234") == "sk-…1234"
    assert mask_key("abcdefghijklmnop") == "…mnop"
    assert mask_key("sk-short") == "********"


def test_validation_messages_use_service_wording():
    """Issues carry the service's codes, params and messages."""
    spec = Obj({"a": Str(), "b": Num(0, 1), "c": ListOf(Enum("x", "y"))}, ("a",))
    assert spec.check({"a": "s", "z": 1}, "session").message == ("Unknown parameter: 'session.z'.")
    assert spec.check({}, "session").param == "session.a"
    issue = spec.check({"a": 1}, "session")
    assert issue.message == (
        "Invalid type for 'session.a': expected a string, but got an integer instead."
    )
    assert spec.check({"a": "s", "c": ["q"]}, "s").message == (
        "Invalid value: 'q'. Supported values are: 'x' and 'y'."
    )
    assert spec.check({"a": "s", "b": 2}, "s").code == "invalid_value"


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_matches_wsproto(size):
    """Our server text frames are byte-identical to wsproto's."""
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="h", target="/")))
    next(server.events())
    server.send(AcceptConnection())
    payload = "é" * (size // 2) + "a" * (size % 2)
    assert text_frame(payload.encode()) == server.send(TextMessage(data=payload))


async def test_token_bucket_refills_continuously(autojump_clock):
    """A bucket refills at capacity/60 per second and reports reset time."""
    bucket = TokenBucket(60, trio.current_time())
    bucket.take(60, trio.current_time())
    assert bucket.snapshot(trio.current_time()) == (60, 0, 60.0)
    await trio.sleep(10)
    assert bucket.snapshot(trio.current_time()) == (60, 10, 50.0)
    assert bucket.wait_for(20, trio.current_time()) == pytest.approx(10)


def test_window_counter_peak():
    """The 60 s window counter keeps the busiest window."""
    counter = WindowCounter()
    for t in (0.0, 10.0, 59.0):
        counter.add(1, t)
    counter.add(1, 70.0)
    assert counter.peak == 3


def test_prompt_cache_rounds_shared_prefix():
    """Cached tokens need >= 1024 shared tokens and round down to 64."""
    cache = PromptCache()
    big = Segment(b"k1", 1000, 100)
    assert cache.cost([big, Segment(b"k2", 5, 0)]).cached_text == 0
    cost = cache.cost([big, Segment(b"k3", 5, 0)])
    assert (cost.cached_text, cost.cached_audio) == (1088 - 100, 100)
    assert cache.cost([Segment(b"other", 2000, 0)]).cached_text == 0


def test_replies_are_deterministic_and_sized():
    """Same key, same words; the tokenizer counts words and punctuation."""
    key = reply_key(["m", "instructions", []])
    assert reply_words(key, 5) == reply_words(key, 5)
    assert reply_words(key, 5)[:2] == ["Emulated", "reply"]
    assert reply_words(key, 5)[-1].endswith(".")
    assert count_tokens("Emulated reply, done.") == 5
    assert len(tone_b64("pcm16")) == 7200 * 2 * 4 // 3
    assert len(tone_b64("g711_ulaw")) == 2400 * 4 // 3


def test_fault_planner_schedule_wins_and_seed_reproduces():
    """Scheduled ordinals get their fault; random faults repeat with the same seed."""
    config = EmulatorConfig(
        faults={"drop": 0.3, "stall": 0.3},
        seed=3,
        schedule=FaultSchedule(responses={1: "server_error"}),
    )
    first = [FaultPlanner(config).next_response() for _ in range(1)]
    planner_a, planner_b = FaultPlanner(config), FaultPlanner(config)
    seq_a = [planner_a.next_response() for _ in range(50)]
    seq_b = [planner_b.next_response() for _ in range(50)]
    assert seq_a == seq_b and seq_a[1] == "server_error"
    assert {"drop", "stall", None} <= set(seq_a)
    assert first[0] == seq_a[0]
