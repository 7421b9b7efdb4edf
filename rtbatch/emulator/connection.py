"""One accepted connection: its session, conversation and audio buffer, and the loop
that reads client events and answers them.

Client events are handled one at a time, in arrival order, by the receive loop; only
responses and transcriptions stream from child tasks of the connection's nursery, so
a slow or stalled response never stops the loop (pings, cancels and other events keep
flowing). Every problem with a client event becomes one ``error`` event; the loop
itself never dies on bad input.
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Awaitable, Callable

import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from rtbatch.emulator import tools
from rtbatch.emulator.config import EmulatorConfig
from rtbatch.emulator.conversation import Conversation, Item, normalize_item
from rtbatch.emulator.defaults import CLOSE_TIMEOUT_S
from rtbatch.emulator.dialects import Dialect, Intent, JsonObj, SessionSettings
from rtbatch.emulator.errors import CLOSE_INVALID_REQUEST, ClientError, FatalClientError
from rtbatch.emulator.ids import IdFactory
from rtbatch.emulator.model_rules import (
    ModelPolicy,
    check_effective_session,
    check_response,
    check_session_update,
)
from rtbatch.emulator.outbox import Outbox
from rtbatch.emulator.responses import start_response
from rtbatch.emulator.runtime import ConnectionRecord, Emulator, close
from rtbatch.emulator.state import SessionState
from rtbatch.emulator.tools import unknown_call
from rtbatch.emulator.transcription import start_transcription
from rtbatch.emulator.validation import value_issue

log = logging.getLogger("rtbatch.emulator")

#: The service's per-event audio limit (protocol notes §4), applied to decoded bytes.
MAX_APPEND_BYTES = 15 * 1024 * 1024
#: Commits need at least 100 ms of audio: 2,400 samples at 24 kHz.
MIN_COMMIT_SAMPLES = 2400
CLOSE_GOING_AWAY = 1001
_GERUNDS = {"delete": "deleting", "retrieve": "retrieving", "truncate": "truncating"}

Handler = Callable[[JsonObj], Awaitable[None]]


class Connection:
    """State and event loop of one Realtime session.

    Args:
        emulator: the running emulator (stats, limits, faults, config).
        ws: the accepted WebSocket.
        outbox: sends server events.
        ids: id factory for this connection.
        dialect: the wire dialect.
        intent: ``realtime`` or ``transcription``.
        model: the ``?model=`` value.
        record: where to log what happened (kept only with ``config.record``).
        expires_at: wall-clock epoch second the session expires (``session.expires_at``).
    """

    def __init__(
        self,
        *,
        emulator: Emulator,
        ws: WebSocketConnection,
        outbox: Outbox,
        ids: IdFactory,
        dialect: Dialect,
        intent: Intent,
        model: str,
        record: ConnectionRecord,
        expires_at: int,
    ) -> None:
        self.emulator = emulator
        self.ws = ws
        self.outbox = outbox
        self.ids = ids
        self.dialect = dialect
        self.intent = intent
        self.model = model
        self.record = record
        self.recording = emulator.config.record
        self.session: JsonObj = dialect.default_session(intent, model, ids.make("sess"), expires_at)
        self.settings: SessionSettings = dialect.settings(self.session, model)
        self.conversation = Conversation(ids.make("conv"))
        self.state = SessionState(
            emulator=emulator,
            outbox=outbox,
            ids=ids,
            dialect=dialect,
            conversation=self.conversation,
            record=record,
            model=model,
        )
        self.policy = ModelPolicy(self.config.accept_beta, self.config.effective_today)
        self.buffer_bytes = 0
        self._specs = dialect.client_specs(intent)
        self._handlers: dict[str, Handler] = {
            "session.update": self._on_session_update,
            "transcription_session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
            "conversation.item.truncate": self._on_item_truncate,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def config(self) -> EmulatorConfig:
        """The emulator's settings, read live: a test may change them mid-run (a busy hour)."""
        return self.emulator.config

    async def run(self) -> None:
        """Serve the session until the client leaves, the link drops or it expires."""
        try:
            await self.outbox.send(
                [self.dialect.session_event(self.session, self.intent, created=True)]
            )
        except ConnectionClosed:
            return
        async with trio.open_nursery() as nursery:
            self.state.nursery = nursery
            with trio.move_on_after(self.config.session_max_seconds) as expiry:
                await self._receive_loop()
            # In-flight responses are abandoned: no response.done (as on expiry upstream).
            nursery.cancel_scope.cancel()
        if expiry.cancelled_caught:
            await self._expire()

    async def _expire(self) -> None:
        seconds = self.config.session_max_seconds
        span = f"{int(seconds // 60)} minutes" if seconds % 60 == 0 else f"{seconds:g} seconds"
        if self.outbox.torn:
            await self.outbox.abort()
            return
        message = f"Your session hit the maximum duration of {span}."
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            try:
                await self.send_error(ClientError("session_expired", message), None)
            except ConnectionClosed:
                return
        # The captured GA close: 1001 with the error's sentence as its reason, not the
        # ``<type>.<code>`` form of other fatal closes (protocol notes §0, §0a).
        await close(self.emulator, self.ws, self.record, CLOSE_GOING_AWAY, message)

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.ws.get_message()
            except ConnectionClosed:
                return
            try:
                await self._dispatch(message)
            except ConnectionClosed:
                return
            except Exception:
                # A bug must cost one event, not the connection (and never the server).
                log.exception("internal error while handling a client event")
                await self.send_error(
                    ClientError(
                        "server_error",
                        "The server had an error while processing your request. Sorry about that!",
                    ),
                    None,
                    error_type="server_error",
                )

    # -- dispatch ------------------------------------------------------------------------
    async def _dispatch(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            # Binary frames are not part of the protocol; the real reaction is UNCONFIRMED.
            await self.send_error(
                ClientError(
                    "invalid_event", "Binary frames are not supported; send JSON text frames."
                ),
                None,
            )
            return
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            await self.send_error(
                ClientError(
                    "invalid_json", f"The server could not parse the event as JSON: {exc}."
                ),
                None,
            )
            return
        if not isinstance(event, dict):
            await self.send_error(
                ClientError("invalid_event", "The event must be a JSON object."), None
            )
            return
        if self.recording:
            self.record.received.append(event)
        event_id = event.get("event_id")
        event_id = event_id if isinstance(event_id, str) else None
        try:
            await self._handle(event)
        except FatalClientError as err:
            # The service ends the session after these (protocol notes §0).
            await self.send_error(err, event_id)
            await close(
                self.emulator,
                self.ws,
                self.record,
                CLOSE_INVALID_REQUEST,
                f"invalid_request_error.{err.code}",
            )
        except ClientError as err:
            await self.send_error(err, event_id)

    async def _handle(self, event: JsonObj) -> None:
        kind = event.get("type")
        if kind is None:
            raise ClientError("invalid_event", "The 'type' field is missing.")
        if not isinstance(kind, str):
            raise ClientError("invalid_type", "Invalid type for 'type': expected a string.", "type")
        spec = self._specs.get(kind)
        if spec is None:
            raise ClientError.of(value_issue("type", kind, list(self._specs)))
        issue = spec.check(event, "")
        if issue is not None:
            raise ClientError.of(issue)
        await self._handlers[kind](event)

    async def send_error(
        self, err: ClientError, event_id: str | None, *, error_type: str = "invalid_request_error"
    ) -> None:
        """Send one ``error`` event.

        Args:
            err: what went wrong.
            event_id: the client's ``event_id``, echoed inside ``error``.
            error_type: ``error.type``.
        """
        self.emulator.stats.errors_sent += 1
        error = {
            "type": error_type,
            "code": err.code,
            "message": err.message,
            "param": err.param,
            "event_id": event_id,
        }
        await self.outbox.send([{"type": "error", "error": error}])

    # -- session ---------------------------------------------------------------------------
    async def _on_session_update(self, event: JsonObj) -> None:
        issue = self.dialect.check_update(event, self.intent, self.session)
        if issue is not None:
            raise ClientError.of(issue)
        check_session_update(
            self.policy,
            self.dialect,
            self.model,
            event["session"],
            voice=self.settings.voice,
            assistant_audio=any(i.out_audio_ms for i in self.conversation.items()),
        )
        session = self.dialect.apply_update(self.session, event["session"])
        settings = self.dialect.settings(session, self.model)
        check_effective_session(self.dialect, settings)
        self.session, self.settings = session, settings
        await self.outbox.send([self.dialect.session_event(session, self.intent, created=False)])

    # -- audio buffer ----------------------------------------------------------------------
    async def _on_append(self, event: JsonObj) -> None:
        audio: str = event["audio"]
        try:
            size = len(binascii.a2b_base64(audio, strict_mode=True))
        except (binascii.Error, ValueError) as exc:
            raise ClientError(
                "invalid_value", f"Invalid 'audio': the audio is not valid base64 ({exc}).", "audio"
            ) from None
        if size > MAX_APPEND_BYTES:
            raise ClientError(
                "invalid_value",
                f"Invalid 'audio': {size} bytes of audio exceed the maximum of "
                f"{MAX_APPEND_BYTES} bytes (15 MiB) per event.",
                "audio",
            )
        self.buffer_bytes += size

    def buffer_samples(self) -> int:
        """24 kHz samples in the input buffer (G.711 at 8 kHz counts 3 per byte)."""
        fmt = self.settings.input_format
        return self.buffer_bytes // 2 if fmt == "pcm16" else self.buffer_bytes * 3

    async def _on_commit(self, event: JsonObj) -> None:
        samples = self.buffer_samples()
        if samples < MIN_COMMIT_SAMPLES:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {samples / 24:.2f}ms of audio.",
            )
        self.buffer_bytes = 0
        item = Item(
            self.dialect.new_item(
                self.ids.make("item"),
                type="message",
                status="completed",
                role="user",
                content=[{"type": "input_audio", "transcript": None}],
            ),
            samples=samples,
        )
        previous = self.conversation.insert(item, None)
        item_id = item.wire["id"]
        committed = {
            "type": "input_audio_buffer.committed",
            "previous_item_id": previous,
            "item_id": item_id,
        }
        await self.outbox.send([committed, *self.dialect.item_events(item.wire, previous)])
        if self.settings.transcription_model:
            start_transcription(
                self.state,
                item_id,
                samples,
                self.settings.transcription_model,
                include_logprobs=self.settings.logprobs,
            )

    async def _on_clear(self, event: JsonObj) -> None:
        self.buffer_bytes = 0
        await self.outbox.send([{"type": "input_audio_buffer.cleared"}])

    # -- conversation ------------------------------------------------------------------------
    async def _on_item_create(self, event: JsonObj) -> None:
        item = self.make_item(event["item"], "item")
        self._check_call(item.wire, set())
        if item.wire["id"] in self.conversation:
            raise ClientError(
                "invalid_value",
                f"Invalid 'item.id': an item with id '{item.wire['id']}' already exists.",
                "item.id",
            )
        after = event.get("previous_item_id")
        if after is not None and after != "root" and after not in self.conversation:
            # Error code for an unknown previous_item_id is UNCONFIRMED.
            raise ClientError(
                "invalid_value",
                f"Invalid 'previous_item_id': the item with id '{after}' does not exist.",
                "previous_item_id",
            )
        previous = self.conversation.insert(item, after)
        self._remember_call(item.wire)
        await self.outbox.send(self.dialect.item_events(item.wire, previous))

    def _check_call(self, wire: JsonObj, nearby: set[str]) -> None:
        """Refuse an output whose call is neither in this session nor in ``nearby``."""
        if wire.get("type") != "function_call_output":
            return
        call_id: str = wire["call_id"]
        if call_id not in self.state.calls and call_id not in nearby:
            raise unknown_call(call_id)

    def _remember_call(self, wire: JsonObj) -> None:
        """A ``function_call`` item the client adds makes its call id known."""
        call_id = wire.get("call_id")
        if wire.get("type") == "function_call" and isinstance(call_id, str):
            self.state.remember_call(call_id, str(wire.get("name")))

    def make_item(self, wire: JsonObj, path: str) -> Item:
        """Normalise a client item: id, object, status; audio measured and dropped.

        Args:
            wire: the validated item.
            path: its param path, for errors.

        Returns:
            The stored item.

        Raises:
            ClientError: an ``audio`` part is not valid base64.
        """
        try:
            return normalize_item(
                wire, self.ids, self.settings.input_format, self.dialect.item_object
            )
        except binascii.Error as exc:
            raise ClientError(
                "invalid_value", f"Invalid '{path}.content': {exc}.", f"{path}.content"
            ) from None

    def _existing(self, event: JsonObj, verb: str) -> Item:
        """The item named by ``item_id``, or the service's "does not exist" error."""
        item_id: str = event["item_id"]
        item = self.conversation.get(item_id)
        if item is None:
            raise ClientError(
                f"item_{verb}_invalid_item_id",
                f"Error {_GERUNDS[verb]} item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        return item

    async def _on_item_delete(self, event: JsonObj) -> None:
        item = self._existing(event, "delete")
        self.conversation.delete(item.wire["id"])
        await self.outbox.send([{"type": "conversation.item.deleted", "item_id": item.wire["id"]}])

    async def _on_item_retrieve(self, event: JsonObj) -> None:
        item = self._existing(event, "retrieve")
        await self.outbox.send([{"type": "conversation.item.retrieved", "item": item.wire}])

    async def _on_item_truncate(self, event: JsonObj) -> None:
        item = self._existing(event, "truncate")
        index, end_ms = event["content_index"], event["audio_end_ms"]
        content = item.wire.get("content") or []
        if item.wire.get("role") != "assistant" or index >= len(content) or not item.out_audio_ms:
            raise ClientError(
                "invalid_value", "Only assistant audio content can be truncated.", "content_index"
            )
        if end_ms > item.out_audio_ms:
            raise ClientError(
                "invalid_value",
                f"Audio content of {item.out_audio_ms}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        item.out_audio_ms = end_ms
        # The service drops the transcript of a truncated answer (protocol notes §5.5).
        content[index]["transcript"] = ""
        await self.outbox.send(
            [
                {
                    "type": "conversation.item.truncated",
                    "item_id": item.wire["id"],
                    "content_index": index,
                    "audio_end_ms": end_ms,
                }
            ]
        )

    # -- responses -----------------------------------------------------------------------------
    async def _on_response_create(self, event: JsonObj) -> None:
        response = event.get("response") or {}
        check_response(self.policy, self.dialect, self.model, response)
        params = self.dialect.response_params(self.settings, response)
        active = self.state.active
        if not params.out_of_band and active is not None:
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        inputs = self._response_inputs(params.input)
        where = "response" if "tool_choice" in response else "session"
        plan = tools.plan(params, inputs, self.state.calls, f"{where}.tool_choice")
        await start_response(self.state, params, inputs, plan)

    def _response_inputs(self, explicit: list[JsonObj] | None) -> list[Item]:
        if explicit is None:
            return self.conversation.items()
        out: list[Item] = []
        # An out-of-band input may replay a call with its output: the call only has to
        # come before the output in the same list (or be known to the session).
        replayed: set[str] = set()
        for index, wire in enumerate(explicit):
            if wire.get("type") == "item_reference":
                found = self.conversation.get(wire.get("id", ""))
                if found is None:
                    raise ClientError(
                        "invalid_value",
                        f"Invalid 'response.input[{index}].id': the item with id "
                        f"'{wire.get('id')}' does not exist in the conversation.",
                        f"response.input[{index}].id",
                    )
                out.append(found)
            else:
                out.append(self.make_item(wire, f"response.input[{index}]"))
                self._check_call(wire, replayed)
                if wire.get("type") == "function_call" and isinstance(wire.get("call_id"), str):
                    replayed.add(wire["call_id"])
        return out

    async def _on_response_cancel(self, event: JsonObj) -> None:
        response_id = event.get("response_id")
        run = self.state.running.get(response_id) if response_id else self.state.active
        if run is None or run.finished:
            raise ClientError(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        run.cancel()
