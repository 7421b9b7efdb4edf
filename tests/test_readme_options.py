"""README.md's option and exit-code tables against the real ``run --help`` and exitcodes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from rtbatch import cli, cli_types, exitcodes
from rtbatch.defaults import DEFAULT_MODEL, JOB_TIMEOUT_S

README = Path(__file__).resolve().parent.parent / "README.md"
OPTION_HEADER = "| option | default | meaning |"
EXIT_HEADER = "| code | meaning |"


def _table(header: str, after: str = "") -> list[list[str]]:
    """The rows of the first table with ``header`` after the line ``after``: cells, stripped."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(after) if after else 0
    first = lines.index(header, start)
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _option_rows() -> dict[str, str]:
    """Each option name of the run table (every spelling) → its default cell, no backticks."""
    rows: dict[str, str] = {}
    for names, default, _ in _table(OPTION_HEADER, after="## Running jobs"):
        for name in re.findall(r"(?<![\w-])--?[a-z][a-z0-9-]*", names):
            assert name not in rows, f"{name} is in the README's table twice"
            rows[name] = default.replace("`", "")
    return rows


def _run_options() -> list[click.Option]:
    return [p for p in cli.run.params if isinstance(p, click.Option) and not p.hidden]


def _raw_default(option: click.Option) -> Any:
    """The option's default as declared, which --help shows (None when it has none)."""
    default = option.get_default(click.Context(cli.run))
    return None if type(default).__name__ == "Sentinel" else default  # click 8.3+: UNSET


def _default(option: click.Option) -> Any:
    """The option's default as the command receives it."""
    default = _raw_default(option)
    return None if default is None else option.type_cast_value(click.Context(cli.run), default)


def _shown(option: click.Option) -> str:
    """The default as the README states it: what --help shows, flags as on/off, unset as ''."""
    if isinstance(option.show_default, str):
        return option.show_default
    default = _raw_default(option)
    if option.is_flag and isinstance(default, bool):
        return "on" if default else "off"
    if default is None or option.count:
        return ""
    return ",".join(default) if isinstance(default, tuple) else str(default)


def _same(readme: str, option: click.Option) -> bool:
    if isinstance(option.type, cli_types.Duration) and readme:
        # "300 s" in the README, "300s" in --help: equal as durations, in the field's unit.
        return option.type.convert(readme.replace(" ", ""), option, None) == _default(option)
    return readme == _shown(option)


def test_the_run_table_heading_exists() -> None:
    """The test reads the table under "Running jobs" (a moved heading would hide it)."""
    assert _option_rows()


def test_every_run_option_is_in_the_readme() -> None:
    """Each option of ``run`` (every spelling, e.g. -o and --output) has a row."""
    rows = _option_rows()
    missing = [n for o in _run_options() for n in o.opts + o.secondary_opts if n not in rows]
    assert not missing, f"options of run missing from README.md: {missing}"


def test_every_readme_option_exists() -> None:
    """No row names an option ``run`` does not have."""
    names = {n for o in _run_options() for n in o.opts + o.secondary_opts}
    assert not set(_option_rows()) - names


@pytest.mark.parametrize("option", _run_options(), ids=lambda o: o.opts[-1])
def test_readme_defaults_are_the_codes(option: click.Option) -> None:
    """The README's default cell is the option's default (durations compared as durations)."""
    readme = _option_rows()[option.opts[-1]]
    assert _same(readme, option), f"{option.opts[-1]}: README {readme!r}, code {_shown(option)!r}"


def test_defaults_named_in_the_issue() -> None:
    """--model's default is DEFAULT_MODEL and --job-timeout's is JOB_TIMEOUT_S, in both places."""
    rows = _option_rows()
    assert rows["--model"].startswith(DEFAULT_MODEL + ";")
    assert rows["--job-timeout"] == f"{JOB_TIMEOUT_S:g} s"


def test_the_idle_floor_is_the_codes_in_help_and_readme() -> None:
    """The learned idle deadline's floor is stated in both places as IDLE_FLOOR_S."""
    from rtbatch.defaults import IDLE_FLOOR_S

    stated = f"at least {IDLE_FLOOR_S:g} s"
    text = " ".join(CliRunner().invoke(cli.main, ["run", "--help"]).output.split())
    assert stated in text
    row = next(line for line in README.read_text().splitlines() if "`--idle-timeout" in line)
    assert stated in row


def test_help_shows_every_default() -> None:
    """``run --help`` prints each stated default (its text is what the README is checked by)."""
    text = " ".join(CliRunner().invoke(cli.main, ["run", "--help"]).output.split())
    for option in _run_options():
        shown = _shown(option)
        if shown and not option.is_flag:
            assert f"default: {shown}" in text or f"default: ({shown})" in text, option.opts


def _codes() -> dict[int, Any]:
    return {
        v: k for k, v in vars(exitcodes).items() if k.startswith("EXIT_") and isinstance(v, int)
    }


def test_exit_code_table_is_exitcodes() -> None:
    """The README lists exactly the codes of exitcodes.py, each once."""
    listed = [int(code) for code, _ in _table(EXIT_HEADER)]
    assert sorted(listed) == sorted(_codes())
    assert [code for code, _ in exitcodes.EXIT_CODES] == sorted(_codes())


def test_help_lists_every_exit_code() -> None:
    """Every command's --help epilog names each code with its meaning, from EXIT_CODES."""
    for command in ("run", "validate", "estimate", "transcribe"):
        text = " ".join(CliRunner().invoke(cli.main, [command, "--help"]).output.split())
        for code, meaning in exitcodes.EXIT_CODES:
            assert f"{code} {meaning}" in text, (command, code)
