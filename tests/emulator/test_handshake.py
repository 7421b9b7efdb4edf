"""Handshake: authentication, dialect choice, model checks and handshake faults.

Network test rules: loopback only, port 0; the emulator runs in pytest-trio's
``nursery`` fixture via ``nursery.start(serve, ...)``; the server closes first in the
fatal cases tested here; no real sleeps.
"""

from __future__ import annotations

import json

import pytest
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from rtbatch.emulator import FaultSchedule
from tests.emulator.helpers import KEY, check_server_event, connect, headers_for


async def _fatal(emu, dialect="ga", *, query="model=gpt-realtime", key=KEY, subprotocols=None):
    """Connect, read the single error event and the close; return (error, code, reason)."""
    url = f"{emu.url}?{query}"
    async with open_websocket_url(
        url, extra_headers=headers_for(dialect, key), subprotocols=subprotocols
    ) as ws:
        event = json.loads(await ws.get_message())
        check_server_event(dialect, event)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    return event["error"], closed.value.reason.code, closed.value.reason.reason


async def _still_serves(emu):
    async with connect(emu) as client:
        await client.text_session()
        events = await client.turn()
        assert events[-2]["response"]["status"] == "completed"


async def test_bearer_header_is_accepted(emu):
    """The Authorization Bearer header authenticates; session.created comes first."""
    async with connect(emu) as client:
        assert client.seen[0]["session"]["model"] == "gpt-realtime"


async def test_subprotocol_key_is_accepted_and_realtime_selected(emu):
    """The openai-insecure-api-key subprotocol authenticates; 'realtime' is selected."""
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    async with connect(emu, key=None, subprotocols=protocols) as client:
        assert client.ws.subprotocol == "realtime"


async def test_beta_subprotocol_selects_beta(beta_emu):
    """The openai-beta.realtime-v1 subprotocol selects the beta dialect."""
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}", "openai-beta.realtime-v1"]
    async with connect(beta_emu, "beta", key=None, subprotocols=protocols) as client:
        assert "modalities" in client.seen[0]["session"]
    assert beta_emu.connections[0].dialect == "beta"


async def test_wrong_key_gets_error_then_close_3000_without_echo(emu):
    """A wrong key: upgrade, one invalid_api_key error (key masked), close 3000."""
    wrong = "sk-wrong-secret-key-987654"
    error, code, reason = await _fatal(emu, key=wrong)
    assert (code, reason) == (3000, "invalid_request_error.invalid_api_key")
    assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
    assert error["message"].startswith("Incorrect API key provided: sk-…7654.")
    assert wrong not in error["message"] and "secret" not in error["message"]
    await _still_serves(emu)


async def test_short_wrong_key_is_fully_masked(emu):
    """A short wrong key is masked entirely in the message."""
    error, code, _ = await _fatal(emu, key="abc")
    assert code == 3000 and "***" in error["message"] and "abc" not in error["message"]


async def test_missing_key_refused_even_without_configured_key(start):
    """With no api_key configured any key works, but a missing key is refused (3000)."""
    emu = await start(api_key=None)
    async with connect(emu, key="anything-goes"):
        pass
    error, code, _ = await _fatal(emu, key=None)
    assert code == 3000 and error["code"] == "invalid_api_key"


@pytest.mark.parametrize("how", ["header", "subprotocol"])
async def test_beta_is_refused_by_default_with_close_4000(emu, how):
    """By default a beta client (header or subprotocol) gets beta_api_shape_disabled, close 4000."""
    if how == "header":
        error, code, reason = await _fatal(emu, "beta")
    else:
        protocols = ["realtime", f"openai-insecure-api-key.{KEY}", "openai-beta.realtime-v1"]
        error, code, reason = await _fatal(emu, key=None, subprotocols=protocols)
    assert (code, reason) == (4000, "invalid_request_error.beta_api_shape_disabled")
    assert error["message"] == (
        "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
    )
    await _still_serves(emu)


async def test_missing_model_closes_4000(emu):
    """No ?model= on a realtime connection: missing_model error then close 4000."""
    error, code, _ = await _fatal(emu, query="")
    assert code == 4000 and error["code"] == "missing_model"


@pytest.mark.parametrize(
    "kind,status", [("handshake_429", 429), ("handshake_500", 500), ("handshake_503", 503)]
)
async def test_handshake_faults_refuse_the_upgrade(start, kind, status):
    """Scheduled handshake faults refuse the upgrade with that status and a JSON body."""
    emu = await start(schedule=FaultSchedule(handshakes={0: kind}))
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(
            f"{emu.url}?model=gpt-realtime", extra_headers=headers_for("ga")
        ):
            pass
    assert rejected.value.status_code == status
    body = json.loads(rejected.value.body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    headers = {k.lower(): v for k, v in rejected.value.headers}
    assert (b"retry-after" in headers) == (status == 429)
    assert emu.stats.faults_injected[kind] == 1
    await _still_serves(emu)
