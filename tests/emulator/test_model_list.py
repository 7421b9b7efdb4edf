"""``GET /v1/models`` on the emulator's own port, as the service answers it (issue 20).

Over a real socket: the list the catalogue serves, each with its ``shutdown_date``
(YYYY-MM-DD or null), checked against the newest SDK's ``Model``; a refused key; a
date rehearsed with ``shutdown_dates``; and the WebSocket upgrade beside it unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import trio
from openai.types import Model as SdkModel

from rtbatch.emulator import Emulator
from rtbatch.models import CATALOGUE
from tests.emulator.conftest import Starter
from tests.emulator.helpers import KEY


async def get(emu: Emulator, path: str, key: str | None = KEY) -> tuple[int, dict[str, Any]]:
    """One HTTP/1.1 GET; the status and the JSON body."""
    stream = await trio.open_tcp_stream("127.0.0.1", emu.port)
    auth = f"authorization: Bearer {key}\r\n" if key is not None else ""
    await stream.send_all(f"GET {path} HTTP/1.1\r\nhost: x\r\n{auth}\r\n".encode())
    data = b""
    while chunk := await stream.receive_some():
        data += chunk
    await stream.aclose()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)


async def test_the_list_is_the_catalogue_s_with_shutdown_dates(start: Starter) -> None:
    """Every model not shut down at the emulator's date, each a valid SDK Model."""
    emu = await start(today=dt.date(2026, 12, 7))
    status, body = await get(emu, "/v1/models")
    assert status == 200 and body["object"] == "list"
    rows = {row["id"]: SdkModel.model_validate(row) for row in body["data"]}
    today = dt.date(2026, 12, 7)
    served = {m.id for m in CATALOGUE if m.lifecycle(today) != "shut_down"}
    assert set(rows) == served
    for model in CATALOGUE:
        if model.id in rows:
            expected = model.shutdown.isoformat() if model.shutdown else None
            assert rows[model.id].shutdown_date == expected, model.id
    assert rows["gpt-realtime"].shutdown_date == "2027-01-20"
    assert rows["gpt-realtime-2.1"].shutdown_date is None


async def test_a_refused_key_gets_the_service_s_401(start: Starter) -> None:
    emu = await start()
    for key in ("sk-wrong-key-123456", None):
        status, body = await get(emu, "/v1/models", key)
        assert status == 401
        assert body["error"]["code"] == "invalid_api_key"
        assert "sk-wrong-key-123456" not in str(body)


async def test_a_rehearsed_announcement_is_listed(start: Starter) -> None:
    """shutdown_dates replaces the catalogue's date; a date already past unlists the model."""
    emu = await start(
        today=dt.date(2026, 12, 7),
        shutdown_dates={
            "gpt-realtime-2.1": dt.date(2027, 6, 1),
            "gpt-realtime-1.5": dt.date(2026, 12, 1),
        },
    )
    _, body = await get(emu, "/v1/models/")
    rows = {row["id"]: row for row in body["data"]}
    assert rows["gpt-realtime-2.1"]["shutdown_date"] == "2027-06-01"
    assert "gpt-realtime-1.5" not in rows


async def test_other_paths_still_upgrade_or_refuse(start: Starter) -> None:
    """A plain GET elsewhere is not a model list: the WebSocket side answers it (400/404)."""
    emu = await start()
    stream = await trio.open_tcp_stream("127.0.0.1", emu.port)
    await stream.send_all(b"GET /v1/other HTTP/1.1\r\nhost: x\r\n\r\n")
    data = b""
    with trio.move_on_after(5):
        while chunk := await stream.receive_some():
            data += chunk
    assert data.split()[1] in (b"400", b"404", b"426")


def test_serve_reads_shutdown_dates(monkeypatch: Any) -> None:
    """--shutdown-date MODEL=DATE (or none) reaches the config; a bad one is exit 2."""
    from click.testing import CliRunner

    from rtbatch.emulator import EmulatorConfig
    from rtbatch.emulator.cli import serve

    captured: dict[str, Any] = {}
    monkeypatch.setattr("rtbatch.emulator.main.run_forever", lambda **kw: captured.update(kw))
    args = ["--shutdown-date", "gpt-realtime-2.1=2027-06-01"]
    args += ["--shutdown-date", "gpt-realtime=none"]
    result = CliRunner().invoke(serve, args)
    assert result.exit_code == 0, result.output
    dates = {"gpt-realtime-2.1": dt.date(2027, 6, 1), "gpt-realtime": None}
    assert captured["shutdown_dates"] == dates
    EmulatorConfig(**{k: v for k, v in captured.items() if k not in ("certfile", "keyfile")})
    for bad in ("gpt-realtime", "gpt-realtime=2027-13-01", "=2027-01-01"):
        assert CliRunner().invoke(serve, ["--shutdown-date", bad]).exit_code == 2
