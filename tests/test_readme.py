"""README.md's module map names every module of rtbatch, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layering import LAYERS, layer_of

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rtbatch"
#: Packages the map names as a whole (their own docs list their modules).
WHOLE_PACKAGES = frozenset({"emulator/"})


def _map_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- module map -->"), text.index("<!-- end module map -->")
    return [row for row in text[start:end].splitlines() if row.startswith("| ")][2:]


def _named() -> list[str]:
    """Every module or package named in the map's module column."""
    return [name for row in _map_rows() for name in re.findall(r"`([^`]+)`", row.split("|")[2])]


def _modules() -> set[str]:
    """Every module of rtbatch as the map names it; package ``__init__`` files excepted."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py" and path.parent != PACKAGE:
            continue
        if any(relative.startswith(package) for package in WHOLE_PACKAGES):
            continue
        found.add(relative)
    return found - {"__init__.py"}


def test_every_name_in_the_module_map_exists() -> None:
    """A module renamed or removed leaves the map."""
    missing = [name for name in _named() if not (PACKAGE / name).exists()]
    assert not missing


def test_every_module_is_in_the_module_map() -> None:
    """A new module gets a row (or a place in one)."""
    unnamed = sorted(_modules() - set(_named()))
    assert not unnamed


def test_the_map_names_each_module_once() -> None:
    """One row per concept: no module is described twice."""
    names = _named()
    assert sorted(names) == sorted(set(names))


def test_the_map_s_layers_are_the_layering_test_s() -> None:
    """Each row's layer is the one tests/test_layering.py holds the module to."""
    wrong = []
    for row in _map_rows():
        layer = row.split("|")[1].strip()
        for name in re.findall(r"`([^`]+)`", row.split("|")[2]):
            module = "rtbatch." + name.removesuffix("/").removesuffix(".py").replace("/", ".")
            index = layer_of(module)
            if (LAYERS[index][0] if index is not None else "leaf") != layer:
                wrong.append(f"{name}: {layer}")
    assert not wrong
