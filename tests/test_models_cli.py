"""``rtbatch models`` and ``--check`` from the command line, against the emulator's model list.

The emulator runs in pytest-trio's nursery on a loopback port; the command is a real
child process, as cron would run it. The key is checked never to be printed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import trio

from rtbatch.catalogue import CATALOGUE
from rtbatch.catalogue_check import Listed, behind, models_url
from rtbatch.exitcodes import EXIT_FAILED, EXIT_FATAL, EXIT_OK
from tests.harness import start_emulator

SECRET = "sk-live-DO-NOT-SHOW-1a2b3c4d5e6f"


async def _models(*args: str, key: str | None = SECRET) -> trio.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return await trio.run_process(
        [sys.executable, "-m", "rtbatch", "models", *args],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


async def test_models_prints_every_catalogue_row() -> None:
    done = await _models(key=None)
    assert done.returncode == EXIT_OK
    out = done.stdout.decode()
    rows = {line.split()[0] for line in out.splitlines()[1:]}
    assert rows == {model.id for model in CATALOGUE}
    assert "gpt-realtime-2.1" in out.split("gpt-realtime ", 1)[1].splitlines()[0]


async def test_check_against_an_emulator_that_agrees(nursery: trio.Nursery, tmp_path: Path) -> None:
    h = await start_emulator(nursery, tmp_path)
    done = await _models("--check", "--url", h.emulator.url)
    assert done.returncode == EXIT_OK, done.stderr
    assert b"up to date" in done.stderr
    assert SECRET.encode() not in done.stdout + done.stderr


async def test_check_warns_where_the_catalogue_is_behind(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """An announcement the catalogue lacks, and a model the endpoint no longer lists: exit 1."""
    h = await start_emulator(
        nursery,
        tmp_path,
        shutdown_dates={
            "gpt-realtime-2.1": dt.date(2027, 6, 1),
            "gpt-realtime-1.5": dt.date(2026, 1, 1),
        },
    )
    done = await _models("--check", "--url", h.emulator.url)
    assert done.returncode == EXIT_FAILED
    err = done.stderr.decode()
    assert "gpt-realtime-2.1: the endpoint says it shuts down on 2027-06-01" in err
    assert "gpt-realtime-1.5: served by the catalogue, not listed by the endpoint" in err
    assert SECRET not in err


async def test_check_with_a_refused_key_is_run_fatal(nursery: trio.Nursery, tmp_path: Path) -> None:
    h = await start_emulator(nursery, tmp_path, api_key="sk-the-only-good-key-0000")
    done = await _models("--check", "--url", h.emulator.url)
    assert done.returncode == EXIT_FATAL
    assert b"HTTP 401" in done.stderr
    assert SECRET.encode() not in done.stdout + done.stderr
    assert SECRET[-4:].encode() not in done.stderr  # not even masked


async def test_check_with_the_built_in_emulator() -> None:
    done = await _models("--check", "--emulate", key=None)
    assert done.returncode == EXIT_OK, done.stderr


async def test_check_without_a_key_is_bad_usage() -> None:
    done = await _models("--check", "--url", "wss://127.0.0.1:9/v1/realtime", key=None)
    assert done.returncode == 2


def test_the_list_lives_beside_the_socket() -> None:
    assert models_url("wss://api.openai.com/v1/realtime") == "https://api.openai.com/v1/models"
    assert models_url("ws://127.0.0.1:8000/v1/realtime?x=1") == "http://127.0.0.1:8000/v1/models"


def test_an_unknown_realtime_model_is_news_and_others_are_not() -> None:
    today = dt.date(2026, 12, 7)
    listed = [Listed(m.id, m.shutdown) for m in CATALOGUE if m.lifecycle(today) != "shut_down"]
    assert behind(listed, today) == []
    extra = [Listed("gpt-realtime-3", None), Listed("gpt-5", None), Listed("gpt-audio", None)]
    assert behind([*listed, *extra], today) == [
        "gpt-realtime-3: listed by the endpoint, not in the catalogue"
    ]
