"""The model catalogue's rows: every fact rtbatch knows about a model, each with its source.

The data only; :mod:`rtbatch.models` looks it up (aliases, snapshots, kinds) and
prices a usage against it, and is where the rest of rtbatch reads it from.

One row per model id the Realtime API names (the ``model`` enums of the ``openai`` SDK
3.57.0). A row says what kind of session the model runs in, which dialects can reach it,
its limits, the optional parameters it accepts, its prices and its lifecycle.

Sources, abbreviated in each row's ``source``:

* ``SDK`` — the ``openai`` Python SDK 3.57.0: model enums and the docstrings that announce
  shutdown dates (``realtime_session_create_request.py``, ``audio_transcription.py``).
* ``DOC`` — OpenAI's model pages and guides as compiled in ``realtime-protocol.md``
  (2026-11-30), section 0 and section 10.
* ``3P`` — third-party reports quoted there; ``inferred`` marks a value we chose for lack
  of a source (for example a snapshot taking its alias's limits).

Prices are USD per million tokens (or per minute for models billed by duration), as of
:data:`PRICES_AS_OF`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

ModelKind = Literal["realtime", "transcription"]
DialectName = Literal["ga", "beta"]
Lifecycle = Literal["current", "deprecated", "shut_down"]
#: Optional parameters some models accept and others refuse.
Param = Literal["reasoning", "parallel_tool_calls", "prompt", "languages", "logprobs"]

#: The date the prices below were read (realtime-protocol.md, section 0).
PRICES_AS_OF = "2026-11-30"
#: Assistant audio is billed at 1 token per 50 ms, user audio at 1 per 100 ms [DOC].
USER_AUDIO_TOKENS_PER_S = 10
ASSISTANT_AUDIO_TOKENS_PER_S = 20
#: Special tokens per message: the service shows e.g. 12 tokens for 10 of content
#: (realtime-protocol.md, section 9). The estimate counts them; the emulator bills them.
MESSAGE_OVERHEAD_TOKENS = 2


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """USD per million tokens; ``cached`` is the price of cached input."""

    text_in: float
    text_cached: float
    text_out: float
    audio_in: float
    audio_cached: float
    audio_out: float
    image_in: float = 0.0
    image_cached: float = 0.0


@dataclass(frozen=True, slots=True)
class MinutePrice:
    """USD per minute of input audio, for models billed by duration."""

    usd_per_minute: float


Prices = TokenPrices | MinutePrice


@dataclass(frozen=True, slots=True)
class Model:
    """One model id and everything known about it.

    ``snapshot`` is the dated id an alias resolves to (the alias itself for a snapshot).
    ``shutdown`` is the announced shutdown date; ``shut_down`` marks a model already shut
    down whose date we do not know. ``max_item_s`` and ``transcript_tokens`` are the
    per-item limits of transcription models (None where no limit is known).
    """

    id: str
    kind: ModelKind
    dialects: frozenset[DialectName]
    source: str
    snapshot: str | None = None
    context_tokens: int | None = None
    max_output_tokens: int | None = None
    params: frozenset[Param] = frozenset()
    prices: Prices | None = None
    shutdown: dt.date | None = None
    shut_down: bool = False
    replacement: str | None = None
    #: Where the replacement is named (the deprecations page, or who cites it).
    replacement_source: str | None = None
    max_item_s: float | None = None
    transcript_tokens: int | None = None
    #: Takes turn detection (server or semantic VAD); False: it must be null.
    vad: bool = True
    notes: str = ""

    def lifecycle(self, today: dt.date) -> Lifecycle:
        """``current``, ``deprecated`` (a shutdown is announced) or ``shut_down``."""
        if self.shut_down or (self.shutdown is not None and self.shutdown <= today):
            return "shut_down"
        return "deprecated" if self.shutdown is not None else "current"

    def accepts(self, param: Param) -> bool:
        """Whether the model takes an optional parameter (``reasoning``, ``prompt``, …)."""
        return param in self.params


_GA = frozenset({"ga"})
_BOTH = frozenset({"ga", "beta"})
_REASONING = frozenset({"reasoning", "parallel_tool_calls"})
_SHUTDOWN_REALTIME = dt.date(2027, 1, 20)
_SHUTDOWN_TRANSCRIBE = dt.date(2027, 2, 26)
#: Saved prompts (``prompt: {"id": "pmpt_…"}``) are shut down from this day on
#: (SDK 3.63.0 docstrings; protocol notes 0a).
SAVED_PROMPTS_SHUTDOWN = dt.date(2026, 11, 30)
#: The ``noise_reduction`` types a session takes (SDK 3.63.0: required when it is an object).
NOISE_REDUCTION_TYPES = ("near_field", "far_field")
#: The replacements OpenAI's deprecations page gives, as three independent sources cite
#: it (protocol notes 0a): the page itself is out of reach from here.
_DEPRECATIONS = (
    "3P citing DOC deprecations: TEN-framework PR 2302 (2026-08-31), sokuji PR 349 "
    "(2026-07-21), Retell's deprecation notice"
)
_TO_21 = dict(replacement="gpt-realtime-2.1", replacement_source=_DEPRECATIONS)
_TO_21_MINI = dict(replacement="gpt-realtime-2.1-mini", replacement_source=_DEPRECATIONS)
_TO_TRANSCRIBE = dict(replacement="gpt-transcribe", replacement_source=_DEPRECATIONS)

_FLAGSHIP = TokenPrices(4.00, 0.40, 16.00, 32.00, 0.40, 64.00)
_FLAGSHIP_15 = TokenPrices(4.00, 0.40, 16.00, 32.00, 0.40, 64.00, 5.00, 0.50)
_REASONING_PRICES = TokenPrices(4.00, 0.40, 24.00, 32.00, 0.40, 64.00)
_MINI = TokenPrices(0.60, 0.06, 2.40, 10.00, 0.30, 20.00)
_PREVIEW = TokenPrices(5.00, 2.50, 20.00, 40.00, 2.50, 80.00)
_PREVIEW_2024_10 = TokenPrices(5.00, 2.50, 20.00, 100.00, 20.00, 200.00)
_MINI_PREVIEW = TokenPrices(0.60, 0.30, 2.40, 10.00, 0.30, 20.00)
# gpt-4o-transcribe family: historical split (audio in 6.00 / 3.00), text in, text out.
_TRANSCRIBE = TokenPrices(2.50, 2.50, 10.00, 6.00, 6.00, 0.0)
_MINI_TRANSCRIBE = TokenPrices(1.25, 1.25, 5.00, 3.00, 3.00, 0.0)


def _realtime(id: str, source: str, **kw: Any) -> Model:
    kw.setdefault("dialects", _GA)
    return Model(id=id, kind="realtime", source=source, **kw)


def _transcription(id: str, source: str, **kw: Any) -> Model:
    kw.setdefault("dialects", _BOTH)
    return Model(id=id, kind="transcription", source=source, **kw)


_GPT_REALTIME = dict(
    context_tokens=32_000,
    max_output_tokens=4096,
    prices=_FLAGSHIP,
    shutdown=_SHUTDOWN_REALTIME,
    dialects=_BOTH,
    **_TO_21,
)
_GPT_REALTIME_MINI = dict(
    context_tokens=32_000,
    max_output_tokens=4096,
    prices=_MINI,
    **_TO_21_MINI,
)
_REASONING_LIMITS = dict(context_tokens=128_000, max_output_tokens=32_000, params=_REASONING)
_PREVIEW_ROW = dict(context_tokens=128_000, max_output_tokens=4096, shut_down=True, dialects=_BOTH)
_GPT_4O_TRANSCRIBE = dict(
    context_tokens=16_000,
    transcript_tokens=2000,
    max_item_s=1400.0,
    shutdown=_SHUTDOWN_TRANSCRIBE,
    **_TO_TRANSCRIBE,
)

#: Every model, in the order of the SDK's enums.
CATALOGUE: tuple[Model, ...] = (
    _realtime(
        "gpt-realtime",
        "SDK 3.57.0 (shutdown); DOC (32k/4,096, prices)",
        snapshot="gpt-realtime-2025-08-28",
        **_GPT_REALTIME,
    ),
    _realtime("gpt-realtime-2025-08-28", "SDK 3.57.0; DOC", **_GPT_REALTIME),
    _realtime(
        "gpt-realtime-1.5",
        "SDK 3.57.0 enum; DOC prices; limits inferred from gpt-realtime",
        context_tokens=32_000,
        max_output_tokens=4096,
        prices=_FLAGSHIP_15,
    ),
    _realtime(
        "gpt-realtime-2",
        "SDK 3.57.0 enum; DOC model page (128k/32k, reasoning, prices)",
        prices=_REASONING_PRICES,
        **_REASONING_LIMITS,
    ),
    _realtime(
        "gpt-realtime-2.1",
        "SDK 3.57.0 enum; DOC (128k/32k); prices as gpt-realtime-2",
        prices=_REASONING_PRICES,
        **_REASONING_LIMITS,
    ),
    _realtime(
        "gpt-realtime-2.1-mini",
        "SDK 3.57.0 enum; DOC model page (128k/32k, prices)",
        prices=_MINI,
        **_REASONING_LIMITS,
    ),
    _realtime(
        "gpt-realtime-mini",
        "SDK 3.57.0 (shutdown); DOC prices; limits inferred",
        snapshot="gpt-realtime-mini-2025-12-15",
        shutdown=_SHUTDOWN_REALTIME,
        **_GPT_REALTIME_MINI,
    ),
    _realtime(
        "gpt-realtime-mini-2025-10-06",
        "SDK 3.57.0 enum (no shutdown announced); as gpt-realtime-mini, inferred",
        **_GPT_REALTIME_MINI,
    ),
    _realtime(
        "gpt-realtime-mini-2025-12-15",
        "SDK 3.57.0 (shutdown); as gpt-realtime-mini",
        shutdown=_SHUTDOWN_REALTIME,
        **_GPT_REALTIME_MINI,
    ),
    _realtime(
        "gpt-audio-1.5",
        "SDK 3.57.0 enum; limits and prices unknown",
    ),
    _realtime(
        "gpt-audio-mini",
        "SDK 3.57.0 (shutdown); limits and prices unknown",
        snapshot="gpt-audio-mini-2025-12-15",
        shutdown=_SHUTDOWN_REALTIME,
        **_TO_21_MINI,
    ),
    _realtime(
        "gpt-audio-mini-2025-10-06",
        "SDK 3.57.0 enum; limits and prices unknown",
    ),
    _realtime(
        "gpt-audio-mini-2025-12-15",
        "SDK 3.57.0 (shutdown); limits and prices unknown",
        shutdown=_SHUTDOWN_REALTIME,
        **_TO_21_MINI,
    ),
    _realtime(
        "gpt-4o-realtime-preview",
        "DOC model page: shut down; prices of Dec 2024",
        snapshot="gpt-4o-realtime-preview-2025-06-03",
        prices=_PREVIEW,
        **_TO_21,
        **_PREVIEW_ROW,
    ),
    _realtime(
        "gpt-4o-realtime-preview-2024-10-01",
        "DOC: shut down; Oct 2024 launch prices (3P)",
        prices=_PREVIEW_2024_10,
        **_TO_21,
        **_PREVIEW_ROW,
    ),
    _realtime(
        "gpt-4o-realtime-preview-2024-12-17",
        "DOC: shut down; prices of Dec 2024",
        prices=_PREVIEW,
        **_TO_21,
        **_PREVIEW_ROW,
    ),
    _realtime(
        "gpt-4o-realtime-preview-2025-06-03",
        "DOC: shut down",
        prices=_PREVIEW,
        **_TO_21,
        **_PREVIEW_ROW,
    ),
    _realtime(
        "gpt-4o-mini-realtime-preview",
        "DOC: shut down",
        snapshot="gpt-4o-mini-realtime-preview-2024-12-17",
        prices=_MINI_PREVIEW,
        **_TO_21_MINI,
        **_PREVIEW_ROW,
    ),
    _realtime(
        "gpt-4o-mini-realtime-preview-2024-12-17",
        "DOC: shut down",
        prices=_MINI_PREVIEW,
        **_TO_21_MINI,
        **_PREVIEW_ROW,
    ),
    _transcription(
        "whisper-1",
        "SDK 3.57.0 (shutdown); DOC $0.006/min",
        params=frozenset({"prompt"}),
        prices=MinutePrice(0.006),
        shutdown=_SHUTDOWN_TRANSCRIBE,
        **_TO_TRANSCRIBE,
    ),
    _transcription(
        "gpt-transcribe",
        "SDK 3.57.0 enum; 3P field notes $0.0045/min (2026-09-16); limits unknown",
        dialects=_GA,
        params=frozenset({"prompt", "languages"}),
        prices=MinutePrice(0.0045),
    ),
    _transcription(
        "gpt-live-transcribe",
        "SDK 3.57.0 enum; DOC ~$0.017/min (UNCONFIRMED); limits unknown",
        dialects=_GA,
        params=frozenset({"prompt", "languages"}),
        prices=MinutePrice(0.017),
    ),
    _transcription(
        "gpt-4o-mini-transcribe",
        "SDK 3.57.0 (shutdown); DOC prices (split UNCONFIRMED); 3P caps, inferred for mini",
        snapshot="gpt-4o-mini-transcribe-2025-12-15",
        params=frozenset({"prompt", "logprobs"}),
        prices=_MINI_TRANSCRIBE,
        **_GPT_4O_TRANSCRIBE,
    ),
    _transcription(
        "gpt-4o-mini-transcribe-2025-12-15",
        "SDK 3.57.0 (shutdown); as gpt-4o-mini-transcribe",
        dialects=_GA,
        params=frozenset({"prompt", "logprobs"}),
        prices=_MINI_TRANSCRIBE,
        **_GPT_4O_TRANSCRIBE,
    ),
    _transcription(
        "gpt-4o-transcribe",
        "SDK 3.57.0 (shutdown); DOC prices; 3P: refuses > 1,400 s, 2,000 output tokens",
        params=frozenset({"prompt", "logprobs"}),
        prices=_TRANSCRIBE,
        **_GPT_4O_TRANSCRIBE,
    ),
    _transcription(
        "gpt-4o-transcribe-diarize",
        "SDK 3.57.0 (shutdown; no prompt); 3P: refuses > 1,400 s",
        dialects=_GA,
        prices=_TRANSCRIBE,
        **_GPT_4O_TRANSCRIBE,
    ),
    _transcription(
        "gpt-realtime-whisper",
        "SDK 3.57.0 (no prompt; turn detection null); DOC $0.017/min",
        dialects=_GA,
        prices=MinutePrice(0.017),
        vad=False,
    ),
)
