"""Default settings, as plain constants (units in their names).

Kept apart from :mod:`rtbatch.config` so that the command line can show them in
``--help`` without building any configuration classes at start-up.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: Input audio as the service takes it: 24 kHz PCM16, or 8 kHz G.711 μ-law / A-law.
AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
AUDIO_FORMATS: Final[tuple[AudioFormat, ...]] = get_args(AudioFormat)

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
# Neither has an announced shutdown (models.py): gpt-realtime-1.5 is gpt-realtime's
# like-for-like successor (same prices, no reasoning latency); gpt-live-transcribe is
# what OpenAI's realtime-transcription guide recommends.
DEFAULT_MODEL = "gpt-realtime-1.5"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-live-transcribe"
# Both are GA only. A server that still speaks the beta dialect (Azure's preview, some
# gateways; the emulator with --accept-beta) serves the beta-era models: gpt-realtime,
# the one realtime model of both dialects not shut down on OpenAI's service, and
# whisper-1, the transcription model every beta session example names (the emulator's
# beta dialect transcribes with it when a session names none). --beta uses these.
DEFAULT_BETA_MODEL = "gpt-realtime"
DEFAULT_BETA_TRANSCRIPTION_MODEL = "whisper-1"
DEFAULT_AUDIO_FORMAT: Final[AudioFormat] = "pcm16"
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 10_000

CONNECT_TIMEOUT_S = 30.0
# Where nothing accepts a connection at a run's start, the run tries again for this
# long (a service restarting), pausing 0.5 s, then twice as long each time, then stops.
UNREACHABLE_PATIENCE_S = 30.0
UNREACHABLE_FIRST_PAUSE_S = 0.5
# A run looks the service's name up once and reuses the answer this long
# (rtbatch/resolver.py), not once per connection. A CDN's records live minutes; a
# minute keeps a day-long run following DNS while -c 500 costs one lookup.
DNS_CACHE_S = 60.0
SESSION_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 300.0
# A job's server goes silent for no longer than this between two events before the
# attempt is given up as stalled (retryable), long before JOB_TIMEOUT_S. The service
# streams a response's events with sub-second gaps; ten seconds leaves room for a
# reasoning model's pause before its first output. A transcript is waited for this
# long plus TRANSCRIPT_IDLE_PER_AUDIO_S per second of audio it covers.
IDLE_TIMEOUT_S = 10.0
TRANSCRIPT_IDLE_PER_AUDIO_S = 0.1
# Unless --idle-timeout is given, the deadline follows the run's own answers once
# IDLE_LEARN_AFTER attempts succeeded: IDLE_SILENCE_FACTOR times the longest silence
# any of the last IDLE_LEARN_WINDOW successful attempts kept, never below
# IDLE_FLOOR_S nor above IDLE_TIMEOUT_S. A stall then costs two answers' time, not
# ten seconds. The longest of 200 silences is about their 99.5th percentile; twice
# it is passed by one answer in ~20,000 for log-normal silences of sigma 0.5, and one
# in ~2,000 for sigma 1 (a wide spread): that answer is retried as a stalled one.
# The floor is for the client's own event loop, not the service (whose answers keep
# silences of tenths of seconds and more): at -c 1000 on one saturated core, 0.2-s
# answers, a 0.25 s floor took 145 of 5,000 answers for stalls, 0.5 s none.
# A wait before an answer streams and a silence within its stream are learned apart;
# a deadline the answers outgrew is backed off per job (rtbatch/silences.py).
IDLE_FLOOR_S = 0.5
IDLE_SILENCE_FACTOR = 2.0
IDLE_LEARN_AFTER = 5
IDLE_LEARN_WINDOW = 200
CLOSE_TIMEOUT_S = 5.0
# The service pings idle sockets about every 20 s; we probe a silent socket at the
# same pace so that a dead peer is noticed long before a job's own deadline.
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 10.0

MAX_ATTEMPTS = 5
# Tool rounds a job may make (each: its calls answered, then a new response) before it
# ends incomplete. A scenario of a few lookups takes two or three; the bound stops a
# model that keeps calling, and each round is a billed response.
MAX_TOOL_ROUNDS = 8
MOST_TOOL_ROUNDS = 100
# More attempts than this cannot fit in RETRY_TOTAL_S at any useful backoff.
MOST_ATTEMPTS = 100
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
BACKOFF_BASE = 2.0
RETRY_TOTAL_S = 900.0
# Retry budgets (rtbatch/run/health.py): while at most this share of the run's last
# RECENT_TRIES requests failed (answers and failed tries, rtbatch/run/health.py), a
# failure is retried within a typical try's time. A third
# leaves room above the 20 % of the fault tests and below a service in real trouble,
# where every other try fails.
ISOLATED_FAILURE_SHARE = 1 / 3
RECENT_TRIES = 100
RECENT_TRIES_MIN = 10
# More than this share of the same window ended stalled: the answers outgrew the idle
# deadline the run learned, and a stalled job's next try waits twice as long
# (rtbatch/silences.py). Answers that slowed down past it stall every request;
# random stalls stall their share of requests (each answer counts, not each try).
STALLED_STREAK_SHARE = 1 / 2
# Refused requests (rate or capacity limits) never ran, so they are not attempts; this
# caps them per job so that a service refusing forever cannot hold a job forever.
MAX_REFUSALS = 100
# A limit that resets later than this is not waited for: the run stops with the
# try-later exit code, and cron reruns it (a daily limit, a long "try again in").
MAX_WAIT_S = 300.0

SIGNAL_GRACE_S = 30.0

# The service accepts client events up to 15 MiB; base64 and JSON framing add a
# third, so both directions allow 24 MiB (trio-websocket, the emulator's, defaults to 1 MiB).
MAX_MESSAGE_BYTES = 24 * 1024 * 1024
# One read takes up to this much: every whole frame in it is parsed at once.
RECEIVE_BUFFER_BYTES = 64 * 1024

# Audio is appended in 2 s chunks (96 KB of PCM16, 128 KB as base64): batch work
# has no live listener to keep up with, the service takes events up to 15 MiB,
# and each event costs a thread hand-off, a frame and a send whatever its size.
AUDIO_CHUNK_MS = 2000

# Long audio is cut at silences into segments no longer than this, each its own
# item: the transcribe models stop at 2,000 output tokens (about ten minutes of
# dense speech) and gpt-4o-transcribe refuses items over ~1,400 s, so five minutes
# keeps every segment well inside both. A cut falls in the last fifth of a segment
# where a silence is found there.
MAX_SEGMENT_MS = 300_000
# Below this a segment's search window (a fifth of it) cannot hold a committable piece.
MIN_SEGMENT_MS = 1_000

# A transcribe job's reference text (its "reference" field, or the file it names) is
# read whole when the job is read; a transcript of hours of speech is well under this.
MAX_REFERENCE_BYTES = 4 * 1024 * 1024

# rtbatch compare: a --max-latency-increase gate that names no figure holds the stage's
# p95 (the tail a user feels, yet not a single outlier); the text lists at most
# COMPARE_LISTED changed ids per kind (--json lists all).
COMPARE_LATENCY_FIGURE = "p95"
COMPARE_LISTED = 50

# rtbatch report: how many jobs each list of the page shows (the rest are counted),
# so the page and the memory behind it stay the same size for any result file; and
# how much of one transcript or error it quotes.
REPORT_LISTED = 100
REPORT_TEXT_CHARS = 2000
# A histogram has at most this many bars, each a round number of ms wide.
REPORT_HISTOGRAM_BARS = 30
