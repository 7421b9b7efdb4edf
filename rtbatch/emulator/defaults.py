"""The emulator's defaults and fault kinds, as plain constants.

Kept apart from :mod:`rtbatch.emulator.config` so that ``rtbatch serve --help``
shows them without building configuration classes at start-up.
"""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"
DEFAULT_CLI_PORT = 8000
DEFAULT_REPLY_WORDS = 12
#: The GA service ends a session after 60 minutes (protocol notes §2.5).
DEFAULT_SESSION_MAX_S = 3600.0
# Generous on purpose: benchmarks drive ~2,000 responses/s through one emulator and must
# not be throttled unless they ask for it with --rpm/--tpm.
DEFAULT_RPM = 1_000_000
DEFAULT_TPM = 1_000_000_000

HANDSHAKE_FAULTS = frozenset({"handshake_429", "handshake_500", "handshake_503"})
RESPONSE_FAULTS = frozenset(
    {
        "drop",
        "server_error",
        "rate_limit",
        "stall",
        "invalid_frame",
        "inference_rate_limit",
        "rpd",
        "account_fatal",
    }
)
FAULT_KINDS = HANDSHAKE_FAULTS | RESPONSE_FAULTS
#: Codes that end every generation of an account and close the session (protocol notes §0).
ACCOUNT_FATAL_CODES = ("account_deactivated", "billing_hard_limit_reached", "insufficient_quota")
#: The account-fatal code the ``account_fatal`` fault uses unless told otherwise.
DEFAULT_ACCOUNT_FATAL_CODE = "insufficient_quota"

#: Largest client frame accepted: the 15 MiB append limit, base64-inflated (4/3), plus slack.
MAX_MESSAGE_BYTES = 24 * 1024 * 1024
#: Messages the reader may queue before it stops reading the socket (back-pressure).
MESSAGE_QUEUE_SIZE = 4
#: Deadline for the WebSocket opening and closing handshakes.
HANDSHAKE_TIMEOUT_S = 10.0
#: Deadline for our own close handshake, so a silent peer cannot hold a handler.
CLOSE_TIMEOUT_S = 2.0
