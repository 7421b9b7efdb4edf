"""rtbatch.errors' docstring draws every exception class rtbatch defines, and only those."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import rtbatch
from rtbatch import errors


def _defined() -> set[str]:
    found: set[str] = set()
    for info in pkgutil.walk_packages(rtbatch.__path__, "rtbatch."):
        if info.name.endswith("__main__"):
            continue  # running it is the command line
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and not name.startswith("_")  # private control flow, never raised out
            ):
                found.add(name)
    return found


def _drawn() -> set[str]:
    doc = errors.__doc__ or ""
    names = re.findall(r"[├└]── (\w+)", doc) + re.findall(r"^    (\w+)$", doc, re.M)
    return {n for n in names if n not in {"ValueError", "Exception"}}


def test_the_tree_names_every_exception_class() -> None:
    """Every public Exception subclass in rtbatch is drawn; every drawn name exists."""
    defined, drawn = _defined(), _drawn()
    assert defined - drawn == set(), "missing from the tree"
    assert drawn - defined == set(), "drawn but not defined"
