"""Streaming responses, with their faults and accounting.

A response is admitted (rate limits), announced with ``response.created`` by the
receive loop (so it is ordered before anything the client sends next), then streamed
from a child task: latency, output item, content part, one delta per word, done
events, ``response.done`` with usage, ``rate_limits.updated``. Event order per dialect
follows protocol notes §7.1.

Cancellation by the client is a flag plus an event, checked at every pause, never a
cancel scope around a send: a send cut in half would corrupt the stream.
"""

from __future__ import annotations

from trio_websocket import ConnectionClosed

from rtbatch.emulator import faults as fault_consts
from rtbatch.emulator import refusals
from rtbatch.emulator.conversation import Item
from rtbatch.emulator.dialects import JsonObj, ResponseParams
from rtbatch.emulator.errors import SERVER_ERROR_MESSAGE
from rtbatch.emulator.outbox import Batch
from rtbatch.emulator.replies import (
    WORD_AUDIO_MS,
    audio_tokens_out,
    count_tokens,
    obfuscation_pool,
    reply_key,
    reply_words,
    tone_b64,
    word_deltas,
)
from rtbatch.emulator.state import ResponseRun, SessionState
from rtbatch.emulator.tools import NO_TOOLS, Plan, argument_pieces
from rtbatch.emulator.usage import instructions_segment, item_segment

__all__ = ["start_response"]

_AUDIO_TOKENS_PER_WORD = audio_tokens_out(WORD_AUDIO_MS)


async def _pause(batch: Batch, run: ResponseRun, delay_ms: float) -> bool:
    """Flush and wait ``delay_ms`` (a cancel ends the wait); True if cancelled."""
    await batch.pause(delay_ms, run.wake)
    return run.cancel_requested


def _key_material(params: ResponseParams, inputs: list[Item]) -> object:
    """What decides the reply: the model's view and the settings that change answers."""
    items = [
        [{k: v for k, v in i.wire.items() if k not in ("id", "object", "status")}, i.samples]
        for i in inputs
    ]
    return [
        params.model,
        params.instructions,
        items,
        params.output_audio,
        params.voice,
        params.temperature,
        params.max_tokens,
        params.output_format,
    ]


async def start_response(
    conn: SessionState, params: ResponseParams, inputs: list[Item], plan: Plan = NO_TOOLS
) -> None:
    """Admit, announce and launch one response.

    Args:
        conn: the connection.
        params: the response's settings.
        inputs: the items it reads.
        plan: its function calls, or its answer to function outputs.

    Raises:
        ConnectionClosed: the connection closed while announcing.
    """
    emulator = conn.emulator
    segments = [instructions_segment(params.instructions)]
    segments += [item_segment(i.wire, i.samples, i.out_audio_ms) for i in inputs]
    run = ResponseRun(
        id=conn.ids.make("resp"),
        params=params,
        in_band=not params.out_of_band,
        inputs=inputs,
        cost=conn.cache.cost(segments),
        fault=emulator.faults.next_response(),
        plan=plan,
    )
    estimate = _estimate(conn, run)
    refusal = refusals.admit(emulator, run.fault, params.model, estimate, run.id)
    if refusal is not None and refusal.close is not None:
        await refusals.end_session(conn, refusal)
        return
    emulator.stats.responses += 1
    created = _response_event(conn, run, "response.created", "in_progress", None, [], None)
    if refusal is not None:
        details = {"type": "failed", "error": refusal.error}
        await _finish(conn, run, [created], "failed", details, [], None)
        return
    run.reserved = estimate
    if run.in_band:
        conn.active = run
    conn.running[run.id] = run
    if _runs_without_pauses(conn, run):
        # Nothing to wait for: stream inline, ``created`` in the same write as the rest
        # (no task, one send: the common benchmark case).
        await _guarded(conn, run, [created])
        return
    await conn.outbox.send([created])
    conn.start_soon(_guarded, conn, run, [])


def _runs_without_pauses(conn: SessionState, run: ResponseRun) -> bool:
    """Whether the response can stream without ever waiting (so without a task)."""
    config = conn.config
    return (
        config.latency_ms == 0
        and config.token_delay_ms == 0
        and run.fault not in ("drop", "stall", "invalid_frame")
    )


def _estimate(conn: SessionState, run: ResponseRun) -> int:
    words = conn.config.reply_words
    per_word = 1 + (_AUDIO_TOKENS_PER_WORD if run.params.output_audio else 0)
    largest = words * per_word + 1
    if run.params.max_tokens is not None:
        largest = min(largest, run.params.max_tokens)
    return run.cost.text + run.cost.audio + largest


async def _guarded(conn: SessionState, run: ResponseRun, pending: list[JsonObj]) -> None:
    try:
        await _stream(conn, run, pending)
    except ConnectionClosed:
        pass
    finally:
        conn.emulator.limits.release(run.id)
        run.finished = True
        conn.running.pop(run.id, None)
        if conn.active is run:
            conn.active = None


def _cut(words: list[str], params: ResponseParams) -> tuple[list[str], bool]:
    """Words that fit ``max_tokens`` (each costs its text tokens, plus audio if spoken)."""
    if params.max_tokens is None:
        return words, False
    per_word_audio = _AUDIO_TOKENS_PER_WORD if params.output_audio else 0
    used, kept = 0, 0
    for piece in word_deltas(words):
        used += count_tokens(piece) + per_word_audio
        if used > params.max_tokens:
            break
        kept += 1
    return words[:kept], kept < len(words)


async def _stream(conn: SessionState, run: ResponseRun, pending: list[JsonObj]) -> None:
    config, params = conn.config, run.params
    batch = Batch(conn.outbox)
    batch.add(*pending)
    if await _pause(batch, run, config.latency_ms):
        await _finish(
            conn, run, batch.events, "cancelled", _CANCELLED, [], _usage(conn, run, "", 0)
        )
        return
    if run.fault == "server_error":
        error = {"type": "server_error", "code": "server_error", "message": SERVER_ERROR_MESSAGE}
        await _finish(
            conn,
            run,
            batch.events,
            "failed",
            {"type": "failed", "error": error},
            [],
            _usage(conn, run, "", 0),
        )
        return
    if run.plan.calls:
        await _stream_calls(conn, run, batch)
        return
    answer = run.plan.answer
    if answer is None:
        answer = reply_words(reply_key(_key_material(params, run.inputs)), config.reply_words)
    words, incomplete = _cut(answer, params)
    stream = _ItemStream(conn, run, batch)
    stream.begin()
    pieces = word_deltas(words)
    for index, piece in enumerate(pieces):
        stream.delta(piece)
        if await _fault_hook(conn, run, batch, index + 1):
            return
        if index + 1 < len(pieces) and await _pause(batch, run, config.token_delay_ms):
            break
    cancelled = run.cancel_requested
    status = "cancelled" if cancelled else ("incomplete" if incomplete else "completed")
    details = (
        _CANCELLED
        if cancelled
        else ({"type": "incomplete", "reason": "max_output_tokens"} if incomplete else None)
    )
    item = stream.end("incomplete" if status != "completed" else "completed")
    usage = _usage(conn, run, stream.text, stream.audio_ms)
    await _finish(conn, run, batch.events, status, details, [item], usage)


_CANCELLED: JsonObj = {"type": "cancelled", "reason": "client_cancelled"}


async def _stream_calls(conn: SessionState, run: ResponseRun, batch: Batch) -> None:
    """Stream the plan's function calls, one output item each, then ``response.done``.

    Per call: ``output_item.added`` (``arguments: ""``), the arguments in deltas,
    ``function_call_arguments.done``, ``output_item.done``; no content parts (§6.10).
    The arguments count as output text tokens, against ``max_tokens`` too.
    """
    dialect, params = conn.dialect, run.params
    output: list[JsonObj] = []
    spent, deltas, cut = 0, 0, False
    for index, call in enumerate(run.plan.calls):
        item_id, call_id = conn.ids.make("item"), conn.ids.make("call")
        conn.remember_call(call_id, call.name)
        item = dialect.new_item(
            item_id,
            type="function_call",
            status="in_progress",
            call_id=call_id,
            name=call.name,
            arguments="",
        )
        head = {"response_id": run.id, "output_index": index}
        batch.add({"type": "response.output_item.added", **head, "item": dict(item)})
        previous = None
        if run.in_band:
            previous = conn.conversation.insert(Item(dict(item)), None)
            batch.add(*dialect.output_item_added(dict(item), previous))
        base = {**head, "item_id": item_id, "call_id": call_id}
        sent = ""
        pieces = argument_pieces(call.arguments)
        for position, piece in enumerate(pieces):
            if run.cancel_requested:
                break
            cost = count_tokens(sent + piece) - count_tokens(sent)
            if params.max_tokens is not None and spent + cost > params.max_tokens:
                cut = True
                break
            spent, sent, deltas = spent + cost, sent + piece, deltas + 1
            batch.add({"type": "response.function_call_arguments.delta", **base, "delta": piece})
            if await _fault_hook(conn, run, batch, deltas):
                return
            last = position + 1 == len(pieces) and index + 1 == len(run.plan.calls)
            if not last:
                await _pause(batch, run, conn.config.token_delay_ms)
        done: JsonObj = {
            "type": "response.function_call_arguments.done",
            **base,
            "arguments": sent,
        }
        if dialect.arguments_done_names:
            done["name"] = call.name
        finished = sent == call.arguments
        final = {**item, "status": "completed" if finished else "incomplete", "arguments": sent}
        batch.add(done)
        if run.in_band:
            stored = conn.conversation.get(item_id)
            if stored is not None:
                stored.wire = final
            batch.add(*dialect.output_item_finished(final, previous))
        batch.add({"type": "response.output_item.done", **head, "item": final})
        output.append(final)
        if run.cancel_requested or cut:
            break
    if run.cancel_requested:
        status, details = "cancelled", _CANCELLED
    elif cut:
        status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
    else:
        status, details = "completed", None
    usage = _usage(conn, run, "", 0, text_tokens=spent)
    await _finish(conn, run, batch.events, status, details, output, usage)


async def _fault_hook(conn: SessionState, run: ResponseRun, batch: Batch, sent: int) -> bool:
    """Apply a mid-stream fault after ``sent`` deltas; True when the stream must stop."""
    if run.fault == "drop" and sent == fault_consts.DROP_AFTER_DELTAS:
        await batch.flush()
        await conn.outbox.abort()
        raise ConnectionClosed(None)
    if run.fault == "stall" and sent == fault_consts.STALL_AFTER_DELTAS:
        await batch.flush()
        await run.wake.wait()  # silent until the client cancels (or the link goes)
        return False
    if run.fault == "invalid_frame" and sent == fault_consts.INVALID_FRAME_AFTER_DELTAS:
        await batch.flush()
        await conn.outbox.send_raw(fault_consts.INVALID_FRAME)
    return False


class _ItemStream:
    """Builds the events of the response's one assistant message."""

    __slots__ = (
        "_obf",
        "_tone",
        "audio_ms",
        "base",
        "batch",
        "conn",
        "item",
        "previous",
        "run",
        "text",
    )

    def __init__(self, conn: SessionState, run: ResponseRun, batch: Batch) -> None:
        self.conn, self.run, self.batch = conn, run, batch
        self.text = ""
        self.audio_ms = 0
        item_id = conn.ids.make("item")
        self.item: JsonObj = conn.dialect.new_item(
            item_id, type="message", status="in_progress", role="assistant", content=[]
        )
        self.base: JsonObj = {
            "response_id": run.id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        self.previous: str | None = None
        self._obf = obfuscation_pool() if conn.dialect.obfuscates else ()
        self._tone = tone_b64(run.params.output_format) if run.params.output_audio else ""

    def _part(self) -> JsonObj:
        if self.run.params.output_audio:
            return {"type": "audio", "transcript": self.text}
        return {"type": "text", "text": self.text}

    def begin(self) -> None:
        conn, run = self.conn, self.run
        events: list[JsonObj] = [
            {
                "type": "response.output_item.added",
                "response_id": run.id,
                "output_index": 0,
                "item": dict(self.item),
            }
        ]
        if run.in_band:
            self.previous = conn.conversation.insert(Item(self.item), None)
            events += conn.dialect.output_item_added(dict(self.item), self.previous)
        events.append({"type": "response.content_part.added", **self.base, "part": self._part()})
        self.batch.add(*events)

    def delta(self, piece: str) -> None:
        dialect, base = self.conn.dialect, self.base
        self.text += piece
        if self.run.params.output_audio:
            self.audio_ms += WORD_AUDIO_MS
            self.batch.add({"type": dialect.audio_delta, **base, "delta": self._tone})
            kind = dialect.transcript_delta
        else:
            kind = dialect.text_delta
        event = {"type": kind, **base, "delta": piece}
        if self._obf:
            event["obfuscation"] = self._obf[len(self.text) % len(self._obf)]
        self.batch.add(event)

    def end(self, status: str) -> JsonObj:
        conn, run, dialect, base = self.conn, self.run, self.conn.dialect, self.base
        audio = run.params.output_audio
        if audio:
            self.batch.add(
                {"type": dialect.audio_done, **base},
                {"type": dialect.transcript_done, **base, "transcript": self.text},
            )
        else:
            self.batch.add({"type": dialect.text_done, **base, "text": self.text})
        self.batch.add({"type": "response.content_part.done", **base, "part": self._part()})
        item = {
            **self.item,
            "status": status,
            "content": [dialect.assistant_part(audio, self.text)],
        }
        if run.in_band:
            stored = conn.conversation.get(item["id"])
            if stored is not None:
                stored.wire, stored.out_audio_ms = item, self.audio_ms
            self.batch.add(*dialect.output_item_finished(item, self.previous))
        self.batch.add(
            {
                "type": "response.output_item.done",
                "response_id": run.id,
                "output_index": 0,
                "item": item,
            }
        )
        return item


def _usage(
    conn: SessionState, run: ResponseRun, text: str, audio_ms: int, *, text_tokens: int = 0
) -> JsonObj:
    cost = run.cost
    return conn.dialect.usage_object(
        cost.text,
        cost.audio,
        cost.cached_text,
        cost.cached_audio,
        count_tokens(text) + text_tokens,
        audio_tokens_out(audio_ms),
    )


def _response_event(
    conn: SessionState,
    run: ResponseRun,
    kind: str,
    status: str,
    details: JsonObj | None,
    output: list[JsonObj],
    usage: JsonObj | None,
) -> JsonObj:
    conversation_id = None if run.params.out_of_band else conn.conversation.id
    response = conn.dialect.response_object(
        run.id,
        run.params,
        conversation_id,
        status=status,
        status_details=details,
        output=output,
        usage=usage,
    )
    return {"type": kind, "response": response}


async def _finish(
    conn: SessionState,
    run: ResponseRun,
    pending: list[JsonObj],
    status: str,
    details: JsonObj | None,
    output: list[JsonObj],
    usage: JsonObj | None,
) -> None:
    """Send ``response.done`` (after ``pending``) and ``rate_limits.updated``; settle."""
    if usage is None:
        usage = conn.dialect.usage_object(0, 0, 0, 0, 0, 0)
    done = _response_event(conn, run, "response.done", status, details, output, usage)
    limits = conn.emulator.limits
    if run.reserved:
        limits.settle(run.reserved, int(usage["total_tokens"]))
    requests, tokens = limits.snapshot()
    rate = {
        "type": "rate_limits.updated",
        "rate_limits": conn.dialect.rate_limits(requests, tokens),
    }
    run.finished = True
    if conn.active is run:
        conn.active = None
    if conn.recording:
        conn.record.responses.append(done["response"])
    await conn.outbox.send([*pending, done, rate])
