"""Imports point one way: every module under ``rtbatch/`` parsed, its import graph checked.

The layers follow the design's target layout top to bottom, as the code stands after issue 21:

- ``entry``: the click commands, and nothing imports them;
- ``composition``: checks the input, locks, resumes, starts the emulator, runs, reports;
  the emulator itself, the shards (partition, applying one, merging) and the audio
  discovery of ``rtbatch transcribe`` live here, since only a command uses them;
- ``run``: the run's package: its workers, queues, attempt ledger, stop state and
  report, and how a job's try becomes its line;
- ``pacing``: when the next request may start;
- ``accounting``: estimates, cost, the budget, totals and progress;
- ``session``: one Realtime session over one WebSocket, with retry classification;
- ``output``: the result file and everything beside it (above ``jobs``: resume
  keys lines by job, so it may read the job model, and no job module writes files);
- ``settings``: the run's one frozen settings object;
- ``jobs``: the job model, reader and rules;
- ``protocol``: pure client events; reads neither jobs nor settings;
- ``audio``: decode, segment, stream, WAV;
- ``catalogue``: the model catalogue and the id index.

A module may import its own layer and any layer below it, plus the *leaves*
(plain constants and the error tree, which import no other rtbatch module). The
graph must have no cycle. Outside the emulator only its public face
(``rtbatch.emulator``, ``rtbatch.emulator.cli``) may be imported. A known violation
is an entry of :data:`ALLOWED`, each with the change that removes it; an entry
that no longer matches an import fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rtbatch"

#: Top to bottom.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", ("rtbatch.cli", "rtbatch.cli_options", "rtbatch.cli_types", "rtbatch.__main__")),
    (
        "composition",
        (
            "rtbatch.runner",
            "rtbatch.commands",
            "rtbatch.audio.discover",
            "rtbatch.shards.*",
            "rtbatch.emulator",
            "rtbatch.emulator.*",
        ),
    ),
    ("run", ("rtbatch.run", "rtbatch.run.*")),
    ("pacing", ("rtbatch.pacing", "rtbatch.pacing.*")),
    (
        "accounting",
        (
            "rtbatch.estimate",
            "rtbatch.job_estimate",
            "rtbatch.summary",
            "rtbatch.budget",
            "rtbatch.cost",
            "rtbatch.progress",
            "rtbatch.evals",
            "rtbatch.evals.*",
        ),
    ),
    (
        "session",
        (
            "rtbatch.session",
            "rtbatch.boundary",
            "rtbatch.session_audio",
            "rtbatch.session_responses",
            "rtbatch.reply",
            "rtbatch.silences",
            "rtbatch.latency",
            "rtbatch.tool_rounds",
            "rtbatch.conversation",
            "rtbatch.transport",
            "rtbatch.websocket",
            "rtbatch.resolver",
            "rtbatch.retry",
        ),
    ),
    ("output", ("rtbatch.output.*",)),
    ("settings", ("rtbatch.config",)),
    ("jobs", ("rtbatch.jobs", "rtbatch.jobs.*")),
    ("protocol", ("rtbatch.protocol", "rtbatch.events")),
    ("audio", ("rtbatch.audio", "rtbatch.audio.*")),
    (
        "catalogue",
        ("rtbatch.models", "rtbatch.catalogue", "rtbatch.catalogue_check", "rtbatch.idindex"),
    ),
)
#: Imported from anywhere; they import only each other.
LEAVES = frozenset(
    {
        "rtbatch",
        "rtbatch.output",
        "rtbatch.shards",
        "rtbatch.defaults",
        "rtbatch.errors",
        "rtbatch.exitcodes",
        "rtbatch.audio_extensions",
        "rtbatch.stages",
    }
)
#: Imports named by the issue as wrong, whatever the layers say.
FORBIDDEN: frozenset[tuple[str, str]] = frozenset(
    {
        ("rtbatch.protocol", "rtbatch.jobs"),
        ("rtbatch.protocol", "rtbatch.config"),
        ("rtbatch.output.formats", "rtbatch.audio.discover"),
    }
)
#: The emulator's public face: what code outside it may import.
EMULATOR_FACE = frozenset({"rtbatch.emulator", "rtbatch.emulator.cli"})

#: Known violations, (importer, imported): each names the change that removes it.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every rtbatch module ``path`` imports (at any depth: lazy imports count), with its line."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            module = node.module or ""
            if module.split(".")[0] != "rtbatch":
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield (full if full in MODULES else module), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rtbatch":
                    yield alias.name, node.lineno


GRAPH: dict[str, dict[str, int]] = {
    name: {target: line for target, line in _imports(path)} for name, path in MODULES.items()
}


def _matches(module: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        return module.startswith(pattern[:-1])
    return module == pattern


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer (0 is the top), None for a leaf."""
    if module in LEAVES:
        return None
    for index, (_, patterns) in enumerate(LAYERS):
        if any(_matches(module, p) for p in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS or LEAVES")


def violations() -> dict[tuple[str, str], str]:
    """Every import against the layout, with why."""
    found: dict[tuple[str, str], str] = {}
    for importer, targets in GRAPH.items():
        here = layer_of(importer)
        for target, line in targets.items():
            where = f"{MODULES[importer].relative_to(PACKAGE.parent)}:{line}"
            there = layer_of(target)
            if (importer, target) in FORBIDDEN:
                found[importer, target] = f"{where}: imports {target}, which the issue forbids"
            elif here is None and there is not None:
                found[importer, target] = f"{where}: a leaf imports {target}"
            elif here is not None and there is not None and there < here:
                found[importer, target] = (
                    f"{where}: {LAYERS[here][0]} imports {target} of {LAYERS[there][0]}, above it"
                )
            elif (
                target.startswith("rtbatch.emulator.")
                and not importer.startswith("rtbatch.emulator")
                and target not in EMULATOR_FACE
            ):
                found[importer, target] = f"{where}: reaches inside the emulator to {target}"
    return found


def test_every_module_has_a_layer() -> None:
    """A new module must be placed: in a layer, or among the leaves."""
    for module in MODULES:
        layer_of(module)


def test_imports_point_down_the_layers() -> None:
    """No module imports a layer above its own, except the named, commented entries."""
    unexpected = {key: why for key, why in violations().items() if key not in ALLOWED}
    assert not unexpected, "\n".join(sorted(unexpected.values()))


def test_the_allow_list_only_shrinks() -> None:
    """Every allowed violation still exists: a fixed one must leave the list."""
    stale = sorted(f"{a} -> {b}" for a, b in ALLOWED if (a, b) not in violations())
    assert not stale, f"fixed, remove from ALLOWED: {stale}"


def test_nothing_below_the_composition_imports_the_emulator() -> None:
    """Only commands start the emulator; the run, the session and below never see it."""
    composition = [name for name, _ in LAYERS].index("composition")
    for importer, targets in GRAPH.items():
        if importer.startswith("rtbatch.emulator"):
            continue
        here = layer_of(importer)
        for target in targets:
            if target.startswith("rtbatch.emulator"):
                assert here is not None and here <= composition, f"{importer} imports {target}"


def _cycles() -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in GRAPH.get(node, {}):
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    """No module reaches itself through its imports, lazy imports included."""
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a two-module loop is reported."""
    monkeypatch.setitem(GRAPH, "rtbatch.x", {"rtbatch.y": 1})
    monkeypatch.setitem(GRAPH, "rtbatch.y", {"rtbatch.x": 1})
    assert ["rtbatch.x", "rtbatch.y"] in _cycles()


def test_every_import_names_a_module_that_exists() -> None:
    """The graph is built from real modules: an import of a missing one is a typo."""
    missing = sorted(
        f"{importer} -> {target}"
        for importer, targets in GRAPH.items()
        for target in targets
        if target not in MODULES
    )
    assert not missing
