"""session.py: the one translation boundary maps every WebSocket failure."""

from __future__ import annotations

import inspect

import pytest
import trio
import trio_websocket as tw

from rtbatch import errors
from rtbatch import websocket as ws_
from rtbatch.transport import translate


def _defined_exceptions() -> list[type[BaseException]]:
    return [
        obj
        for name in ws_.__all__
        for obj in [getattr(ws_, name)]
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    ]


# One instance of every exception class rtbatch.websocket raises.
_INSTANCES: dict[str, BaseException] = {
    "Rejected": ws_.Rejected(429, [(b"retry-after", b"1")], b""),
    "ConnectTimeout": ws_.ConnectTimeout("slow"),
    "CloseTimeout": ws_.CloseTimeout("slow"),
    "Closed": ws_.Closed(1006, None),
    "HandshakeFailed": ws_.HandshakeFailed("not a WebSocket"),
}


def test_every_websocket_exception_is_mapped() -> None:
    """A WebSocket failure class added without a translation fails here first."""
    defined = [cls for cls in _defined_exceptions() if cls is not ws_.WebSocketError]
    assert defined
    for cls in defined:
        instance = _INSTANCES.get(cls.__name__)
        assert instance is not None, f"{cls.__name__}: add an instance here and a translation"
        assert isinstance(translate(instance), errors.RtbatchError), cls.__name__


def test_translate_refuses_what_is_not_a_network_failure() -> None:
    """Our own bugs are never translated into a lost connection."""
    with pytest.raises(TypeError, match="no translation for KeyError"):
        translate(KeyError("x"))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ws_.Rejected(429, [(b"retry-after", b"3")], b""), errors.HandshakeRetryable),
        (ws_.Rejected(503, [], b"{}"), errors.HandshakeRetryable),
        (ws_.Rejected(401, [], b""), errors.AuthenticationFailed),
        (ws_.Rejected(403, [], b""), errors.HandshakeRefused),
        (ws_.ConnectTimeout("slow"), errors.ResponseTimeout),
        (ws_.CloseTimeout("slow"), errors.ConnectionLost),
        (ws_.Closed(1006, None), errors.ConnectionLost),
        (ws_.Closed(3000, "invalid_api_key"), errors.AuthenticationFailed),
        (ws_.Closed(1002, "a masked frame from the server"), errors.ConnectionLost),
        (ws_.HandshakeFailed("not a WebSocket"), errors.ConnectionLost),
        (ConnectionRefusedError(111, "refused"), errors.ConnectionLost),
    ],
)
def test_translate(exc: BaseException, expected: type[errors.RtbatchError]) -> None:
    """Each failure becomes the most specific rtbatch error, with its context."""
    out = translate(exc)
    assert type(out) is expected
    if isinstance(exc, ws_.Rejected):
        assert out.status == exc.status_code
    if isinstance(exc, ws_.Rejected) and exc.status_code == 429:
        assert out.retry_after_s == 3.0


async def _refusing_server(request: tw.WebSocketRequest) -> None:
    """A service that creates the session, then refuses the configuration."""
    import orjson

    ws = await request.accept()
    await ws.send_message(
        orjson.dumps(
            {
                "type": "session.created",
                "event_id": "event_1",
                "session": {"type": "realtime", "expires_at": 0},
            }
        ).decode()
    )
    update = orjson.loads(await ws.get_message())
    await ws.send_message(
        orjson.dumps(
            {
                "type": "error",
                "event_id": "event_2",
                "error": {
                    "type": "invalid_request_error",
                    "code": "unknown_parameter",
                    "message": "Unknown parameter: 'session.audio.input.turn_detection'.",
                    "param": "session.audio.input.turn_detection",
                    "event_id": update["event_id"],
                },
            }
        ).decode()
    )
    await ws.get_message()  # the first job's response.create, pipelined behind it


async def test_refused_configuration_is_run_fatal(nursery: trio.Nursery) -> None:
    """An error for the session configuration stops the run instead of failing each job."""
    from functools import partial

    from rtbatch.config import ApiKey, RunConfig
    from rtbatch.jobs import Job
    from rtbatch.session import open_session

    server = await nursery.start(
        partial(tw.serve_websocket, _refusing_server, "127.0.0.1", 0, ssl_context=None)
    )
    config = RunConfig(api_key=ApiKey("sk-x"), url=f"ws://127.0.0.1:{server.port}/v1/realtime")
    with pytest.raises(errors.ConfigurationRejected, match="Unknown parameter"):
        async with open_session(config, "realtime") as session:
            await session.run_job(Job(id="a", line=1, kind="text", prompt="hi"))
